//! `cargo xtask test` through the real xtask binary, on a PATH that lacks the tools the suite
//! calls: it installs them (through `$CARGO` and, as root, `apt-get`), then runs
//! `$CARGO test --workspace` with the arguments passed through and a PATH that reaches them.
//! `$CARGO` and `apt-get` are small scripts here that record how they were called.

use std::path::{Path, PathBuf};
use std::process::Command;

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// A scratch machine: `bin/` is the whole PATH, `cargo-home/` is CARGO_HOME, `log` records calls,
/// `pg/bin/` is PostgreSQL's bin directory and `pg/pgbouncer` PgBouncer (empty until installed).
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let m = Machine { dir: tempfile::Builder::new().prefix("xtask-test-").tempdir().unwrap() };
        std::fs::create_dir_all(m.path("bin")).unwrap();
        // `$CARGO install --locked just` puts an executable `just` into $CARGO_HOME/bin;
        // `$CARGO test …` records its arguments and PATH and exits 7.
        m.script(
            "bin/fake-cargo",
            r#"echo "cargo $*" >> "$LOG"
case "$1" in
  install) /bin/mkdir -p "$CARGO_HOME/bin"; printf '#!/bin/sh\n' > "$CARGO_HOME/bin/$3"; /bin/chmod +x "$CARGO_HOME/bin/$3" ;;
  test) echo "PATH=$PATH" >> "$LOG"; exit 7 ;;
esac"#,
        );
        m.script(
            "bin/apt-get",
            r#"echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "$LOG"
tool() { printf '#!/bin/sh\n' > "$1"; /bin/chmod +x "$1"; }
if [ "$1" = install ]; then for p in "$@"; do case "$p" in
  git) tool "$BIN/git" ;;
  postgresql) /bin/mkdir -p "$PG/bin"; tool "$PG/bin/initdb"; tool "$PG/bin/pg_ctl" ;;
  pgbouncer) /bin/mkdir -p "$PG"; tool "$PG/pgbouncer" ;;
esac; done; fi"#,
        );
        m
    }

    /// PostgreSQL's server and PgBouncer, installed.
    fn with_postgres(self) -> Machine {
        std::fs::create_dir_all(self.path("pg/bin")).unwrap();
        for tool in ["pg/bin/initdb", "pg/bin/pg_ctl", "pg/pgbouncer"] {
            self.script(tool, "");
        }
        self
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn script(&self, rel: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.path(rel);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn xtask(&self, args: &[&str]) -> std::process::Output {
        Command::new(XTASK)
            .args(args)
            .env_clear()
            .env("PATH", self.path("bin"))
            .env("CARGO", self.path("bin/fake-cargo"))
            .env("CARGO_HOME", self.path("cargo-home"))
            .env("HOME", self.dir.path())
            .env("LOG", self.path("log"))
            .env("BIN", self.path("bin"))
            .env("PG", self.path("pg"))
            .env("ENVDB_PG_BINDIR", self.path("pg/bin"))
            .env("ENVDB_PGBOUNCER", self.path("pg/pgbouncer"))
            .output()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }
}

fn root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn missing_tools_are_installed_then_the_suite_runs_with_them() {
    let m = Machine::new();
    let out = m.xtask(&["test", "--test", "scaffold", "--", "--nocapture"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = m.log();
    if root() {
        assert_eq!(out.status.code(), Some(7), "the suite's exit code passes through\n{stderr}\n{log}");
        let cargo_bin = m.path("cargo-home/bin");
        let expected = format!(
            "apt-get update DEBIAN_FRONTEND=noninteractive\n\
             apt-get install -y --no-install-recommends git postgresql pgbouncer DEBIAN_FRONTEND=noninteractive\n\
             cargo install --locked just\n\
             cargo test --workspace --test scaffold -- --nocapture\n\
             PATH={}:{}\n",
            m.path("bin").display(),
            cargo_bin.display()
        );
        assert_eq!(log, expected, "{stderr}");
        assert!(stderr.contains("`just` is missing"), "{stderr}");
        assert!(stderr.contains("`initdb` is missing") && stderr.contains("`pgbouncer` is missing"), "{stderr}");
    } else {
        // Without root, the exact command is printed and nothing runs: no apt-get, no install, no tests.
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(
                "sudo apt-get update && sudo apt-get install -y --no-install-recommends git postgresql pgbouncer"
            ),
            "{stderr}"
        );
        assert_eq!(log, "");
    }
}

#[test]
fn nothing_is_installed_when_every_tool_is_there() {
    let m = Machine::new().with_postgres();
    m.script("bin/git", "");
    m.script("bin/just", "");
    let out = m.xtask(&["test"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(m.log(), format!("cargo test --workspace\nPATH={}\n", m.path("bin").display()));
}

#[test]
fn a_tool_only_in_cargos_bin_directory_is_put_on_the_tests_path() {
    let m = Machine::new().with_postgres();
    m.script("bin/git", "");
    std::fs::create_dir_all(m.path("cargo-home/bin")).unwrap();
    m.script("cargo-home/bin/just", "");
    let out = m.xtask(&["test", "-q"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let path = format!("{}:{}", m.path("bin").display(), m.path("cargo-home/bin").display());
    assert_eq!(m.log(), format!("cargo test --workspace -q\nPATH={path}\n"));
}

#[test]
fn a_failed_install_stops_before_the_tests() {
    let m = Machine::new().with_postgres();
    m.script("bin/git", "");
    m.script("bin/fake-cargo", r#"echo "cargo $*" >> "$LOG"; exit 101"#);
    let out = m.xtask(&["test"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`$CARGO install --locked just` failed") && stderr.contains("the tests were not run"),
        "{stderr}"
    );
    assert_eq!(m.log(), "cargo install --locked just\n");
}

#[test]
fn without_cargo_set_it_refuses_rather_than_guess_a_cargo() {
    let m = Machine::new();
    let out = Command::new(XTASK).args(["test"]).env_remove("CARGO").env("PATH", Path::new("/nonexistent")).output();
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CARGO is not set: run this as `cargo xtask …`"), "{stderr}");
    assert_eq!(m.log(), "");
}
