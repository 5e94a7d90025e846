-- Proxy rules (Appwrite's `rules` collection): a domain that serves a function. Every rule here is a
-- function rule (type `deployment`, deploymentResourceType `function`), so it goes with its function.
-- The id is the MD5 of the domain, as in Appwrite.
CREATE TABLE rules (
    id                             TEXT        GENERATED ALWAYS AS (md5(domain)) STORED,
    project_id                     TEXT        NOT NULL,
    seq                            BIGSERIAL   NOT NULL,
    created_at                     TIMESTAMPTZ NOT NULL,
    updated_at                     TIMESTAMPTZ NOT NULL,
    domain                         TEXT        NOT NULL,
    type                           TEXT        NOT NULL DEFAULT 'deployment',
    trigger                        TEXT        NOT NULL DEFAULT 'manual',
    deployment_resource_type       TEXT        NOT NULL DEFAULT 'function',
    deployment_resource_id         TEXT        NOT NULL,
    deployment_vcs_provider_branch TEXT        NOT NULL DEFAULT '',
    status                         TEXT        NOT NULL DEFAULT 'verified',
    PRIMARY KEY (domain),
    FOREIGN KEY (project_id, deployment_resource_id) REFERENCES functions (project_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX rules_id ON rules (id);
CREATE INDEX rules_resource ON rules (project_id, deployment_resource_id);
