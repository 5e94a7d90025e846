-- Functions, deployments, executions and the outbox. Every table carries project_id so that several
-- projects can share the database later; ids are unique per project.

CREATE TABLE functions (
    project_id                   TEXT        NOT NULL,
    id                           TEXT        NOT NULL,
    seq                          BIGSERIAL   NOT NULL,
    created_at                   TIMESTAMPTZ NOT NULL,
    updated_at                   TIMESTAMPTZ NOT NULL,
    name                         TEXT        NOT NULL,
    execute                      TEXT[]      NOT NULL DEFAULT '{}',
    enabled                      BOOLEAN     NOT NULL DEFAULT TRUE,
    live                         BOOLEAN     NOT NULL DEFAULT TRUE,
    logging                      BOOLEAN     NOT NULL DEFAULT TRUE,
    runtime                      TEXT        NOT NULL,
    deployment_retention         INTEGER     NOT NULL DEFAULT 0,
    deployment_id                TEXT        NOT NULL DEFAULT '',
    deployment_created_at        TIMESTAMPTZ,
    latest_deployment_id         TEXT        NOT NULL DEFAULT '',
    latest_deployment_created_at TIMESTAMPTZ,
    latest_deployment_status     TEXT        NOT NULL DEFAULT '',
    scopes                       TEXT[]      NOT NULL DEFAULT '{}',
    events                       TEXT[]      NOT NULL DEFAULT '{}',
    schedule                     TEXT        NOT NULL DEFAULT '',
    timeout                      INTEGER     NOT NULL DEFAULT 15,
    entrypoint                   TEXT        NOT NULL DEFAULT '',
    commands                     TEXT        NOT NULL DEFAULT '',
    version                      TEXT        NOT NULL DEFAULT 'v5',
    installation_id              TEXT        NOT NULL DEFAULT '',
    provider_repository_id       TEXT        NOT NULL DEFAULT '',
    provider_branch              TEXT        NOT NULL DEFAULT '',
    provider_root_directory      TEXT        NOT NULL DEFAULT '',
    provider_silent_mode         BOOLEAN     NOT NULL DEFAULT FALSE,
    provider_branches            TEXT[]      NOT NULL DEFAULT '{}',
    provider_paths               TEXT[]      NOT NULL DEFAULT '{}',
    build_specification          TEXT        NOT NULL,
    runtime_specification        TEXT        NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE deployments (
    project_id       TEXT        NOT NULL,
    id               TEXT        NOT NULL,
    seq              BIGSERIAL   NOT NULL,
    function_id      TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    type             TEXT        NOT NULL,
    entrypoint       TEXT        NOT NULL,
    commands         TEXT        NOT NULL,
    source_path      TEXT        NOT NULL,
    source_size      BIGINT      NOT NULL,
    build_path       TEXT        NOT NULL DEFAULT '',
    build_size       BIGINT      NOT NULL DEFAULT 0,
    build_duration   INTEGER     NOT NULL DEFAULT 0,
    build_logs       TEXT        NOT NULL DEFAULT '',
    build_started_at TIMESTAMPTZ,
    activate         BOOLEAN     NOT NULL,
    status           TEXT        NOT NULL,
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, function_id) REFERENCES functions (project_id, id) ON DELETE CASCADE
);
CREATE INDEX deployments_function ON deployments (project_id, function_id, seq);
CREATE INDEX deployments_unfinished ON deployments (status, created_at)
    WHERE status IN ('waiting', 'processing', 'building');

CREATE TABLE executions (
    project_id           TEXT             NOT NULL,
    id                   TEXT             NOT NULL,
    seq                  BIGSERIAL        NOT NULL,
    function_id          TEXT             NOT NULL,
    deployment_id        TEXT             NOT NULL,
    created_at           TIMESTAMPTZ      NOT NULL,
    updated_at           TIMESTAMPTZ      NOT NULL,
    trigger              TEXT             NOT NULL,
    status               TEXT             NOT NULL,
    request_method       TEXT             NOT NULL,
    request_path         TEXT             NOT NULL,
    request_headers      JSONB            NOT NULL DEFAULT '[]',
    response_status_code INTEGER          NOT NULL DEFAULT 0,
    response_headers     JSONB            NOT NULL DEFAULT '[]',
    logs                 TEXT             NOT NULL DEFAULT '',
    errors               TEXT             NOT NULL DEFAULT '',
    duration             DOUBLE PRECISION NOT NULL DEFAULT 0,
    scheduled_at         TIMESTAMPTZ,
    timeout_seconds      INTEGER          NOT NULL,
    PRIMARY KEY (project_id, id),
    FOREIGN KEY (project_id, function_id) REFERENCES functions (project_id, id) ON DELETE CASCADE
);
CREATE INDEX executions_function ON executions (project_id, function_id, seq);
CREATE INDEX executions_unfinished ON executions (status, created_at)
    WHERE status IN ('waiting', 'processing');

-- Jobs written in the same transaction as the state change they belong to; the relay publishes
-- them with confirms and deletes them afterwards.
CREATE TABLE outbox (
    id              BIGSERIAL   PRIMARY KEY,
    queue           TEXT        NOT NULL,
    payload         BYTEA       NOT NULL,
    correlation_id  TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id);
