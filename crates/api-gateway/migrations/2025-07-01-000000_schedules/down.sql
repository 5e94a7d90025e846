DROP INDEX IF EXISTS executions_scheduled;
DROP TABLE IF EXISTS scheduled_requests;
DROP TABLE IF EXISTS schedule_slots;
