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

/// A host application that uses envdb as the README shows: embedded migrations, the runtime,
/// and `envdb::testing::fresh` in a test.
const ENVDB_MAIN: &str = r#"static MIGRATIONS: envdb::Migrations = envdb::embedded!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = envdb::Environment::resolve(&MIGRATIONS, None)?;
    let db = envdb::Db::open_env(&env, &MIGRATIONS)?;
    let rows: i64 = db.conn().query_row("SELECT count(*) FROM example", [], |r| r.get(0))?;
    println!("opened {} with {rows} example rows", db.path().display());
    println!("{}", db.version_info());
    Ok(())
}

#[test]
fn with_a_fresh_database() {
    let db = envdb::testing::fresh(&MIGRATIONS).unwrap();
    db.conn().execute("INSERT INTO example (name) VALUES ('from a test')", []).unwrap();
}
"#;

/// The cargo running these tests.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A host project made by `cargo new`, sharing one target directory across tests.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new().prefix("envdb-host-").tempdir().unwrap();
        let root = dir.path().join("hostapp");
        let out = Command::new(cargo())
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
            // Everything a host needs is in cargo's cache already: no test reaches the network.
            .env("CARGO_NET_OFFLINE", "true")
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
    let envdb = env!("CARGO_MANIFEST_DIR");
    h.run(&["init"])
        .success()
        .stderr_has("Created envdb.toml")
        .stderr_has("Created migrations/0001_initial.sql")
        .stderr_has("Created migrations/envdb.sum")
        .stderr_has("Created seeds/dev.sql")
        .stderr_has("Created .cargo/config.toml")
        .stderr_has("Created justfile")
        .stderr_has("Created build.rs")
        .stderr_has("Updated Cargo.toml")
        .stderr_has(&format!("Source envdb dependencies from path {envdb} (the source checkout holding "));
    assert_eq!(h.read("build.rs"), "fn main() {\n    envdb::build::embed().expect(\"migrations\");\n}\n");
    let manifest = h.read("Cargo.toml");
    let entry = |features: &str| {
        format!("envdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false{features} }}")
    };
    for (section, features) in [
        ("[dependencies]", r#", features = ["runtime"]"#),
        ("[build-dependencies]", ""),
        ("[dev-dependencies]", r#", features = ["runtime", "testing"]"#),
    ] {
        assert!(manifest.contains(&format!("{section}\n{}\n", entry(features))), "{section} in\n{manifest}");
    }
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
fn init_from_a_subdirectory_prints_paths_that_paste_from_there() {
    let h = Host::new();
    let out =
        h.command(BIN, &["init", "--no-justfile", "--no-aliases"]).current_dir(h.root.join("src")).output().unwrap();
    Run::from(out)
        .success()
        .stderr_has("Created ../envdb.toml")
        .stderr_has("Created ../migrations/0001_initial.sql")
        .stderr_has("Created ../build.rs");
    assert!(h.root.join("envdb.toml").is_file());
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
    h.run(&["init", "--dry-run"])
        .success()
        .stderr_has("Would create envdb.toml")
        .stderr_has("Would create justfile")
        .stderr_has("Would create build.rs")
        .stderr_has("Would update Cargo.toml");
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
    let mut command = h.command(BIN, &["run", "-q", "--", "sleep"]);
    // At a terminal, the foreground job takes SIGINT's default action. A suite started as a
    // shell's background job (`cargo xtask test &`, CI runners) inherits SIGINT ignored, and the
    // application would inherit that too: start from the terminal's state.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        })
    };
    let mut child = command
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

/// D17: after `init`, a project fresh from `cargo new` builds, runs and tests against envdb
/// without network; after `init --xtask`, `cargo xtask db` works too.
#[test]
fn init_leaves_a_crate_that_builds_runs_and_tests_offline() {
    let h = Host::new();
    std::fs::write(h.path("src/main.rs"), ENVDB_MAIN).unwrap();
    h.run(&["init"]).success();
    let build = Run::from(h.command(&cargo(), &["build", "--offline", "--quiet"]).output().unwrap());
    build.success();
    h.run(&["run", "-q"])
        .success()
        .stdout_has(&format!("opened {} with 0 example rows", h.path(".envdb/dev/hostapp.db").display()));
    h.run(&["test"]).success().stdout_has("test with_a_fresh_database ... ok");

    h.run(&["init", "--xtask"])
        .success()
        .stderr_has("Created xtask/Cargo.toml")
        .stderr_has("Created xtask/src/main.rs")
        .stderr_has("Updated Cargo.toml");
    let envdb = env!("CARGO_MANIFEST_DIR");
    let xtask = h.read("xtask/Cargo.toml");
    assert!(xtask.contains(&format!("envdb = {{ package = \"cargo-envdb\", path = {envdb:?} }}")), "{xtask}");
    let migrate = Run::from(h.command(&cargo(), &["xtask", "db", "migrate", "--env", "test"]).output().unwrap());
    migrate.success().stderr_has("Environment test .envdb/test/hostapp.db");
    assert!(h.path(".envdb/test/hostapp.db").exists());
    let before = h.files();
    h.run(&["init", "--xtask"]).success().stderr_has("already set up");
    assert_eq!(before, h.files(), "a second init --xtask changed something");
}

/// D17: the dependencies point where the running cargo-envdb came from: cargo's install record
/// (path, git and rev, or a crates.io version), else the checkout it was built from; the flag wins.
#[test]
fn init_points_the_dependencies_where_the_tool_came_from() {
    let install = tempfile::Builder::new().prefix("envdb-install-").tempdir().unwrap();
    std::fs::create_dir(install.path().join("bin")).unwrap();
    let installed = install.path().join("bin/cargo-envdb");
    if std::fs::hard_link(BIN, &installed).is_err() {
        std::fs::copy(BIN, &installed).unwrap();
    }
    let record = install.path().join(".crates2.json");
    let init = |h: &Host, extra: &[&str]| {
        let mut args = vec!["init", "--no-justfile", "--no-aliases"];
        args.extend(extra);
        Run::from(h.command(installed.to_str().unwrap(), &args).output().unwrap())
    };
    let cases = [
        (
            "cargo-envdb 0.1.0 (git+https://example.com/envdb.git?branch=main#0123abcd)",
            r#"git = "https://example.com/envdb.git", rev = "0123abcd""#,
            "git https://example.com/envdb.git at 0123abcd",
        ),
        (
            "cargo-envdb 0.3.1 (registry+https://github.com/rust-lang/crates.io-index)",
            r#"version = "0.3.1""#,
            "version 0.3.1 from crates.io",
        ),
        ("cargo-envdb 0.1.0 (path+file:///opt/my%20envdb)", r#"path = "/opt/my envdb""#, "path /opt/my envdb"),
    ];
    for (id, keys, said) in cases {
        let json = serde_json::json!({ "installs": { id: { "bins": ["cargo-envdb"], "features": [] } } });
        std::fs::write(&record, json.to_string()).unwrap();
        let h = Host::new();
        init(&h, &[]).success().stderr_has(&format!("Source envdb dependencies from {said} (cargo's install record"));
        let manifest = h.read("Cargo.toml");
        assert_eq!(manifest.matches(keys).count(), 3, "{manifest}");
    }

    // The flag wins over the record.
    let h = Host::new();
    init(&h, &["--envdb-source", "git:ssh://git@example.com/e.git@feed"]).success();
    assert_eq!(h.read("Cargo.toml").matches(r#"git = "ssh://git@example.com/e.git", rev = "feed""#).count(), 3);

    // Without a record, the checkout the binary was built from.
    std::fs::remove_file(&record).unwrap();
    let h = Host::new();
    init(&h, &[]).success().stderr_has(&format!(
        "Source envdb dependencies from path {} (the source checkout it was built from",
        env!("CARGO_MANIFEST_DIR")
    ));

    // A bad source changes nothing.
    let h = Host::new();
    let before = h.files();
    let r = h.run(&["init", "--envdb-source", "svn:x"]);
    r.code(2).stderr_has("`svn` is not a source kind; expected path:DIR, git:URL@REV or version:X");
    h.run(&["init", "--envdb-source", "git:https://example.com/e.git"]).code(2).stderr_has("git:URL@REV");
    h.run(&["init", "--envdb-source", "path:/nonexistent/envdb"])
        .failure()
        .stderr_has("--envdb-source path:/nonexistent/envdb: no such directory");
    h.run(&["init", "--envdb-source", "path:src"])
        .failure()
        .stderr_has("holds no Cargo.toml of the package `cargo-envdb`; nothing was written");
    assert_eq!(before, h.files());
}

/// D17: an envdb dependency and a build script the package already has are kept and reported;
/// the entries added beside the dependency use its source; the one line to add is printed.
#[test]
fn init_keeps_an_existing_envdb_dependency_and_build_script() {
    let h = Host::new();
    let envdb = env!("CARGO_MANIFEST_DIR");
    let mut manifest = h.read("Cargo.toml");
    manifest.push_str(&format!(
        "# pinned by us\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, features = [\"runtime\"] }} # ours\n"
    ));
    std::fs::write(h.path("Cargo.toml"), &manifest).unwrap();
    let build = "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n}\n";
    std::fs::write(h.path("build.rs"), build).unwrap();
    h.run(&["init", "--envdb-source", "version:9.9"])
        .success()
        .stderr_has("dependency `envdb` in [dependencies] already exists; kept as it is")
        .stderr_lacks("Source envdb")
        .stdout_has("add this line to the `main` of build.rs:\n\n    envdb::build::embed().expect(\"migrations\");");
    assert_eq!(h.read("build.rs"), build);
    let merged = h.read("Cargo.toml");
    assert!(merged.starts_with(&manifest), "{merged}");
    assert!(!merged.contains("9.9"), "{merged}");
    assert!(merged.contains(&format!(
        "[build-dependencies]\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false }}"
    )));
}

/// D17: in a workspace of several packages, init asks which one opens the database.
#[test]
fn init_in_a_workspace_of_several_packages_needs_package() {
    let dir = tempfile::Builder::new().prefix("envdb-ws-").tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = [\"api\", \"worker\"]\nresolver = \"3\"\n")
        .unwrap();
    for member in ["api", "worker"] {
        let out =
            Command::new(cargo()).args(["new", "--quiet", "--vcs", "none", member]).current_dir(dir.path()).output();
        assert!(out.unwrap().status.success());
    }
    let run = |args: &[&str]| {
        Run::from(Command::new(BIN).args(args).current_dir(dir.path()).env("NO_COLOR", "1").output().unwrap())
    };
    run(&["init"])
        .failure()
        .stderr_has("this workspace has several (api, worker); nothing was written")
        .stderr_has("--package NAME");
    assert!(!dir.path().join("envdb.toml").exists());
    run(&["init", "-p", "nosuch"])
        .failure()
        .stderr_has("the workspace has no package `nosuch` (its packages: api, worker)");
    run(&["init", "--package", "worker"])
        .success()
        .stderr_has("Created worker/build.rs")
        .stderr_has("Updated worker/Cargo.toml");
    assert!(dir.path().join("envdb.toml").exists());
    assert!(!dir.path().join("api/build.rs").exists());
    let worker = std::fs::read_to_string(dir.path().join("worker/Cargo.toml")).unwrap();
    assert!(worker.contains("[build-dependencies]\nenvdb = "), "{worker}");
    // Run again, init finds the package that depends on envdb by itself.
    run(&["init"]).success().stderr_has("already set up");
}

/// PATH without the directories that hold `just`, to read justfiles as init does without it.
fn path_without_just() -> String {
    let path = path_with_bin();
    let dirs: Vec<_> = std::env::split_paths(&path).filter(|d| !d.join("just").exists()).collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// C: a recipe written with `@`, with parameters and defaults, behind an attribute, or an alias
/// of the same name is found (with just installed, and by reading the text without it), so the
/// merged justfile still works with real just; a header inside a multi-line string is not one.
#[test]
fn init_finds_every_way_a_justfile_defines_a_name() {
    let cases = [
        ("quiet", "@dev-start:\n    echo mine\n", "recipe"),
        ("defaults", "dev-start env=\"dev\" port=('80' + '80') *ARGS:\n    echo {{env}} {{port}}\n", "recipe"),
        ("colon in a default", "dev-start sep=\":\" $x=`echo a:b`:\n    echo\n", "recipe"),
        ("alias", "start:\n    echo mine\n\nalias dev-start := start\n", "alias"),
        ("attribute", "[private]\n@dev-start env=('d' + 'ev'):\n    echo\n", "recipe"),
        ("multi-line string", "help := '''\ndb-check: not a recipe\n'''\n\ndev-start:\n    echo {{help}}\n", "recipe"),
    ];
    for (with_just, path) in [(true, path_with_bin()), (false, path_without_just())] {
        if with_just {
            require_just();
        }
        for (case, justfile, kind) in cases {
            let h = Host::new();
            std::fs::write(h.path("justfile"), justfile).unwrap();
            let r = Run::from(h.command(BIN, &["init", "--no-aliases", "-v"]).env("PATH", &path).output().unwrap());
            r.success().stderr_has(&format!("justfile {kind} `dev-start` already exists; kept as it is"));
            if !with_just {
                r.stderr_has("just is not installed; reading the justfile's text");
            }
            let merged = h.read("justfile");
            assert!(merged.starts_with(justfile), "{case}: {merged}");
            assert_eq!(merged.matches("dev-start").count(), justfile.matches("dev-start").count(), "{case}: {merged}");
            let summary = h.command("just", &["--summary"]).output().unwrap();
            assert!(
                summary.status.success(),
                "{case} (just {with_just}): {}\n{merged}",
                String::from_utf8_lossy(&summary.stderr)
            );
            let names =
                String::from_utf8_lossy(&summary.stdout).split_whitespace().map(String::from).collect::<Vec<_>>();
            for added in ["db-check", "dev-reset", "prod-upgrade", "test"] {
                assert!(names.iter().any(|n| n == added), "{case}: {added} missing from {names:?}");
            }
        }
    }
}

/// C: a justfile named `Justfile` (any case) is the one merged into, not a second `justfile`
/// beside it, which just would refuse as ambiguous.
#[test]
fn init_merges_into_a_capitalised_justfile() {
    let h = Host::new();
    std::fs::write(h.path("Justfile"), "dev-start:\n    echo mine\n").unwrap();
    h.run(&["init", "--no-aliases"]).success().stderr_has("Updated Justfile");
    assert!(!h.path("justfile").exists() || h.path("justfile").canonicalize().unwrap() == h.path("Justfile"));
    let summary = h.command("just", &["--summary"]).output().unwrap();
    assert!(summary.status.success(), "{}", String::from_utf8_lossy(&summary.stderr));
}
