-- Exactly-once event triggers: one row per (function, event message). A redelivered event hits the
-- primary key and starts nothing.
CREATE TABLE event_fires (
    project_id   TEXT        NOT NULL,
    function_id  TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    event        TEXT        NOT NULL,
    execution_id TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, function_id, event_id),
    FOREIGN KEY (project_id, function_id) REFERENCES functions (project_id, id) ON DELETE CASCADE
);
