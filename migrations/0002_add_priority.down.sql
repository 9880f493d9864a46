DROP INDEX tasks_by_priority;
ALTER TABLE tasks DROP COLUMN priority;
