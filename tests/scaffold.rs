//! `init`, `run`, `test`, `reset` and `seed` in real host projects made with `cargo new`, with
//! real `cargo` and real `just`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOST_MAIN: &str = r#"fn main() {
    for k in ["ENVDB_ENV", "DATABASE_URL", "ENVDB_DATA_DIR", "ENVDB_TEST"] {
        println!("{k}={}", std::env::var(k).unwrap_or_default());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args={args:?}");
    if let Some(code) = args.iter().find_map(|a| a.strip_prefix("exit=")) {
        std::process::exit(code.parse().unwrap());
    }
    if args.iter().any(|a| a == "sleep") {
        use std::io::Write as _;
        println!("pid={}", std::process::id());
        std::io::stdout().flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

#[test]
fn sees_the_test_environment() {
    assert_eq!(std::env::var("ENVDB_ENV").unwrap(), "test");
    assert_eq!(std::env::var("ENVDB_TEST").unwrap(), "1");
    assert!(std::env::var("DATABASE_URL").unwrap().ends_with("/.envdb/test/hostapp.db"));
}
"#;

/// A host project made by `cargo new`, sharing one target directory across tests.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new().prefix("envdb-host-").tempdir().unwrap();
        let root = dir.path().join("hostapp");
        let out = Command::new("cargo")
            .args(["new", "--quiet", "--vcs", "none", "--name", "hostapp"])
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(root.join("src/main.rs"), HOST_MAIN).unwrap();
        Host { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        if program == "just" {
            require_just();
        }
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .env("PATH", path_with_bin())
            .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("hosts-target"))
            .env("XDG_DATA_HOME", self.path("xdg"))
            .env_remove("ENVDB_ENV")
            .env_remove("ENVDB_TEST");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(BIN, args).output().unwrap())
    }

    /// Every file except build output, with its content.
    fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if !p.to_string_lossy().contains("/.envdb/") {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }
}

