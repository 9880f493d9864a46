//! The runtime library as a host application uses it: `Db::open`, policies, the application
//! lock, the version report and the test helper, on real files.

use envdb::db::lock;
use envdb::runtime::{Error, Options, Policy};
use envdb::{Db, Migrations};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Embedded-style migrations creating tables t1..tn, as `envdb::embedded!()` would produce.
fn migrations(n: u64, edit: Option<u64>) -> Migrations {
    let raw: Vec<envdb::embedded::RawMigration> = (1..=n)
        .map(|i| {
            let extra = if edit == Some(i) { ", extra" } else { "" };
            let sql = leak(format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY{extra});\n"));
            (i, leak(format!("{i:04}_m{i}.sql")), sql, None, leak(envdb::checksum::checksum(sql.as_bytes())))
        })
        .collect();
    Migrations::from_raw(Box::leak(raw.into_boxed_slice()))
}

#[test]
fn open_migrates_then_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/app.db");
    let db = Db::open(&path, &migrations(3, None)).unwrap();
    assert_eq!(db.migrated().applied.len(), 3);
    let info = db.version_info();
    assert_eq!((info.code_schema_version, info.database_schema_version, info.pending), (3, 3, 0));
    assert!(info.to_string().contains("schema version (db):     3"));
    assert!(info.to_string().contains(&format!("database migrated by:    envdb {}", envdb::VERSION)), "{info}");
    let history = db.history().unwrap();
    assert_eq!(
        history.iter().map(|a| (a.version, a.name.as_str())).collect::<Vec<_>>(),
        [(1, "0001_m1.sql"), (2, "0002_m2.sql"), (3, "0003_m3.sql")]
    );
    assert!(
        history
            .iter()
            .all(|a| a.applied_at.ends_with('Z') && a.checksum.len() == 64 && a.tool_version == envdb::VERSION)
    );
    drop(db);
    let db = Db::open(&path, &migrations(3, None)).unwrap();
    assert!(db.migrated().applied.is_empty());
    // While that handle (the old code) holds it, a newer one does not migrate, unless told to.
    let refuse = Options { in_use: envdb::InUse::Refuse, ..Options::default() };
    let e = Db::open_with(&path, &migrations(5, None), refuse).err().expect("refused");
    assert!(matches!(e, Error::InUse { code: 5, .. }), "{e}");
    let proceed = Options { in_use: envdb::InUse::Proceed, ..Options::default() };
    let db2 = Db::open_with(&path, &migrations(5, None), proceed).unwrap();
    assert_eq!(db2.migrated().before, 3);
    assert_eq!(db2.migrated().after, 5);
    drop(db);
}

#[test]
fn refuse_behind_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    drop(Db::open(&path, &migrations(2, None)).unwrap());
    let before = std::fs::read(&path).unwrap();
    let opts = Options { policy: Policy::RefuseBehind, ..Options::default() };
    let Err(e) = Db::open_with(&path, &migrations(4, None), opts) else { panic!("must refuse") };
    assert!(matches!(e, Error::Behind { database: 2, code: 4, pending: 2, .. }));
    assert!(e.to_string().contains("cargo envdb upgrade"));
    assert_eq!(before, std::fs::read(&path).unwrap());
}

#[test]
fn drift_and_newer_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    drop(Db::open(&path, &migrations(3, None)).unwrap());
    let e = Db::open(&path, &migrations(3, Some(2))).err().expect("drift refused").to_string();
    assert!(e.contains("migration 2 (0002_m2.sql) was applied with a different checksum"), "{e}");
    let e = Db::open(&path, &migrations(2, None)).err().expect("newer refused").to_string();
    assert!(e.contains("newer than the latest migration this code knows (2)"), "{e}");
}

#[test]
fn the_application_lock_is_held_while_the_handle_lives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    assert!(!lock::app_running(&path));
    let db = Db::open(&path, &migrations(1, None)).unwrap();
    assert!(lock::app_running(&path));
    // A second instance of the application can open it too (the lock is shared).
    let db2 = Db::open(&path, &migrations(1, None)).unwrap();
    drop(db);
    assert!(lock::app_running(&path));
    drop(db2);
    assert!(!lock::app_running(&path));
}

#[test]
fn testing_fresh_gives_a_migrated_temporary_database() {
    let m = migrations(2, None);
    let t = envdb::testing::fresh(&m).unwrap();
    let dir = t.dir().to_owned();
    assert!(dir.starts_with(std::env::temp_dir()));
    t.conn().execute("INSERT INTO t2 (id) VALUES (1)", []).unwrap();
    drop(t);
    assert!(!dir.exists(), "the temporary directory goes with it");
}

