//! The history digest on PostgreSQL (the real server `pgtest` starts): every write of the history
//! keeps `envdb_meta.history_digest` equal to the digest of the rows, opening an up-to-date
//! database compares that one value, and a history edited by hand (UPDATE, DELETE, INSERT,
//! TRUNCATE) or a migration edited after it was applied is still caught.

mod common;

use envdb::db::apply::MigrateOptions;
use envdb::db::backend::Database as _;
use envdb::db::postgres::{PgOptions, Postgres};
use envdb::runtime::{Error, Options, PgDb, Policy};
use envdb::{Migration, Migrations};
use pgtest::Via;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Migrations creating tables t1..tn with down files; `edit` changes one file after the fact.
fn migrations(n: u64, edit: Option<u64>) -> Migrations {
    let raw: Vec<envdb::embedded::RawMigration> = (1..=n)
        .map(|i| {
            let extra = if edit == Some(i) { ", extra integer" } else { "" };
            let sql = leak(format!("CREATE TABLE t{i} (id integer PRIMARY KEY{extra});\n"));
            let down = Some(leak(format!("DROP TABLE t{i};\n")));
            (i, leak(format!("{i:04}_m{i}.sql")), sql, down, leak(envdb::checksum::checksum(sql.as_bytes())))
        })
        .collect();
    Migrations::from_raw(Box::leak(raw.into_boxed_slice()))
}

fn open(url: &str, m: &Migrations) -> Result<PgDb, Error> {
    PgDb::open_with(url, m, Options { policy: Policy::RefuseBehind, ..Options::default() })
}

fn refused(result: Result<PgDb, Error>) -> String {
    match result {
        Ok(db) => panic!("opened {}", db.label()),
        Err(e) => e.to_string(),
    }
}

/// The stored digest (`None`: missing).
fn stored(client: &mut pgtest::postgres::Client) -> Option<String> {
    client.query_opt("SELECT value FROM envdb_meta WHERE key = 'history_digest'", &[]).unwrap().map(|r| r.get(0))
}

/// The digest of the first `n` of `m`.
fn digest_of(m: &Migrations, n: usize) -> String {
    let list = m.to_vec();
    envdb::digest::of(list.iter().take(n).map(|x| (x.version, x.checksum)))
}

fn backend(url: &str) -> Postgres {
    Postgres::connect(url, "postgres://envdb_test:***@test".into(), PgOptions::default()).unwrap()
}

#[test]
fn an_up_to_date_open_compares_the_digest_and_every_hand_edit_is_caught() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    let m = migrations(3, None);
    drop(open(&url, &m).err());
    drop(PgDb::open(&url, &m).unwrap());
    let mut c = pg.connect(Via::Tcp);
    // Written step by step in each migration's transaction, equal to the build's digest.
    assert_eq!(stored(&mut c).as_deref(), Some(&*m.digest()));
    assert_eq!(m.digest(), digest_of(&m, 3));
    open(&url, &m).unwrap();

    // UPDATE of a checksum: the digest goes, and the full read reports the drift.
    c.batch_execute("UPDATE envdb_migrations SET checksum = 'x' WHERE version = 2").unwrap();
    assert_eq!(stored(&mut c), None);
    let e = refused(open(&url, &m));
    assert!(e.contains("migration 2 (0002_m2.sql) was applied with a different checksum"), "{e}");
    // Put back: the history is sound, and the open stores the digest again.
    let sum = m.to_vec()[1].checksum;
    c.batch_execute(&format!("UPDATE envdb_migrations SET checksum = '{sum}' WHERE version = 2")).unwrap();
    open(&url, &m).unwrap();
    assert_eq!(stored(&mut c).as_deref(), Some(&*m.digest()));

    // DELETE of a row in the middle, then of the latest.
    c.batch_execute("CREATE TEMP TABLE saved AS SELECT * FROM envdb_migrations").unwrap();
    c.batch_execute("DELETE FROM envdb_migrations WHERE version = 2").unwrap();
    let e = refused(open(&url, &m));
    assert!(e.contains("the history has a hole: version 2 is not recorded although 3 is"), "{e}");
    c.batch_execute("INSERT INTO envdb_migrations SELECT * FROM saved WHERE version = 2").unwrap();
    open(&url, &m).unwrap();
    c.batch_execute("DELETE FROM envdb_migrations WHERE version = 3").unwrap();
    assert!(matches!(open(&url, &m), Err(Error::Behind { database: 2, code: 3, .. })));
    c.batch_execute("INSERT INTO envdb_migrations SELECT * FROM saved WHERE version = 3").unwrap();
    open(&url, &m).unwrap();

    // INSERT of a row the code does not know, with plain SQL.
    c.batch_execute(
        "INSERT INTO envdb_migrations SELECT 4, '0004_x.sql', checksum, applied_at, execution_ms, tool_version \
         FROM envdb_migrations WHERE version = 1",
    )
    .unwrap();
    let e = refused(open(&url, &m));
    assert!(e.contains("the database is at version 4, newer than the latest migration this code knows (3)"), "{e}");
    c.batch_execute("DELETE FROM envdb_migrations WHERE version = 4").unwrap();
    open(&url, &m).unwrap();

    // TRUNCATE.
    c.batch_execute("TRUNCATE envdb_migrations").unwrap();
    assert!(matches!(open(&url, &m), Err(Error::Behind { database: 0, code: 3, .. })));
    c.batch_execute("INSERT INTO envdb_migrations SELECT * FROM saved").unwrap();
    open(&url, &m).unwrap();
    assert_eq!(stored(&mut c).as_deref(), Some(&*m.digest()));

    // What the digest trusts: without the trigger, a hand edit goes unseen by the fast path
    // (the history is not read at all when the digests agree).
    c.batch_execute("DROP TRIGGER envdb_history_changed ON envdb_migrations").unwrap();
    c.batch_execute("UPDATE envdb_migrations SET checksum = 'x' WHERE version = 2").unwrap();
    open(&url, &m).expect("the fast path reads one value");
}

