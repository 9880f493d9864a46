//! `reset` builds the new database beside the old one (create, migrate, seed) and swaps it in
//! with one rename only when everything succeeded: a failure leaves the old database, its WAL and
//! every other file exactly as they were.

mod common;
use common::*;

fn project() -> Test {
    let t = Test::with(&[
        ("0001_tasks.sql", "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n"),
        ("0002_priority.sql", "ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 2;\n"),
    ]);
    t.write("seeds/dev.sql", "INSERT INTO tasks (title) VALUES ('seeded');\n");
    t
}

fn titles(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT title FROM tasks ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

const FAILING_SEED: &str = "INSERT INTO tasks (title) VALUES ('seeded');\nINSERT INTO nowhere VALUES (1);\n";

#[test]
fn a_failing_seed_leaves_the_old_database_untouched() {
    let t = project();
    t.run(&["migrate"]).success();
    t.db().execute("INSERT INTO tasks (title) VALUES ('precious')", []).unwrap();
    t.write("seeds/dev.sql", FAILING_SEED);
    let before = t.snapshot();
    let r = t.run(&["reset"]);
    // The database, its backups and every other file as they were; the half-built file is gone.
    assert_eq!(before, t.snapshot());
    assert!(!t.path(".envdb/dev/app.db.reset.partial").exists());
    assert_eq!(titles(&t.db()), ["precious"]);
    r.failure()
        .stderr_has("seeds/dev.sql failed at line 2: no such table: nowhere")
        .stderr_has("reset changed nothing: .envdb/dev/app.db is as it was (version 2)")
        .stderr_has("the new database being built beside it was removed")
        .stderr_has("help: fix seeds/dev.sql, then reset again")
        .stderr_lacks("rolled back");
}

#[test]
fn a_failing_reset_keeps_the_wal_of_a_database_in_wal_mode() {
    let t = project();
    t.run(&["migrate"]).success();
    // An open connection keeps the WAL beside the database, holding a row the file lacks.
    let app = t.db();
    let _: String = app.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    app.execute("INSERT INTO tasks (title) VALUES ('only in the wal')", []).unwrap();
    let wal = t.path(".envdb/dev/app.db-wal");
    let (db_bytes, wal_bytes) = (std::fs::read(t.dev_db()).unwrap(), std::fs::read(&wal).unwrap());
    assert!(!wal_bytes.is_empty());
    t.write("seeds/dev.sql", FAILING_SEED);
    let r = t.run(&["reset"]);
    assert_eq!(db_bytes, std::fs::read(t.dev_db()).unwrap(), "the database file");
    assert_eq!(wal_bytes, std::fs::read(&wal).unwrap(), "its WAL");
    assert!(!t.path(".envdb/dev/app.db.reset.partial").exists());
    assert_eq!(titles(&app), ["only in the wal"]);
    drop(app);
    assert_eq!(titles(&t.db()), ["only in the wal"]);
    r.failure().stderr_has("reset changed nothing");
}

#[test]
fn a_failing_first_reset_creates_nothing() {
    let t = project();
    t.write("seeds/dev.sql", FAILING_SEED);
    let r = t.run(&["reset"]);
    assert!(!t.dev_db().exists());
    assert!(!t.path(".envdb/dev/app.db.reset.partial").exists());
    r.failure().stderr_has("reset changed nothing: .envdb/dev/app.db was not created");
}

#[test]
fn reset_swaps_in_the_new_database_and_keeps_a_backup_of_the_old() {
    let t = project();
    t.run(&["migrate"]).success();
    t.db().execute("INSERT INTO tasks (title) VALUES ('precious')", []).unwrap();
    // What a reset killed mid-way left behind is cleared by the next one.
    t.write(".envdb/dev/app.db.reset.partial", "half-built");
    t.write(".envdb/dev/app.db.reset.partial-journal", "stale");
    t.run(&["reset"])
        .success()
        .stderr_has("Building a new database beside .envdb/dev/app.db")
        .stderr_has("Seeded .envdb/dev/app.db from seeds/dev.sql")
        .stderr_has("Backed up .envdb/dev/backups/app.dev.")
        .stderr_has("Removed the old database (version 2); .envdb/dev/app.db is the new one, at version 2");
    assert_eq!(titles(&t.db()), ["seeded"]);
    for leftover in ["app.db.reset.partial", "app.db.reset.partial-journal", "app.db-wal", "app.db-journal"] {
        assert!(!t.path(&format!(".envdb/dev/{leftover}")).exists(), "{leftover}");
    }
    let mode: String = t.db().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    // The backup holds the old content, with its checksum file beside it.
    let backups: Vec<_> = std::fs::read_dir(t.path(".envdb/dev/backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].with_extension("db.sha256").is_file(), "{backups:?}");
    assert_eq!(titles(&rusqlite::Connection::open(&backups[0]).unwrap()), ["precious"]);
    t.run(&["migrate"]).success().stderr_has("nothing to apply");
    t.run(&["validate"]).success();
    // A first reset creates the database.
    std::fs::remove_file(t.dev_db()).unwrap();
    t.run(&["reset"]).success().stderr_has("Created .envdb/dev/app.db at version 2");
    assert_eq!(titles(&t.db()), ["seeded"]);
}

#[test]
fn reset_refuses_another_environments_database_before_building() {
    let t = project();
    t.run(&["migrate", "--env", "test"]).success();
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    std::fs::copy(t.path(".envdb/test/app.db"), t.dev_db()).unwrap();
    let before = t.snapshot();
    t.run(&["reset"]).failure().stderr_has("belongs to the environment `test`");
    assert_eq!(before, t.snapshot());
}
