-- Who started an execution: the user id of a JWT caller; NULL for API keys, guests, schedules and
-- event triggers. A user reads only the executions they own (Appwrite gives the creating user the
-- only `read` permission).
ALTER TABLE executions ADD COLUMN user_id TEXT;
CREATE INDEX executions_owner ON executions (project_id, function_id, user_id, seq)
    WHERE user_id IS NOT NULL;