#[test]
fn a_migration_edited_after_it_was_applied_is_caught() {
    let pg = pgtest::database();
    let url = pg.url(Via::Bouncer);
    drop(PgDb::open(&url, &migrations(3, None)).unwrap());
    let edited = migrations(3, Some(2));
    assert_ne!(edited.digest(), migrations(3, None).digest());
    let e = refused(PgDb::open(&url, &edited));
    assert!(e.contains("migration 2 (0002_m2.sql) was applied with a different checksum"), "{e}");
}

#[test]
fn a_database_from_before_digests_gains_one_and_its_trigger() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    let m = migrations(2, None);
    drop(PgDb::open(&url, &m).unwrap());
    let mut c = pg.connect(Via::Tcp);
    c.batch_execute(
        "DROP TRIGGER envdb_history_changed ON envdb_migrations; DROP FUNCTION envdb_history_changed();
         DELETE FROM envdb_meta WHERE key = 'history_digest'",
    )
    .unwrap();
    // Migrating further does not invent a digest without the trigger.
    drop(PgDb::open(&url, &migrations(3, None)).unwrap());
    let m = migrations(3, None);
    // Opened up to date: the full read, then the digest and the trigger.
    open(&url, &m).unwrap();
    assert_eq!(stored(&mut c).as_deref(), Some(&*m.digest()));
    let triggers: i64 =
        c.query_one("SELECT count(*) FROM pg_trigger WHERE tgname = 'envdb_history_changed'", &[]).unwrap().get(0);
    assert_eq!(triggers, 1);
    c.batch_execute("DELETE FROM envdb_migrations WHERE version = 3").unwrap();
    assert_eq!(stored(&mut c), None);
}

#[test]
fn every_write_of_the_history_keeps_the_digest_right() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    let m = migrations(4, None);
    let list = m.to_vec();
    let mut c = pg.connect(Via::Tcp);
    let mut db = backend(&url);
    // All in one transaction.
    let single = MigrateOptions { single_transaction: true, target: Some(2), ..MigrateOptions::default() };
    db.migrate(&list, &single, &mut |_| {}).unwrap();
    assert_eq!(stored(&mut c), Some(digest_of(&m, 2)));
    // Each atomic, then a rollback of two (the rows go, the digest follows), a redo.
    db.migrate(&list, &MigrateOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(stored(&mut c), Some(digest_of(&m, 4)));
    let steps: Vec<&Migration<'_>> = vec![&list[3], &list[2]];
    db.rollback(&steps).unwrap();
    assert_eq!(stored(&mut c), Some(digest_of(&m, 2)));
    db.redo(&list[1]).unwrap();
    assert_eq!(stored(&mut c), Some(digest_of(&m, 2)));
    // A no-transaction file: its row in a transaction of its own.
    let outside = leak(String::from("-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY i3 ON t2 (id);\n"));
    let mut with_outside = list.clone();
    with_outside[2] =
        Migration { up: outside, checksum: leak(envdb::checksum::checksum(outside.as_bytes())), ..list[2] };
    db.migrate(&with_outside[..3], &MigrateOptions::default(), &mut |_| {}).unwrap();
    let expected = envdb::digest::of(with_outside[..3].iter().map(|x| (x.version, x.checksum)));
    assert_eq!(stored(&mut c), Some(expected));
    // repair: the checksum of an edited applied file.
    let applied = db.applied().unwrap();
    db.repair(&[(&applied[2], &list[2])]).unwrap();
    assert_eq!(stored(&mut c), Some(digest_of(&m, 3)));
    open(&url, &migrations(3, None)).unwrap();
}

#[test]
fn baseline_records_the_digest() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    let m = migrations(3, None);
    let mut db = backend(&url);
    db.baseline(&m.to_vec(), 2, None).unwrap();
    let mut c = pg.connect(Via::Tcp);
    assert_eq!(stored(&mut c), Some(digest_of(&m, 2)));
}

#[test]
fn a_role_that_does_not_own_an_older_history_still_migrates() {
    let pg = pgtest::database();
    let m2 = migrations(2, None);
    drop(PgDb::open(&pg.url(Via::Tcp), &m2).unwrap());
    pg.server().admin().batch_execute("CREATE ROLE digest_app LOGIN PASSWORD 'app-pw'").unwrap();
    let mut c = pg.connect(Via::Tcp);
    c.batch_execute(
        "DROP TRIGGER envdb_history_changed ON envdb_migrations; DROP FUNCTION envdb_history_changed();
         DELETE FROM envdb_meta WHERE key = 'history_digest';
         GRANT USAGE, CREATE ON SCHEMA public TO digest_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON envdb_migrations, envdb_meta, envdb_lock TO digest_app;",
    )
    .unwrap();
    let url = pg.server().url_as(Via::Tcp, pg.name(), "digest_app", "app-pw");
    let m = migrations(3, None);
    let db = PgDb::open(&url, &m).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.migrated().applied.len(), 1);
    drop(db);
    // It may not create the trigger, so no digest is stored: each start reads the history.
    assert_eq!(stored(&mut c), None);
    open(&url, &m).unwrap();
    assert_eq!(stored(&mut c), None);
}
