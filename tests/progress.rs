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
