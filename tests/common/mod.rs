//! The integration-test harness: a temporary host project, the real `cargo-envdb` binary run in
//! it, and chainable assertions on stdout, stderr and the exit code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod host;
#[cfg(unix)]
mod immutable;
#[cfg(unix)]
#[allow(unused_imports)] // not every test binary makes a file read-only
pub use immutable::ReadOnly;

pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-envdb");

/// What [`Test::snapshot`] records for a directory: bytes no test writes into a file, so that a
/// directory replaced by a file (or the reverse) shows as a change.
pub const DIRECTORY: &[u8] = b"\0directory";

/// A temporary host project (an `envdb.toml` and a `migrations/` directory).
pub struct Test {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Test {
    /// An empty project named `app`, without migrations.
    pub fn empty() -> Test {
        let dir = tempfile::Builder::new().prefix("envdb-it-").tempdir().unwrap();
        std::fs::write(dir.path().join("envdb.toml"), "name = \"app\"\n").unwrap();
        Test { dir, env: Vec::new() }
    }

    /// A project with a migrations directory and its (empty) sum file.
    pub fn new() -> Test {
        let t = Test::empty();
        std::fs::create_dir_all(t.path("migrations")).unwrap();
        t.run(&["hash"]).success();
        t
    }

    /// A project with these migrations, hashed.
    pub fn with(files: &[(&str, &str)]) -> Test {
        let t = Test::new();
        for (name, sql) in files {
            t.write(&format!("migrations/{name}"), sql);
        }
        t.run(&["hash"]).success();
        t
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Test {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.root())
            .env("NO_COLOR", "1")
            .env_remove("CARGO_TERM_COLOR")
            .env_remove("ENVDB_ENV")
            .env_remove("ENVDB_TEST")
            // The OS data directory (where prod lives by default) stays inside the test project.
            .env("XDG_DATA_HOME", self.path("xdg"));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// The dev database's path.
    pub fn dev_db(&self) -> PathBuf {
        self.path(".envdb/dev/app.db")
    }

    /// The prod database's default path (under the test's own OS data directory).
    pub fn prod_db(&self) -> PathBuf {
        self.path("xdg/app/app.db")
    }

    /// Opens the dev database for inspection.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dev_db()).unwrap()
    }

    /// Every file and directory under the project, files with their bytes and directories with
    /// [`DIRECTORY`] (to prove a failed command changed nothing, a new empty directory included).
    /// Left out: empty `*.lock` files, which taking a lock creates and nothing ever writes into,
    /// and `audit.log`, where a refused command on a protected environment is recorded by
    /// design; a test that means "no audit entry" compares [`Test::audit_log`] itself; and
    /// `.envdb/check-cache.json`, `check`'s verdict that any command may cache.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root().to_owned()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.push((p.clone(), DIRECTORY.to_vec()));
                    stack.push(p);
                } else if !p.ends_with("audit.log") && !p.ends_with(".envdb/check-cache.json") {
                    let bytes = std::fs::read(&p).unwrap();
                    if !(bytes.is_empty() && p.to_string_lossy().ends_with(".lock")) {
                        out.push((p, bytes));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// The audit log of the environment whose data directory is `data_dir` (relative to the
    /// project), empty when there is none.
    pub fn audit_log(&self, data_dir: &str) -> String {
        std::fs::read_to_string(self.path(data_dir).join("audit.log")).unwrap_or_default()
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(o: std::process::Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.code(0)
    }

    #[track_caller]
    pub fn failure(&self) -> &Run {
        self.code(1)
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}\n--- stderr\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(!self.stderr.contains(needle), "stderr has {needle:?}\n--- stderr\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// The versions recorded in the dev database's history, in order.
pub fn versions(t: &Test) -> Vec<i64> {
    let db = t.db();
    let mut stmt = db.prepare("SELECT version FROM envdb_migrations ORDER BY version").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// The dev database's tables other than envdb's, by name.
pub fn tables(t: &Test) -> Vec<String> {
    let db = t.db();
    let mut stmt = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'envdb_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Runs git in `dir`, failing the test on error.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_try(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git command's outcome without asserting (with this build's `cargo envdb` on PATH, for hooks).
pub fn git_try(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("PATH", path_with_bin())
        .output()
        .unwrap()
}

/// Fails the calling test with what to do when `just` is not on PATH, instead of a bare panic
/// on spawning it.
#[track_caller]
pub fn require_just() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|d| d.join("just").is_file());
    assert!(
        found,
        "`just` is not installed, and this test runs it: run the test suite with `cargo xtask test`, \
         which installs what the tests call (or install it with `cargo install --locked just`)"
    );
}

/// PATH with the binary's directory first, so that `cargo envdb` finds this build.
pub fn path_with_bin() -> String {
    let dir = Path::new(BIN).parent().unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

/// Holds the application's shared lock on `<rel>` (e.g. `.envdb/dev/app.db.lock`) exactly as the
/// runtime does, for as long as the returned file lives.
pub fn hold_app_lock(t: &Test, rel: &str) -> std::fs::File {
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(t.path(rel)).unwrap();
    lock.lock_shared().unwrap();
    lock
}

/// The first column of every row `sql` returns on a PostgreSQL test session, as text (`NULL`
/// for a null).
pub fn column(client: &mut pgtest::postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            pgtest::postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_owned()),
            _ => None,
        })
        .collect()
}
