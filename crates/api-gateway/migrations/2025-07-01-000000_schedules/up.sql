-- Exactly-once CRON firing: one row per (function, slot). Every scheduler replica fires every slot;
-- the first fire inserts the row (and the execution), later ones hit the primary key and do nothing.
-- status: fired (an execution was queued) | skipped (the slot was missed beyond the catch-up window).
CREATE TABLE schedule_slots (
    project_id   TEXT        NOT NULL,
    function_id  TEXT        NOT NULL,
    slot         TIMESTAMPTZ NOT NULL,
    status       TEXT        NOT NULL,
    execution_id TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, function_id, slot),
    FOREIGN KEY (project_id, function_id) REFERENCES functions (project_id, id) ON DELETE CASCADE
);

-- The request of a one-off `scheduledAt` execution (method, path, headers, body), kept until it fires.
CREATE TABLE scheduled_requests (
    project_id   TEXT  NOT NULL,
    execution_id TEXT  NOT NULL,
    function_id  TEXT  NOT NULL,
    method       TEXT  NOT NULL,
    path         TEXT  NOT NULL,
    headers      JSONB NOT NULL,
    body         TEXT  NOT NULL,
    PRIMARY KEY (project_id, execution_id),
    FOREIGN KEY (project_id, execution_id) REFERENCES executions (project_id, id) ON DELETE CASCADE
);
CREATE INDEX executions_scheduled ON executions (scheduled_at) WHERE status = 'scheduled';