#[test]
fn init_outside_any_cargo_project() {
    let dir = tempfile::tempdir().unwrap();
    let r = Run::from(Command::new(BIN).arg("init").current_dir(dir.path()).output().unwrap());
    r.failure().stderr_has("init needs a cargo package or workspace").stderr_has("cargo new");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn init_writes_everything_and_twice_changes_nothing() {
    let h = Host::new();
    h.run(&["init"])
        .success()
        .stderr_has("Created envdb.toml")
        .stderr_has("Created migrations/0001_initial.sql")
        .stderr_has("Created migrations/envdb.sum")
        .stderr_has("Created seeds/dev.sql")
        .stderr_has("Created .cargo/config.toml")
        .stderr_has("Created justfile")
        .stdout_has("fn main() { envdb::build::embed().expect(\"migrations\"); }")
        .stdout_has("[build-dependencies]");
    assert!(h.read("envdb.toml").contains("name = \"hostapp\""));
    assert!(h.read(".gitignore").contains(".envdb/"));
    assert!(h.read(".gitattributes").contains("*.sql text eol=lf"));
    assert!(h.read(".cargo/config.toml").contains("dev-reset = \"envdb reset --env dev\""));
    h.run(&["check"]).success();
    let before = h.files();
    h.run(&["init"]).success().stderr_has("already set up");
    assert_eq!(before, h.files(), "a second init changed something");
}

#[test]
fn init_merges_with_existing_files_and_keeps_every_line() {
    let h = Host::new();
    let config = "# my cargo settings\n[build]\n# fewer jobs on this laptop\njobs = 2\n\n[alias]\ndev = \"run --release\" # my own dev\n";
    let justfile = "# my recipes\nset dotenv-load\n\ndev-start:\n    echo mine\n\nlint:\n    cargo clippy\n";
    std::fs::create_dir_all(h.path(".cargo")).unwrap();
    std::fs::write(h.path(".cargo/config.toml"), config).unwrap();
    std::fs::write(h.path("justfile"), justfile).unwrap();
    std::fs::write(h.path(".gitignore"), "/target\n").unwrap();
    h.run(&["init"])
        .success()
        .stderr_has("alias `dev` already exists; kept as it is")
        .stderr_has("justfile recipe `dev-start` already exists; kept as it is")
        .stderr_has("Updated .cargo/config.toml")
        .stderr_has("Updated justfile");
    let new_config = h.read(".cargo/config.toml");
    for line in config.lines() {
        assert!(new_config.contains(line), "lost {line:?}:\n{new_config}");
    }
    assert!(new_config.contains("dev-status = "));
    let new_just = h.read("justfile");
    assert!(new_just.starts_with(justfile), "{new_just}");
    assert!(new_just.contains("db-check:") && new_just.contains("prod-upgrade:"));
    assert_eq!(new_just.matches("dev-start").count(), 1, "{new_just}");
    assert_eq!(h.read(".gitignore"), "/target\n.envdb/\n");
}

#[test]
fn init_refuses_an_invalid_cargo_config_and_writes_nothing() {
    let h = Host::new();
    std::fs::create_dir_all(h.path(".cargo")).unwrap();
    std::fs::write(h.path(".cargo/config.toml"), "[alias\ndev = 1\n").unwrap();
    let before = h.files();
    // cargo itself rejects the file, and init reports it and writes nothing.
    let r = h.run(&["init"]);
    r.failure().stderr_has(".cargo/config.toml");
    assert_eq!(before, h.files());
}

#[test]
fn init_dry_run_and_opt_outs() {
    let h = Host::new();
    let before = h.files();
    h.run(&["init", "--dry-run"]).success().stderr_has("Would create envdb.toml").stderr_has("Would create justfile");
    assert_eq!(before, h.files());
    h.run(&["init", "--no-justfile", "--no-aliases"]).success();
    assert!(!h.path("justfile").exists());
    assert!(!h.path(".cargo/config.toml").exists());
}

#[test]
fn init_with_xtask_adds_a_workspace_member() {
    let h = Host::new();
    h.run(&["init", "--xtask"]).success().stderr_has("Created xtask/Cargo.toml").stderr_has("Updated Cargo.toml");
    assert!(h.read("xtask/src/main.rs").contains("envdb::cli::run_from"));
    assert!(h.read(".cargo/config.toml").contains("xtask = \"run --quiet --package xtask --\""));
    assert!(h.read(".cargo/config.toml").contains("dev-reset = \"xtask db reset --env dev\""));
    assert!(h.read("justfile").contains("cargo xtask db check"));
    let cargo = h.read("Cargo.toml");
    assert!(cargo.contains("[workspace]") && cargo.contains("members = [\"xtask\"]"), "{cargo}");
    let before = h.files();
    h.run(&["init", "--xtask"]).success();
    assert_eq!(before, h.files());
}

#[test]
fn the_generated_justfile_runs_with_real_just() {
    let h = Host::new();
    h.run(&["init"]).success();
    let list = h.command("just", &["--list"]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let listed = String::from_utf8_lossy(&list.stdout);
    for recipe in ["dev-start", "dev-reset", "dev-status", "test", "db-check", "prod-upgrade"] {
        assert!(listed.contains(recipe), "{recipe} missing from\n{listed}");
    }
    let check = Run::from(h.command("just", &["db-check"]).output().unwrap());
    check.success().stderr_has("Checked 1 migration(s)");
    let reset = Run::from(h.command("just", &["dev-reset"]).output().unwrap());
    reset.success().stderr_has("Seeded");
    let start = Run::from(h.command("just", &["dev-start", "hello"]).output().unwrap());
    start.success().stdout_has("ENVDB_ENV=dev").stdout_has("args=[\"hello\"]");
}

#[test]
fn run_sets_the_environment_for_the_child_and_passes_its_exit_code() {
    let h = Host::new();
    h.run(&["init"]).success();
    let r = h.run(&["run", "-q", "--", "exit=3", "two words"]);
    r.code(3)
        .stdout_has("ENVDB_ENV=dev")
        .stdout_has(&format!("DATABASE_URL=sqlite://{}", h.path(".envdb/dev/hostapp.db").display()))
        .stdout_has(&format!("ENVDB_DATA_DIR={}", h.path(".envdb/dev").display()))
        .stdout_has("args=[\"exit=3\", \"two words\"]");
    assert!(h.path(".envdb/dev/hostapp.db").exists(), "migrated before running");
    h.run(&["run", "--env", "test", "--no-migrate", "-q"]).success().stdout_has("ENVDB_ENV=test");
    assert!(!h.path(".envdb/test/hostapp.db").exists());
    // The variables are set for the child only.
    assert!(std::env::var("ENVDB_ENV").is_err());
}

#[test]
fn run_with_a_package_or_binary_that_does_not_exist() {
    let h = Host::new();
    h.run(&["init"]).success();
    let r = h.run(&["run", "-p", "nosuch"]);
    assert_eq!(r.code, 101, "cargo's exit code passes through:\n{}", r.stderr);
    r.stderr_has("nosuch");
    let r = h.run(&["run", "--bin", "nosuch"]);
    assert_eq!(r.code, 101);
    r.stderr_has("no bin target named `nosuch`");
}

#[test]
fn run_against_prod_without_a_terminal_needs_confirm() {
    let h = Host::new();
    h.run(&["init"]).success();
    h.run(&["run", "--env", "prod"]).failure().stderr_has("PROTECTED ENVIRONMENT: prod").stderr_has("--confirm prod");
    assert!(!h.path("xdg/hostapp/hostapp.db").exists());
    h.run(&["run", "--env", "prod", "--confirm", "prod", "-q"]).success().stdout_has("ENVDB_ENV=prod");
}

#[test]
fn test_runs_cargo_test_against_the_test_database() {
    let h = Host::new();
    h.run(&["init"]).success();
    let r = h.run(&["test"]);
    r.success().stderr_has("Environment test .envdb/test/hostapp.db");
    assert!(h.path(".envdb/test/hostapp.db").exists());
    // Even with ENVDB_ENV=prod in the shell, the test run stays on test and cannot open prod.
    let r = Run::from(h.command(BIN, &["test"]).env("ENVDB_ENV", "prod").output().unwrap());
    r.success();
    let r = Run::from(h.command(BIN, &["test", "--env", "prod"]).output().unwrap());
    r.failure().stderr_has("refusing to open the protected environment `prod`");
    // Ephemeral: a new database every run.
    std::fs::write(h.path("envdb.toml"), h.read("envdb.toml").replace("ephemeral = false", "ephemeral = true"))
        .unwrap();
    h.run(&["test"]).success().stderr_has("(ephemeral)").stderr_has("0 → 1");
    // A failing test's exit code passes through.
    std::fs::write(h.path("src/main.rs"), format!("{HOST_MAIN}\n#[test]\nfn fails() {{ panic!(\"no\") }}\n")).unwrap();
    assert_eq!(h.run(&["test"]).code, 101);
}

#[test]
fn reset_and_seed() {
    let h = Host::new();
    h.run(&["init"]).success();
    h.run(&["migrate"]).success();
    h.run(&["seed"]).success().stderr_has("Seeded .envdb/dev/hostapp.db from seeds/dev.sql");
    let rows = |h: &Host| -> i64 {
        rusqlite::Connection::open(h.path(".envdb/dev/hostapp.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM example", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&h), 1);
    h.run(&["seed"]).success();
    assert_eq!(rows(&h), 2);
    h.run(&["reset"]).success().stderr_has("Backed up").stderr_has("Removed").stderr_has("Seeded");
    assert_eq!(rows(&h), 1);
    h.run(&["dev-reset"]).success();
    // A failing seed is rolled back entirely and names the file and line.
    std::fs::write(
        h.path("seeds/dev.sql"),
        "INSERT INTO example (name) VALUES ('a');\nINSERT INTO nowhere VALUES (1);\n",
    )
    .unwrap();
    h.run(&["seed"]).failure().stderr_has("seeds/dev.sql failed at line 2").stderr_has("no such table: nowhere");
    assert_eq!(rows(&h), 1);
    h.run(&["seed", "--env", "test"]).failure().stderr_has("`test` has no seed file");
    // Reset while the application holds its lock.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(h.path(".envdb/dev/hostapp.db.lock"))
        .unwrap();
    lock.lock_shared().unwrap();
    h.run(&["reset"]).failure().stderr_has("the database is in use");
    drop(lock);
    h.run(&["reset", "--env", "prod"]).failure().stderr_has("--confirm prod");
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_reaches_the_child() {
    use std::io::BufRead as _;
    use std::os::unix::process::CommandExt as _;
    let h = Host::new();
    h.run(&["init"]).success();
    h.run(&["run", "-q", "--", "exit=0"]).success(); // build first, outside the timing below
    let mut child = h
        .command(BIN, &["run", "-q", "--", "sleep"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let pid: i32 = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| l.strip_prefix("pid=").map(|p| p.parse().unwrap()))
        .expect("the application started");
    // Ctrl-C at a terminal signals the whole foreground process group.
    let started = std::time::Instant::now();
    unsafe { libc::killpg(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && started.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(started.elapsed().as_secs() < 10, "the application did not stop on Ctrl-C");
}
