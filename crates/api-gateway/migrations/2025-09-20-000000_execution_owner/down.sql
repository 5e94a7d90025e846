DROP INDEX executions_owner;
ALTER TABLE executions DROP COLUMN user_id;
