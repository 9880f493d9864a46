//! One transaction procedure for every write of the runner (issue 15, item 5): a foreign-key
//! violation is blamed on the file that caused it, in `--single-transaction` runs, in `redo` and
//! `rollback`, and one already in the database before the run is said to be so. Only the final
//! state of a transaction counts. Everything through the real binary, on real SQLite files.

mod common;
use common::{Test, tables, versions};

/// Two parents, each with a child.
const FAMILY: &str = "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\nINSERT INTO parent VALUES (1), (2);\nINSERT INTO child VALUES (1, 1), (2, 2);\n";
const ORPHAN_1: &str = "DELETE FROM parent WHERE id = 1;\n";
const ORPHAN_2: &str = "DELETE FROM parent WHERE id = 2;\n";
const HARMLESS: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n";
const ROW_1: &str = "child row 1 references a missing row in parent (child.parent_id → parent.id)";
const ROW_2: &str = "child row 2 references a missing row in parent (child.parent_id → parent.id)";

/// Snapshots compared without printing the bytes of a database. A failed first run may leave the
/// environment's data directories (holding only the empty lock files other runs may wait on).
#[track_caller]
fn unchanged(before: &[(std::path::PathBuf, Vec<u8>)], t: &Test) {
    let data_dir = |(p, c): &(std::path::PathBuf, Vec<u8>)| {
        c.as_slice() == common::DIRECTORY && p.strip_prefix(t.root()).is_ok_and(|r| r.starts_with(".envdb"))
    };
    let after: Vec<_> = t.snapshot().into_iter().filter(|e| before.contains(e) || !data_dir(e)).collect();
    let names = |s: &[(std::path::PathBuf, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(before), names(&after), "files differ");
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        assert!(a == b, "{} changed", path.display());
    }
}

#[test]
fn single_transaction_names_the_migration_that_broke_a_foreign_key() {
    let t = Test::with(&[("0001_family.sql", FAMILY), ("0002_orphan.sql", ORPHAN_1), ("0003_notes.sql", HARMLESS)]);
    let before = t.snapshot();
    t.run(&["migrate", "--single-transaction"])
        .failure()
        .stderr_has("0002_orphan.sql failed: foreign key violations after it ran (PRAGMA foreign_key_check):")
        .stderr_has(ROW_1)
        .stderr_has("the whole run was rolled back; the database is at version 0")
        .stderr_lacks("0003_notes.sql failed")
        .stderr_lacks("already in the database");
    unchanged(&before, &t); // nothing applied: the database a failed first run created is gone

    // The last migration breaks it: the last is named, not the first.
    let t = Test::with(&[("0001_family.sql", FAMILY), ("0002_notes.sql", HARMLESS), ("0003_orphan.sql", ORPHAN_1)]);
    t.run(&["migrate", "--single-transaction"]).failure().stderr_has("0003_orphan.sql failed: foreign key violations");

    // On an applied base: the run's own files only, and the base stays.
    let t = Test::with(&[
        ("0001_family.sql", FAMILY),
        ("0002_orphan.sql", ORPHAN_1),
        ("0003_notes.sql", HARMLESS),
        ("0004_more.sql", "CREATE TABLE more (x);\n"),
    ]);
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["migrate", "--single-transaction"])
        .failure()
        .stderr_has("0002_orphan.sql failed: foreign key violations")
        .stderr_has("the whole run was rolled back; the database is at version 1");
    assert_eq!(versions(&t), [1]);
    assert_eq!(tables(&t), ["child", "parent"], "nothing of 0002 to 0004 stayed");
    let parents: i64 = t.db().query_row("SELECT count(*) FROM parent", [], |r| r.get(0)).unwrap();
    assert_eq!(parents, 2);
}

