-- Chunked uploads (spec 2.2.1) and VCS/template deployments.
-- A deployment knows how many chunks its upload has; `chunks_uploaded = chunks_total` once the
-- source is assembled and the build queued. Received chunks are rows here, so several gateway
-- replicas can take chunks of one upload concurrently (the primary key makes a re-sent chunk a
-- no-op, and the count is taken in the database).
ALTER TABLE deployments
    ADD COLUMN chunks_total    INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN chunks_uploaded INTEGER NOT NULL DEFAULT 1,
    -- providerRepositoryName/Owner/Url, providerCommitHash/Author/AuthorUrl/Message/Url,
    -- providerBranch/BranchUrl of a vcs deployment (camelCase keys, strings).
    ADD COLUMN vcs             JSONB   NOT NULL DEFAULT '{}';

CREATE TABLE deployment_chunks (
    project_id    TEXT        NOT NULL,
    deployment_id TEXT        NOT NULL,
    chunk_index   INTEGER     NOT NULL,
    path          TEXT        NOT NULL,
    size          BIGINT      NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, deployment_id, chunk_index),
    FOREIGN KEY (project_id, deployment_id) REFERENCES deployments (project_id, id) ON DELETE CASCADE
);
