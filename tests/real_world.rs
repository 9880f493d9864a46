//! Real-world migration shapes, written for this project (tests/fixtures/real_world): a table
//! rebuild with foreign keys off, a trigger body, a file with its own transaction control and a
//! VACUUM, CRLF, no final newline, comment-only, non-ASCII, and a 5 MB data backfill. Each is
//! applied, validated, rolled back with its down file, and applied again.

mod common;
use common::*;
use std::fmt::Write as _;

fn project() -> Test {
    let t = Test::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real_world");
    for entry in std::fs::read_dir(fixtures).unwrap().flatten() {
        std::fs::copy(entry.path(), t.path("migrations").join(entry.file_name())).unwrap();
    }
    // The 5 MB backfill is generated rather than committed.
    let mut sql = String::from(
        "-- A data backfill: many small statements.\nCREATE TABLE backfill (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);\n",
    );
    let mut i = 0;
    while sql.len() < 5 * 1024 * 1024 {
        i += 1;
        let _ =
            writeln!(sql, "INSERT INTO backfill (payload) VALUES ('row {i}: {}; with a semicolon');", "x".repeat(60));
    }
    t.write("migrations/0009_backfill.sql", &sql);
    t.run(&["hash"]).success();
    t
}

fn count(t: &Test, sql: &str) -> i64 {
    t.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn real_world_shapes_apply_validate_roll_back_and_reapply() {
    let t = project();
    t.run(&["check"]).success().stderr_has("0007_comment_only.sql: the migration holds no SQL");
    t.run(&["migrate"]).success().stderr_has("schema version 0 → 9");
    t.run(&["validate"]).success();
    assert_eq!(count(&t, "SELECT count(*) FROM audit"), 2, "the trigger fired once, inserting two rows");
    assert_eq!(count(&t, "SELECT count(*) FROM accounts WHERE created_at = '1970-01-01T00:00:00Z'"), 2);
    assert_eq!(count(&t, "SELECT count(*) FROM crlf"), 1);
    assert_eq!(count(&t, "SELECT count(*) FROM no_newline"), 1);
    assert_eq!(count(&t, "SELECT count(*) FROM \"städte\" WHERE name = '東京'"), 1);
    let rows = count(&t, "SELECT count(*) FROM backfill");
    assert!(rows > 35_000, "{rows}");
    assert_eq!(count(&t, "SELECT count(*) FROM pragma_foreign_key_check"), 0);

    t.run(&["rollback", "--to", "0"]).success().stderr_has("schema version 9 → 0");
    let tables = count(&t, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'envdb_%'");
    assert_eq!(tables, 0, "every down file undid its migration");
    t.run(&["migrate"]).success();
    t.run(&["validate"]).success();
    t.run(&["redo"]).success();
    t.run(&["validate"]).success();
}