#[test]
fn a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    std::fs::write(&path, "hello, I am text\n".repeat(100)).unwrap();
    let e = Db::open(&path, &migrations(1, None)).err().expect("refused");
    // Debug prints the message, as `main() -> Result<(), Box<dyn Error>>` shows it.
    assert_eq!(format!("{e:?}"), e.to_string());
    let e = e.to_string();
    assert!(e.contains("is not a SQLite database"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello, I am text\n".repeat(100));
    assert!(!dir.path().join("app.db.lock").exists(), "a failed open left its lock file");
}

#[test]
fn after_the_test_helper_this_process_cannot_resolve_prod() {
    // (Other tests in this binary may have called the helper already: the mark is process-wide.)
    let m = migrations(1, None);
    let _db = envdb::testing::fresh(&m).unwrap();
    let e = envdb::Environment::resolve(&m, Some("prod")).unwrap_err().to_string();
    assert!(e.contains("refusing to open the protected environment `prod`"), "{e}");
    assert!(envdb::Environment::resolve(&m, Some("test")).is_ok());
}

#[test]
fn open_env_records_the_environment_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let m = migrations(1, None);
    let mut dev = envdb::Environment::resolve(&m, Some("dev")).unwrap();
    dev.spec.database = path.clone();
    let db = Db::open_env(&dev, &m).unwrap();
    assert!(db.version_info().to_string().contains("environment:             dev (chosen by --env flag)"));
    drop(db);
    let mut test = envdb::Environment::resolve(&m, Some("test")).unwrap();
    test.spec.database = path;
    let e = Db::open_env(&test, &m).err().expect("refused").to_string();
    assert!(e.contains("belongs to the environment `dev` but is being opened as `test`"), "{e}");
}

#[test]
fn an_in_memory_database_creates_no_files() {
    let db = Db::open(":memory:", &migrations(2, None)).unwrap();
    assert_eq!(db.migrated().applied.len(), 2);
    db.conn().execute("INSERT INTO t2 (id) VALUES (1)", []).unwrap();
    for name in [":memory:", ":memory:.lock", ":memory:.migrate.lock"] {
        assert!(!std::path::Path::new(name).exists(), "{name} in the working directory");
    }
}

#[test]
fn a_connection_the_host_opened_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = envdb::rusqlite::Connection::open(dir.path().join("own.db")).unwrap();
    let report = envdb::runtime::migrate(&mut conn, &migrations(2, None)).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| (a.version, a.name.as_str())).collect::<Vec<_>>(),
        [(1, "0001_m1.sql"), (2, "0002_m2.sql")]
    );
    assert!(envdb::runtime::migrate(&mut conn, &migrations(2, None)).unwrap().applied.is_empty());
    let e = envdb::runtime::migrate(&mut conn, &migrations(2, Some(1))).unwrap_err().to_string();
    assert!(e.contains("different checksum"), "{e}");
}

#[test]
fn the_embedded_journal_mode_is_applied() {
    let raw: &'static [envdb::embedded::RawMigration] = Box::leak(
        vec![(
            1,
            "0001_a.sql",
            "CREATE TABLE a (x);\n",
            None,
            leak(envdb::checksum::checksum(b"CREATE TABLE a (x);\n")),
        )]
        .into_boxed_slice(),
    );
    let digest = leak(envdb::digest::of(raw.iter().map(|m| (m.0, m.4))));
    let m = Migrations::from_generated((raw, "journal_mode = \"wal\"\n", "", digest));
    let dir = tempfile::tempdir().unwrap();
    let mut dev = envdb::Environment::resolve(&m, Some("dev")).unwrap();
    dev.spec.database = dir.path().join("app.db");
    let db = Db::open_env(&dev, &m).unwrap();
    let mode: String = db.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn each_fresh_database_is_its_own_copy_of_one_migrated_template() {
    let m = migrations(3, None);
    let a = envdb::testing::fresh(&m).unwrap();
    let b = envdb::testing::fresh(&m).unwrap();
    a.conn().execute("INSERT INTO t3 (id) VALUES (1)", []).unwrap();
    let count = |db: &Db| db.conn().query_row("SELECT count(*) FROM t3", [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!((count(&a), count(&b)), (1, 0));
    assert_eq!(b.version_info().database_schema_version, 3);
    assert_ne!(a.path(), b.path());
    // Another set of migrations has its own template.
    let c = envdb::testing::fresh(&migrations(1, None)).unwrap();
    assert_eq!(c.version_info().database_schema_version, 1);
}
