//! The demo binary on both backends: on PostgreSQL (`tasks --env pg …` with `TASKS_PG_URL`, the
//! repository's envdb.toml), directly and through PgBouncer, and on a SQLite file (prod, in a
//! temporary home, so that the repository's own `.envdb/` is never touched).

use pgtest::Via;
use std::process::{Command, Output};

fn tasks(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tasks"));
    cmd.args(args).env_remove("ENVDB_ENV").env_remove("ENVDB_TEST").env_remove("TASKS_PG_URL");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn ok(out: &Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "--- stdout\n{stdout}\n--- stderr\n{stderr}");
    stdout.into_owned()
}

#[test]
fn the_demo_runs_on_postgres_directly_and_through_pgbouncer() {
    let db = pgtest::database();
    let password = db.server().password().to_owned();
    for (via, title) in [(Via::Tcp, "write the docs"), (Via::Bouncer, "through the bouncer")] {
        let url = db.url(via);
        let vars = [("TASKS_PG_URL", url.as_str())];
        let out = tasks(&["--env", "pg", "add", title, "--priority", "1"], &vars);
        let stdout = ok(&out);
        assert!(stdout.starts_with("added #") && stdout.contains(title), "{stdout}");
        let list = ok(&tasks(&["--env", "pg", "list"], &vars));
        assert!(list.contains(&format!("[p1] {title}")), "{list}");
    }
    // The first run migrated (and said so), the second found the database up to date.
    let vars = [("TASKS_PG_URL", db.url(Via::Tcp))];
    let vars = [(vars[0].0, vars[0].1.as_str())];
    let list = ok(&tasks(&["--env", "pg", "list"], &vars));
    assert_eq!(list.lines().collect::<Vec<_>>(), ["[ ] #1 [p1] write the docs", "[ ] #2 [p1] through the bouncer"]);
    assert!(ok(&tasks(&["--env", "pg", "done", "2"], &vars)).contains("done #2"));
    let info = tasks(&["--env", "pg", "version", "-v"], &vars);
    let info = ok(&info);
    assert!(info.contains("environment:             pg (chosen by --env flag)"), "{info}");
    assert!(info.contains("schema version (db):     2") && info.contains(":***@"), "{info}");
    assert!(!info.contains(&password), "{info}");
    let missing = tasks(&["--env", "pg", "done", "9"], &vars);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no task #9"));
    // The database records its environment, like a SQLite one.
    let mut client = db.connect(Via::Tcp);
    let row = client.query_one("SELECT value FROM envdb_meta WHERE key = 'environment'", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "pg");
}

#[test]
fn without_its_variable_the_pg_environment_says_what_to_set() {
    let out = tasks(&["--env", "pg", "list"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("TASKS_PG_URL"), "{stderr}");
}

#[test]
fn the_demo_still_runs_on_sqlite() {
    let home = tempfile::tempdir().unwrap();
    let share = home.path().join("share");
    let share = share.to_str().unwrap();
    let vars = [("HOME", home.path().to_str().unwrap()), ("XDG_DATA_HOME", share)];
    ok(&tasks(&["--env", "prod", "add", "on", "a", "file"], &vars));
    let list = ok(&tasks(&["--env", "prod", "list"], &vars));
    assert_eq!(list.trim(), "[ ] #1 [p2] on a file");
    assert!(home.path().join("share/tasks/tasks.db").exists());
}

#[test]
fn demo_processes_starting_together_migrate_once() {
    let db = pgtest::database();
    let children: Vec<_> = (0..6)
        .map(|i| {
            let url = db.url(if i % 2 == 0 { Via::Tcp } else { Via::Bouncer });
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_tasks"));
            cmd.args(["--env", "pg", "list"]).env_remove("ENVDB_ENV").env_remove("ENVDB_TEST").env("TASKS_PG_URL", url);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut migrated = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        ok(&out);
        migrated += String::from_utf8_lossy(&out.stderr).matches("migrated: ").count();
    }
    assert_eq!(migrated, 2, "each of the two migrations applied by exactly one process");
    let mut client = db.connect(Via::Tcp);
    assert_eq!(client.query_one("SELECT count(*) FROM envdb_migrations", &[]).unwrap().get::<_, i64>(0), 2);
}
