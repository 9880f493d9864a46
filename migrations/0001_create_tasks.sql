-- Migration 0001: create tasks
-- The demo application's task list, in SQL that SQLite and PostgreSQL read alike (the demo runs
-- on either: `tasks --env pg …`).

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL CHECK (length(title) > 0),
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
