//! What a migration's SQL must not do, through the real binary: `check` refuses exactly what
//! `migrate` refuses before running (NUL bytes, ignored directives, transaction control, writes
//! to envdb's own tables), and a failure names the file and the right line.

mod common;
use common::*;

/// A project with `0001_a.sql` creating table `a`, then `name` holding `sql`.
fn after_a(name: &str, sql: &str) -> Test {
    Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), (name, sql)])
}

/// `check` fails, naming `needle`, and `migrate` is refused with nothing changed.
#[track_caller]
fn refused(t: &Test, needle: &str) {
    t.run(&["check"]).failure().stderr_has(needle);
    t.run(&["check", "--strict"]).failure().stderr_has(needle);
    let before = t.snapshot();
    t.run(&["migrate"]).failure().stderr_has("must pass `cargo envdb check`").stderr_has(needle);
    assert_eq!(before, t.snapshot(), "a refused migrate changed files");
}

#[test]
fn a_nul_byte_is_refused_naming_file_and_line() {
    let t = Test::with(&[(
        "0001_a.sql",
        "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\0\nCREATE TABLE b (y);\nCREATE TABLE c (z);\n",
    )]);
    refused(&t, "migrations/0001_a.sql: line 2: a NUL byte");
    t.run(&["check", "--format", "json"]).failure();
    let json = t.run(&["check", "--format", "json"]).json();
    assert_eq!(json[0]["kind"], "nul-byte", "{json}");
    assert!(!t.dev_db().exists());

    // Without it, every statement runs.
    t.write(
        "migrations/0001_a.sql",
        "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);\nCREATE TABLE b (y);\nCREATE TABLE c (z);\n",
    );
    t.run(&["hash"]).success();
    t.run(&["migrate"]).success();
    assert_eq!(tables(&t), ["a", "b", "c"]);
}