#[test]
fn single_transaction_blames_where_a_violation_appeared_and_stayed() {
    // 0002 orphans child 1, 0003 orphans child 2, 0004 changes nothing: the first violation
    // listed (child 1) appeared after 0002 and stayed.
    let t = Test::with(&[
        ("0001_family.sql", FAMILY),
        ("0002_orphan.sql", ORPHAN_1),
        ("0003_orphan_more.sql", ORPHAN_2),
        ("0004_notes.sql", HARMLESS),
    ]);
    t.run(&["migrate", "--single-transaction"])
        .failure()
        .stderr_has("0002_orphan.sql failed: foreign key violations")
        .stderr_has(ROW_1)
        .stderr_has(ROW_2);

    // A violation a later file repairs is none: only the final state counts. 0002 orphans child
    // 1, 0003 gives it its parent back, 0004 orphans child 2: 0004 is named.
    let t = Test::with(&[
        ("0001_family.sql", FAMILY),
        ("0002_orphan.sql", ORPHAN_1),
        ("0003_adopt.sql", "INSERT INTO parent VALUES (1);\n"),
        ("0004_orphan_more.sql", ORPHAN_2),
    ]);
    t.run(&["migrate", "--single-transaction"])
        .failure()
        .stderr_has("0004_orphan_more.sql failed: foreign key violations")
        .stderr_has(ROW_2)
        .stderr_lacks(ROW_1);
    t.write("migrations/0004_orphan_more.sql", HARMLESS);
    t.run(&["hash"]).success();
    t.run(&["migrate", "--single-transaction"]).success().stderr_has("0 → 4");
    assert_eq!(versions(&t), [1, 2, 3, 4]);
}

#[test]
fn a_violation_already_in_the_database_is_said_to_be_so() {
    for single in [false, true] {
        let t = Test::with(&[
            ("0001_family.sql", FAMILY),
            ("0002_notes.sql", HARMLESS),
            ("0003_more.sql", "CREATE TABLE more (x);\n"),
        ]);
        t.run(&["migrate", "--to", "1"]).success();
        // Someone deleted a parent by hand, with foreign keys off.
        t.db().execute_batch(&format!("PRAGMA foreign_keys = OFF; {ORPHAN_2}")).unwrap();
        let args: &[&str] = if single { &["migrate", "--single-transaction"] } else { &["migrate"] };
        t.run(args)
            .failure()
            .stderr_has("0002_notes.sql failed: foreign key violations after it ran (PRAGMA foreign_key_check); the first was already in the database before it ran")
            .stderr_has("`cargo envdb validate` lists them")
            .stderr_has(ROW_2)
            .stderr_has("the database is at version 1");
        assert_eq!(versions(&t), [1]);
        assert_eq!(tables(&t), ["child", "parent"]);
    }
}

#[test]
fn redo_and_rollback_name_the_down_file_that_broke_a_foreign_key() {
    let t = Test::with(&[
        ("0001_family.sql", FAMILY),
        ("0002_notes.sql", HARMLESS),
        ("0002_notes.down.sql", "DROP TABLE notes;\nDELETE FROM parent WHERE id = 1;\n"),
    ]);
    t.run(&["migrate"]).success();
    let before = t.snapshot();
    // The down step orphans child 1 and the up step does not repair it.
    t.run(&["redo"])
        .failure()
        .stderr_has("0002_notes.down.sql failed: foreign key violations after it ran")
        .stderr_has(ROW_1)
        .stderr_has("the whole run was rolled back; the database is at version 2")
        .stderr_lacks("already in the database");
    unchanged(&before, &t);
    t.run(&["rollback"])
        .failure()
        .stderr_has("0002_notes.down.sql failed: foreign key violations after it ran")
        .stderr_has("the database is at version 2");
    unchanged(&before, &t);

    // An up step that repairs what the down step did: only the final state counts.
    t.write(
        "migrations/0002_notes.sql",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\nINSERT OR IGNORE INTO parent VALUES (1);\n",
    );
    t.run(&["hash"]).success();
    t.run(&["repair"]).success();
    t.run(&["redo"]).success();
    assert_eq!(versions(&t), [1, 2]);
}
