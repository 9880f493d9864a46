//! The history digest on SQLite, through a host application built in the test (its build script
//! embeds the migrations' digest) and the `cargo-envdb` binary: every write of the history keeps
//! `envdb_meta.history_digest` equal to the digest of the rows, an up-to-date start compares that
//! one value, and a history edited by hand or a migration edited after it was applied is caught.

mod common;
use common::host::Host;
use common::*;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_a.sql", "CREATE TABLE a (x);\n"),
    ("0001_a.down.sql", "DROP TABLE a;\n"),
    ("0002_b.sql", "CREATE TABLE b (x);\n"),
    ("0002_b.down.sql", "DROP TABLE b;\n"),
    ("0003_c.sql", "CREATE TABLE c (x);\n"),
    ("0003_c.down.sql", "DROP TABLE c;\n"),
];

/// The digest of the first `n` up files of `MIGRATIONS`, as the build script computes it.
fn digest_of(n: usize) -> String {
    let ups = MIGRATIONS.iter().filter(|(name, _)| !name.ends_with(".down.sql")).take(n);
    let sums: Vec<(u64, String)> =
        ups.enumerate().map(|(i, (_, sql))| (i as u64 + 1, envdb::checksum::checksum(sql.as_bytes()))).collect();
    envdb::digest::of(sums.iter().map(|(v, s)| (*v, s.as_str())))
}

fn stored(t: &Test) -> Option<String> {
    let conn = t.db();
    let row = conn.query_row("SELECT value FROM envdb_meta WHERE key = 'history_digest'", [], |r| r.get(0));
    match row {
        Ok(v) => Some(v),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => panic!("{e}"),
    }
}

fn sql(t: &Test, sql: &str) {
    t.db().execute_batch(sql).unwrap();
}

#[test]
fn an_up_to_date_start_compares_the_digest_and_every_hand_edit_is_caught() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_digest");
    host.run(&[], &[]).success().stdout_has("schema version (db):     3");
    assert_eq!(stored(&t), Some(digest_of(3)));
    host.run(&[], &[]).success();
    sql(&t, "CREATE TABLE saved AS SELECT * FROM envdb_migrations");

    // UPDATE of a checksum: the digest goes, and the start reports the drift.
    sql(&t, "UPDATE envdb_migrations SET checksum = 'x' WHERE version = 2");
    assert_eq!(stored(&t), None);
    host.run(&[], &[]).failure().stderr_has("migration 2 (0002_b.sql) was applied with a different checksum");
    // Put back: sound again, and the start stores the digest again.
    sql(&t, "UPDATE envdb_migrations SET checksum = (SELECT checksum FROM saved WHERE version = 2) WHERE version = 2");
    host.run(&[], &[]).success();
    assert_eq!(stored(&t), Some(digest_of(3)));

    // DELETE of a row.
    sql(&t, "DELETE FROM envdb_migrations WHERE version = 2");
    host.run(&[], &[]).failure().stderr_has("the history has a hole: version 2 is not recorded although 3 is");
    sql(&t, "INSERT INTO envdb_migrations SELECT * FROM saved WHERE version = 2");
    host.run(&[], &[]).success();

    // INSERT of a row the code does not know.
    sql(
        &t,
        "INSERT INTO envdb_migrations SELECT 4, '0004_d.sql', checksum, applied_at, 0, tool_version FROM saved WHERE version = 1",
    );
    host.run(&[], &[])
        .failure()
        .stderr_has("the database is at version 4, newer than the latest migration this code knows (3)");
    sql(&t, "DELETE FROM envdb_migrations WHERE version = 4");
    host.run(&[], &[]).success();
    assert_eq!(stored(&t), Some(digest_of(3)));

    // What the digest trusts: without the triggers a hand edit goes unseen, because an up-to-date
    // start does not read the history at all.
    sql(&t, "DROP TRIGGER envdb_migrations_updated; UPDATE envdb_migrations SET checksum = 'x' WHERE version = 2");
    host.run(&[], &[]).success();
}

#[test]
fn a_migration_edited_after_it_was_applied_is_caught() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_digest_edit");
    host.run(&[], &[]).success();
    t.write("migrations/0002_b.sql", "CREATE TABLE b (x, y);\n");
    t.run(&["hash"]).success();
    host.rebuild();
    host.run(&[], &[]).failure().stderr_has("migration 2 (0002_b.sql) was applied with a different checksum");
    assert_eq!(stored(&t), Some(digest_of(3)));
}

#[test]
fn a_database_from_before_digests_gains_one_and_rollback_keeps_it_right() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_digest_old");
    host.run(&[], &[]).success();
    // As an older envdb left it: no digest, no triggers.
    sql(
        &t,
        "DROP TRIGGER envdb_migrations_inserted; DROP TRIGGER envdb_migrations_updated; DROP TRIGGER envdb_migrations_deleted;
         DELETE FROM envdb_meta WHERE key = 'history_digest'",
    );
    host.run(&[], &[]).success();
    assert_eq!(stored(&t), Some(digest_of(3)));
    let triggers: i64 = t
        .db()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'envdb_migrations'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 3);

    // Rollback removes rows: the digest follows; the next start migrates again and chains on.
    t.run(&["rollback", "--steps", "2"]).success();
    assert_eq!(stored(&t), Some(digest_of(1)));
    t.run(&["redo"]).success();
    assert_eq!(stored(&t), Some(digest_of(1)));
    host.run(&[], &[]).success().stderr_has("migrated: 0003_c.sql");
    assert_eq!(stored(&t), Some(digest_of(3)));
    // --single-transaction and baseline write it too.
    t.run(&["rollback", "--to", "0"]).success();
    assert_eq!(stored(&t), Some(digest_of(0)));
    t.run(&["migrate", "--single-transaction"]).success();
    assert_eq!(stored(&t), Some(digest_of(3)));
    std::fs::remove_file(t.dev_db()).unwrap();
    sql(&t, "CREATE TABLE a (x); CREATE TABLE b (x);");
    t.run(&["baseline", "2"]).success();
    assert_eq!(stored(&t), Some(digest_of(2)));
}