#[test]
fn a_nul_byte_in_a_seed_is_refused_by_the_runner() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    t.write("seeds/dev.sql", "INSERT INTO a VALUES (1);\0\nINSERT INTO a VALUES (2);\n");
    t.run(&["migrate"]).success();
    t.run(&["seed"]).failure().stderr_has("dev.sql line 1: a NUL byte").stderr_has("nothing was run");
    let n: i64 = t.db().query_row("SELECT count(*) FROM a", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn check_strict_refuses_transaction_control_that_migrate_refuses() {
    let t = after_a("0002_tx.sql", "-- a header\nBEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n");
    refused(&t, "migrations/0002_tx.sql: line 2: the file controls its own transaction (BEGIN)");
    t.run(&["check"]).failure().stderr_has("0002_tx.sql: line 4: the file controls its own transaction (COMMIT)");
    assert!(!t.dev_db().exists());
}

#[test]
fn a_directive_in_capitals_is_honoured() {
    let t = Test::with(&[(
        "0001_tx.sql",
        "/* Rebuilds a table. */\n-- ENVDB: No-Transaction\nBEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n",
    )]);
    t.run(&["check", "--strict"]).success();
    t.run(&["migrate"]).success();
    assert_eq!(versions(&t), [1]);
}

#[test]
fn a_directive_that_would_be_ignored_is_an_error() {
    let t = Test::with(&[
        ("0001_late.sql", "CREATE TABLE a (x);\n-- envdb: no-transaction\nVACUUM;\n"),
        ("0002_block.sql", "/* envdb: allow-destructive */\nDROP TABLE a;\n"),
    ]);
    t.run(&["check"])
        .failure()
        .stderr_has("migrations/0001_late.sql: line 2: an `envdb:` directive after the first statement is not honoured")
        .stderr_has("migrations/0002_block.sql: line 1: an `envdb:` directive in a block comment is not honoured");
    let kinds: Vec<_> =
        t.run(&["check", "--format", "json"]).json().as_array().unwrap().iter().map(|p| p["kind"].clone()).collect();
    assert!(kinds.iter().filter(|k| *k == "misplaced-directive").count() == 2, "{kinds:?}");
    let before = t.snapshot();
    t.run(&["migrate"]).failure().stderr_has("directive after the first statement");
    assert_eq!(before, t.snapshot());
}

#[test]
fn a_no_transaction_file_with_begin_and_no_commit_names_the_file() {
    let t = after_a("0002_open.sql", "-- envdb: no-transaction\nCREATE TABLE b (x);\nBEGIN;\nCREATE TABLE c (x);\n");
    refused(&t, "migrations/0002_open.sql: line 3: BEGIN without a COMMIT");
    assert!(!t.dev_db().exists(), "not even migration 1 ran");
}

#[test]
fn a_no_transaction_file_that_leaves_a_savepoint_open_names_the_file() {
    let t =
        after_a("0002_sp.sql", "-- envdb: no-transaction\nCREATE TABLE b (x);\nSAVEPOINT s;\nCREATE TABLE c (x);\n");
    t.run(&["check", "--strict"]).success();
    t.run(&["migrate"])
        .failure()
        .stderr_has("0002_sp.sql failed at line 3: the file left a transaction open")
        .stderr_has("statements before line 3 took effect");
    assert_eq!(versions(&t), [1]);
    assert_eq!(tables(&t), ["a", "b"], "what ran inside the open transaction was rolled back");
}

#[test]
fn writes_to_envdb_tables_are_refused() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);\n\nINSERT INTO envdb_meta (key, value) VALUES ('environment', 'prod');\n"),
        ("0002_b.sql", "-- hides a migration\nDELETE FROM \"envdb_migrations\" WHERE version = 1;\n"),
        (
            "0003_c.sql",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE main.envdb_migrations SET checksum = '';\nEND;\n",
        ),
        ("0004_d.sql", "ALTER TABLE envdb_meta ADD COLUMN extra;\nDROP TABLE IF EXISTS ENVDB_META;\n"),
        ("0005_e.sql", "CREATE TABLE copy AS SELECT * FROM envdb_migrations;\n"),
    ]);
    let r = t.run(&["check"]);
    r.failure()
        .stderr_has("migrations/0001_a.sql: line 3: the statement writes into envdb_meta, envdb's own table")
        .stderr_has("migrations/0002_b.sql: line 2: the statement deletes from envdb_migrations")
        .stderr_has("migrations/0003_c.sql: line 2: the statement updates envdb_migrations")
        .stderr_has("migrations/0004_d.sql: line 1: the statement alters envdb_meta")
        .stderr_has("migrations/0004_d.sql: line 2: the statement drops envdb_meta")
        .stderr_lacks("0005_e.sql");
    let json = t.run(&["check", "--format", "json"]).json();
    assert_eq!(json.as_array().unwrap().iter().filter(|p| p["kind"] == "internal-table").count(), 5, "{json}");
    let before = t.snapshot();
    t.run(&["migrate"]).failure().stderr_has("envdb's own table");
    assert_eq!(before, t.snapshot());
}

#[test]
fn a_failing_statement_after_leading_comments_names_its_own_line() {
    let t = Test::with(&[(
        "0001_a.sql",
        "-- Migration 0001: create things\n-- Created by hand.\n-- A third comment line.\n\n/* and a block\n   comment */\nCREATE TABLE b (x;\nCREATE TABLE c (x);\n",
    )]);
    t.run(&["migrate"]).failure().stderr_has("0001_a.sql failed at line 7: near \";\": syntax error");
    let t = Test::with(&[(
        "0001_a.sql",
        "-- one\n-- two\n-- three\n-- four\n-- five\n-- six\nCREATE TABLE b (x,\n  y,\n  z;\n",
    )]);
    t.run(&["migrate"]).failure().stderr_has("0001_a.sql failed at line 9: near \";\": syntax error");
}
