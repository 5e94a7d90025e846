DROP TABLE outbox;
DROP TABLE executions;
DROP TABLE deployments;
DROP TABLE functions;
