-- envdb: allow-destructive
-- A plain CREATE INDEX, on purpose: it reads the same on SQLite and PostgreSQL, and the demo's
-- task list is small enough that locking its writes while the index builds costs nothing.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3);
CREATE INDEX tasks_by_priority ON tasks (priority, done);
