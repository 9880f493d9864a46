//! The diagnostic commands through the binary when something is wrong: `status` with migrations
//! that fail `check`, `audit` with a damaged log, and timeouts no clock can hold.

mod common;
use common::*;

fn project() -> Test {
    Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
    ])
}

#[test]
fn timeouts_out_of_range_are_usage_errors_naming_the_flag() {
    let t = project();
    t.run(&["migrate"]).success();
    for (flag, value) in [
        ("--busy-timeout", "1e300"),
        ("--busy-timeout", "1e15"),
        ("--busy-timeout", "2147484"),
        ("--busy-timeout", "-1"),
        ("--busy-timeout", "NaN"),
        ("--busy-timeout", "inf"),
        ("--busy-timeout", "soon"),
        ("--lock-timeout", "1e300"),
        ("--lock-timeout", "-0.5"),
        ("--lock-timeout", "NaN"),
    ] {
        let arg = format!("{flag}={value}");
        for cmd in [&["migrate", &arg][..], &["status", &arg], &["rollback", &arg], &["schema", "dump", &arg]] {
            let r = t.run(cmd);
            r.code(2).stderr_has(flag).stderr_lacks("panicked");
        }
    }
    t.run(&["status", "--busy-timeout", "0.25", "--lock-timeout", "0"]).success();
    t.run(&["migrate", "--busy-timeout", "2147483"]).success();
}

#[test]
fn status_reports_check_problems_with_the_database_state() {
    let t = project();
    t.run(&["migrate", "--to", "1"]).success();
    // Edited after hashing, and a gap: two problems `check` reports.
    t.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY, x);");
    t.write("migrations/0004_d.sql", "CREATE TABLE d (x);");
    let before = t.snapshot();
    t.run(&["status"])
        .failure()
        .stdout_has("version:   1 of 4")
        .stdout_has("pending:   0002_b.sql, 0004_d.sql")
        .stdout_has("migrations/0002_b.sql")
        .stdout_has("migrations/0004_d.sql")
        .stdout_has("cargo envdb check");
    let r = t.run(&["status", "--format", "json"]);
    r.failure();
    let json = r.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["exists"], true);
    let problems = json["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p["file"] == "migrations/0002_b.sql"), "{json}");
    assert!(problems.iter().any(|p| p["file"] == "migrations/0004_d.sql"), "{json}");
    assert!(problems.iter().all(|p| p["severity"] == "error"), "{json}");
    assert_eq!(before, t.snapshot());
    // Sound migrations: no problems, exit 0.
    t.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);");
    std::fs::remove_file(t.path("migrations/0004_d.sql")).unwrap();
    let r = t.run(&["status", "--format", "json"]);
    r.success();
    assert_eq!(r.json()["problems"], serde_json::json!([]));
    t.run(&["status"]).success().stdout_has("check:     ok");
}

#[test]
fn a_corrupt_audit_line_is_flagged_and_the_rest_printed() {
    let t = project();
    t.run(&["migrate", "--prod", "--to", "1"]).success();
    t.run(&["migrate", "--prod"]).success();
    let log = t.path("xdg/app/audit.log");
    let text = std::fs::read(&log).unwrap();
    let first_end = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut damaged = text[..first_end].to_vec();
    damaged.extend_from_slice(b"{\"time\": \"2026-01-01T00:00\n");
    damaged.extend_from_slice(b"\xff\xfe not utf-8\n");
    damaged.extend_from_slice(&text[first_end..]);
    // A torn final write: no newline.
    damaged.extend_from_slice(b"{\"time\":");
    std::fs::write(&log, &damaged).unwrap();

    let r = t.run(&["audit", "--prod"]);
    r.failure()
        .stdout_has("v0 → v1")
        .stdout_has("v1 → v2")
        .stdout_has("line 2: unreadable")
        .stdout_has("line 3: unreadable")
        .stdout_has("line 5: unreadable")
        .stderr_has("3 unreadable line(s)")
        .stderr_has("audit.log");
    let json = t.run(&["audit", "--prod", "--format", "json"]);
    json.failure();
    let list = json.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5, "{list:?}");
    assert_eq!(list[0]["version_after"], 1);
    assert_eq!(list[1]["line"], 2);
    assert!(list[1]["unreadable"].is_string());
    assert_eq!(list[1]["text"], "{\"time\": \"2026-01-01T00:00");
    assert_eq!(list[2]["line"], 3);
    assert_eq!(list[3]["version_after"], 2);
    assert_eq!(list[4]["line"], 5);
    // Reading never changes the log.
    assert_eq!(std::fs::read(&log).unwrap(), damaged);
}
