//! `tasks db …`: envdb's operator commands inside the demo binary (feature `app-cli`), on its
//! embedded migrations, run from a directory without the source tree, against prod in a
//! temporary home (SQLite) and against the test server (PostgreSQL).

use pgtest::Via;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Server {
    home: tempfile::TempDir,
}

impl Server {
    fn new() -> Server {
        Server { home: tempfile::tempdir().unwrap() }
    }

    fn tasks(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tasks"));
        cmd.args(args)
            .current_dir(self.home.path())
            .env_remove("ENVDB_ENV")
            .env_remove("ENVDB_TEST")
            .env_remove("TASKS_PG_URL")
            .env("NO_COLOR", "1")
            .env("HOME", self.home.path())
            .env("XDG_DATA_HOME", self.home.path().join("share"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn db(&self) -> PathBuf {
        self.home.path().join("share/tasks/tasks.db")
    }

    fn version(&self) -> i64 {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.query_row("SELECT coalesce(max(version), 0) FROM envdb_migrations", [], |r| r.get(0)).unwrap()
    }

    fn audit(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.home.path().join("share/tasks/audit.log")).unwrap_or_default();
        log.lines().map(str::to_owned).collect()
    }
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn code(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(code), "--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (stdout, stderr)
}

fn has_column(db: &Path, table: &str, column: &str) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')")).unwrap();
    let names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    names.iter().any(|n| n == column)
}

#[test]
fn the_operator_commands_run_inside_the_application_on_its_embedded_migrations() {
    let s = Server::new();
    // Its hints name the application's own commands, not a tool the server does not have.
    let (_, err) = code(&s.tasks(&["db", "validate", "--env", "prod"], &[]), 1);
    assert!(err.contains("run `tasks db upgrade` first") && !err.contains("cargo envdb"), "{err}");
    code(&s.tasks(&["--env", "prod", "add", "ship it"], &[]), 0);
    assert_eq!(s.version(), 2);
    let (out, _) = code(&s.tasks(&["db", "status", "--env", "prod"], &[]), 0);
    assert!(out.contains("version:   2 of 2") && out.contains("check:     ok"), "{out}");
    let (out, _) = code(&s.tasks(&["db", "history", "--env", "prod"], &[]), 0);
    assert!(out.contains("0001_create_tasks.sql") && out.contains("0002_add_priority.sql"), "{out}");

    // Rollback uses the embedded down file; prod asks for confirmation first.
    let (_, err) = code(&s.tasks(&["db", "rollback", "--env", "prod"], &[]), 1);
    assert!(err.contains("PROTECTED ENVIRONMENT: prod") && err.contains("pass --confirm prod"), "{err}");
    assert_eq!(s.version(), 2);
    let (_, err) = code(&s.tasks(&["db", "rollback", "--env", "prod", "--confirm", "prod"], &[]), 0);
    assert!(err.contains("Reverted (embedded migrations)/0002_add_priority.sql"), "{err}");
    assert_eq!(s.version(), 1);
    assert!(!has_column(&s.db(), "tasks", "priority"));

    // The dry run changes nothing.
    let before = std::fs::read(s.db()).unwrap();
    let (_, err) = code(&s.tasks(&["db", "upgrade", "--env", "prod", "--dry-run"], &[]), 0);
    assert!(err.contains("Would apply (embedded migrations)/0002_add_priority.sql"), "{err}");
    assert!(err.contains("Dry run schema version 1 → 2; nothing changed"), "{err}");
    assert_eq!(std::fs::read(s.db()).unwrap(), before);

    // The upgrade is refused while the application holds the database.
    let lock = std::fs::File::open(s.home.path().join("share/tasks/tasks.db.lock")).unwrap();
    lock.lock_shared().unwrap();
    let (_, err) = code(&s.tasks(&["db", "upgrade", "--env", "prod"], &[]), 1);
    assert!(err.contains("holds") && err.contains("nothing was changed") && err.contains("--force"), "{err}");
    assert_eq!(s.version(), 1);
    drop(lock);
    let (out, _) = code(&s.tasks(&["db", "upgrade", "--env", "prod"], &[]), 0);
    assert!(out.contains("Schema version: 1 → 2") && out.contains("applied 0002_add_priority.sql"), "{out}");
    assert!(out.contains("Backup: "), "{out}");
    let (out, _) = code(&s.tasks(&["db", "version", "-v", "--env", "prod"], &[]), 0);
    assert!(out.contains("schema version (db):     2") && out.contains("last backup:"), "{out}");

    // Restore asks for the environment's name too, and says how to give it.
    let (_, err) = code(&s.tasks(&["db", "restore", "latest", "--env", "prod"], &[]), 1);
    assert!(err.contains("pass --confirm prod"), "{err}");
    assert_eq!(s.version(), 2);
    code(&s.tasks(&["db", "restore", "latest", "--env", "prod", "--confirm", "prod"], &[]), 0);
    assert_eq!(s.version(), 1);
    let (_, err) = code(&s.tasks(&["db", "validate", "--env", "prod"], &[]), 0);
    assert!(err.contains("at version 1: integrity, foreign keys, checksums and schema all match"), "{err}");

    // Every write is in prod's audit log, as the command line writes it, the refused upgrade
    // included; a missing confirmation stops before the write.
    let audit = s.audit();
    let commands: Vec<&str> = audit
        .iter()
        .map(|l| {
            if l.contains(" db rollback") {
                "rollback"
            } else if l.contains(" db upgrade") {
                "upgrade"
            } else if l.contains(" db restore") {
                "restore"
            } else {
                "start"
            }
        })
        .collect();
    assert_eq!(commands, ["start", "rollback", "upgrade", "upgrade", "restore"], "{audit:#?}");
    assert!(audit[2].contains(r#""outcome":"error""#) && audit[2].contains("the database is in use"), "{}", audit[2]);

    // Bad usage is exit code 2, as for `cargo envdb`.
    code(&s.tasks(&["db", "upgrade", "--bogus"], &[]), 2);
}

#[test]
fn the_operator_commands_work_on_postgres() {
    let db = pgtest::database();
    let s = Server::new();
    let url = db.url(Via::Tcp);
    let vars = [("TASKS_PG_URL", url.as_str())];
    code(&s.tasks(&["--env", "pg", "add", "on the server"], &vars), 0);
    let (out, _) = code(&s.tasks(&["db", "status", "--env", "pg"], &vars), 0);
    assert!(out.contains("version:   2 of 2") && out.contains(":***@"), "{out}");
    assert!(!out.contains(db.server().password()), "{out}");
    let (out, _) = code(&s.tasks(&["db", "history", "--env", "pg"], &vars), 0);
    assert!(out.contains("0002_add_priority.sql"), "{out}");
    let (out, _) = code(&s.tasks(&["db", "version", "--env", "pg"], &vars), 0);
    assert_eq!(out.trim(), "schema version 2 (code 2, 0 pending)");
    code(&s.tasks(&["db", "rollback", "--env", "pg"], &vars), 0);
    let (out, _) = code(&s.tasks(&["db", "version", "--env", "pg"], &vars), 0);
    assert_eq!(out.trim(), "schema version 1 (code 2, 1 pending)");
}
