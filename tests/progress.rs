//! Progress on long work through the binary, on a real terminal (`script` gives the run a pty):
//! a migration run, or the replay `validate` makes, past one second shows done / total, the file
//! running and the time elapsed; nothing off a terminal or with `-q`.

mod common;
use common::*;
use std::process::Command;

/// A project whose second migration runs for seconds.
fn slow() -> Test {
    Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        (
            "0002_slow.sql",
            "CREATE TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000) SELECT x FROM c;",
        ),
        ("0003_z.sql", "CREATE TABLE z (id INTEGER PRIMARY KEY);"),
    ])
}

/// Runs the binary with `args` on a pseudo-terminal; what the terminal showed.
fn on_terminal(t: &Test, args: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .current_dir(t.root())
        .env("NO_COLOR", "1")
        .env_remove("ENVDB_ENV")
        .output()
        .expect("script (util-linux) runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_long_migration_run_shows_progress_on_a_terminal_only() {
    let t = slow();
    let shown = on_terminal(&t, "migrate");
    assert!(shown.contains("Migrating") && shown.contains("1/3 0002_slow.sql"), "{shown:?}");
    assert!(shown.contains("Applied migrations/0002_slow.sql"), "{shown:?}");
    assert!(shown.contains("schema version 0 → 3"), "{shown:?}");
    assert_eq!(versions(&t), [1, 2, 3]);
    let replayed = on_terminal(&t, "validate");
    assert!(replayed.contains("Replaying") && replayed.contains("1/3 0002_slow.sql"), "{replayed:?}");

    let t = slow();
    let quiet = on_terminal(&t, "migrate -q");
    assert!(!quiet.contains("Migrating"), "{quiet:?}");
    let t = slow();
    t.run(&["migrate"]).success().stderr_lacks("Migrating").stderr_has("schema version 0 → 3");
}

#[test]
fn a_long_sqlite_restore_and_a_long_check_show_what_runs_on_a_terminal_only() {
    let t = slow();
    t.run(&["migrate", "-q"]).success();
    t.run(&["backup", "-q"]).success();
    // `latest` re-reads the newest backup against its checksum, then a file is copied while its
    // pages are checked and it is hashed: the debug binary hashes a hundred megabytes slowly.
    let shown = on_terminal(&t, "restore latest --force");
    assert!(shown.contains("Restoring re-reading the newest backup's checksum"), "{shown:?}");
    assert!(shown.contains("Restored"), "{shown:?}");
    let backup = newest_backup(&t);
    let shown = on_terminal(&t, &format!("restore {backup} --force"));
    assert!(shown.contains("Restoring copying the backup and checking its pages"), "{shown:?}");
    t.run(&["restore", "latest", "--force"]).success().stderr_lacks("Restoring");

    // Fifteen megabytes of SQL take the debug binary seconds to hash and lex.
    let t = Test::new();
    let row = "INSERT INTO t VALUES (1, 'a line of text to lex and to hash');\n";
    t.write("migrations/0001_big.sql", format!("CREATE TABLE t (a INTEGER, b TEXT);\n{}", row.repeat(250_000)));
    t.run(&["hash", "-q"]).success();
    let shown = on_terminal(&t, "check --no-cache");
    assert!(shown.contains("Checking") && shown.contains("reading, hashing and lexing"), "{shown:?}");
    assert!(shown.contains("Checked 1 migration(s)"), "{shown:?}");
    t.run(&["check", "--no-cache"]).success().stderr_lacks("reading, hashing");
}

/// The path of the newest backup (not a replaced database or a checksum file).
fn newest_backup(t: &Test) -> String {
    let mut found: Vec<String> = std::fs::read_dir(t.path(".envdb/dev/backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".db") && !p.ends_with(".replaced.db"))
        .collect();
    found.sort();
    found.pop().unwrap()
}
