-- Variables (function- and project-scoped), projects and API keys with scopes.

CREATE TABLE variables (
    project_id    TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    seq           BIGSERIAL   NOT NULL,
    -- 'function' (resource_id = function id) or 'project' (resource_id = '').
    resource_type TEXT        NOT NULL,
    resource_id   TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    key           TEXT        NOT NULL,
    value         TEXT        NOT NULL,
    secret        BOOLEAN     NOT NULL DEFAULT TRUE,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, resource_type, resource_id, key)
);

-- A function's variables go with it (project variables have no function row to reference).
CREATE FUNCTION variables_drop_function_vars() RETURNS trigger AS $$
BEGIN
    DELETE FROM variables
     WHERE project_id = OLD.project_id AND resource_type = 'function' AND resource_id = OLD.id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER functions_drop_vars AFTER DELETE ON functions
    FOR EACH ROW EXECUTE FUNCTION variables_drop_function_vars();

CREATE TABLE projects (
    id         TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key secret is stored.
CREATE TABLE api_keys (
    id          TEXT        PRIMARY KEY,
    project_id  TEXT        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT        NOT NULL,
    secret_hash TEXT        NOT NULL UNIQUE,
    scopes      TEXT[]      NOT NULL DEFAULT '{}',
    expire      TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_project ON api_keys (project_id);
