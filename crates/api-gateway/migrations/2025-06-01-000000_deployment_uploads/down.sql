DROP TABLE deployment_chunks;
ALTER TABLE deployments DROP COLUMN vcs, DROP COLUMN chunks_uploaded, DROP COLUMN chunks_total;
