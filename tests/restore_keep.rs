//! `restore` keeps the database it replaces whole or not at all: a backups directory on another
//! filesystem, a WAL a reader keeps from being checkpointed, a failure after the copy was kept.

mod common;
use common::*;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

fn project() -> Test {
    Test::with(&[("0001_items.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\n")])
}

fn count(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap()
}

fn insert(db: &Path, n: usize) {
    let c = rusqlite::Connection::open(db).unwrap();
    for _ in 0..n {
        c.execute("INSERT INTO items (v) VALUES ('row')", []).unwrap();
    }
}

/// Each file of a directory with a hash of its content.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    let digest = |p: &Path| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(p).unwrap().hash(&mut h);
        h.finish()
    };
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| (e.path(), digest(&e.path()))).collect();
    v.sort();
    v
}

/// The backups directory on another filesystem (so no hard link), a WAL database whose WAL a
/// reader keeps from being checkpointed: the restore keeps a complete copy, WAL rows included.
#[test]
fn restore_keeps_the_wal_when_backups_are_on_another_filesystem() {
    let t = project();
    t.run(&["migrate"]).success();
    let shm = match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: cannot create a directory under /dev/shm ({e})");
            return;
        }
    };
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    if dev(shm.path()) == dev(t.root()) {
        eprintln!("skipped: /dev/shm is on the same filesystem as the temp dir; see the test of the mode below");
        return;
    }
    std::os::unix::fs::symlink(shm.path(), t.path(".envdb/dev/backups")).unwrap();
    insert(&t.dev_db(), 3);
    t.run(&["backup", "-q"]).success();
    {
        let c = rusqlite::Connection::open(t.dev_db()).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    }
    // A reader holds a snapshot; rows written after it stay in the WAL, out of a checkpoint's reach.
    let reader = rusqlite::Connection::open(t.dev_db()).unwrap();
    reader.execute_batch("BEGIN; SELECT count(*) FROM items;").unwrap();
    insert(&t.dev_db(), 5);
    assert!(std::fs::metadata(t.path(".envdb/dev/app.db-wal")).unwrap().len() > 0);
    let rows = count(&t.dev_db());
    assert_eq!(rows, 8);
    let mode = std::fs::metadata(t.dev_db()).unwrap().permissions().mode();
    let before = files(shm.path());
    let r = t.run(&["restore", "latest", "--busy-timeout", "0.5"]);
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    if r.code == 0 {
        let kept =
            files(shm.path()).into_iter().map(|(p, _)| p).find(|p| p.to_string_lossy().ends_with(".replaced.db"));
        let kept = kept.expect("the replaced database is kept");
        assert_eq!(count(&kept), rows, "the kept copy lacks the WAL's rows");
        assert_eq!(count(&t.dev_db()), 3);
        assert_eq!(std::fs::metadata(t.dev_db()).unwrap().permissions().mode(), mode);
    } else {
        r.stderr_has("nothing was kept");
        assert_eq!(files(shm.path()), before, "a failed restore left files in the backups directory");
        assert_eq!(count(&t.dev_db()), rows);
        assert_eq!(std::fs::metadata(t.dev_db()).unwrap().permissions().mode(), mode);
    }
}

/// A failure after the replaced database was hard-linked to its kept name: the live database's
/// mode is unchanged (the shared inode is never made private), the kept copy is removed again.
#[test]
fn a_failed_restore_leaves_the_live_database_mode_and_the_backups_as_they_were() {
    let t = project();
    t.run(&["migrate"]).success();
    insert(&t.dev_db(), 3);
    t.run(&["backup", "-q"]).success();
    {
        let c = rusqlite::Connection::open(t.dev_db()).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    }
    insert(&t.dev_db(), 2);
    std::fs::set_permissions(t.dev_db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    // A directory where the database's `-journal` would be: removing the companions fails, after
    // the database was kept (a WAL database never uses a rollback journal, so nothing else sees it).
    std::fs::create_dir(t.path(".envdb/dev/app.db-journal")).unwrap();
    std::fs::write(t.path(".envdb/dev/app.db-journal/x"), "x").unwrap();
    let before = files(&t.path(".envdb/dev/backups"));
    t.run(&["restore", "latest"])
        .failure()
        .stderr_has("cannot replace the database")
        .stderr_has("app.db-journal")
        .stderr_has("nothing was kept and the database is untouched");
    assert_eq!(std::fs::metadata(t.dev_db()).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(files(&t.path(".envdb/dev/backups")), before);
    std::fs::remove_dir_all(t.path(".envdb/dev/app.db-journal")).unwrap();
    assert_eq!(count(&t.dev_db()), 5);
}

/// A file without envdb's metadata while an application holds the database: the refusal names
/// both, and says that --force would also restore while the application runs.
#[test]
fn restore_of_a_foreign_file_while_the_application_runs_names_both() {
    let t = project();
    t.run(&["migrate"]).success();
    let lock = hold_app_lock(&t, ".envdb/dev/app.db.lock");
    rusqlite::Connection::open(t.path("foreign.db")).unwrap().execute_batch("CREATE TABLE notes (x);").unwrap();
    let before = t.snapshot();
    t.run(&["restore", "foreign.db"])
        .failure()
        .stderr_has("foreign.db has no envdb metadata")
        .stderr_has(&format!("pid {}", std::process::id()))
        .stderr_has("the database is in use")
        .stderr_has("--force restores it anyway, and also while the application runs");
    assert_eq!(before, t.snapshot());
    t.run(&["restore", "foreign.db", "--force"])
        .success()
        .stderr_has("(the database is in use); restoring anyway (--force)");
    drop(lock);
}
