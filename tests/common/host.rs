//! A host application built in a test: a real crate on envdb's runtime (as the README shows it),
//! with a `Test` project's migrations embedded by its build script, built by cargo into a target
//! directory the tests share, and run as a deployed binary would be.

use super::{Run, Test};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host's library: its migrations, for its own tests.
const LIB: &str = "pub static MIGRATIONS: envdb::Migrations = envdb::embedded!();\n\
\n\
#[test]\n\
fn a_unit_test_cannot_open_prod() {\n\
    let e = envdb::Environment::resolve(&MIGRATIONS, Some(\"prod\")).unwrap_err().to_string();\n\
    assert!(e.contains(\"refusing to open the protected environment `prod`\"), \"{e}\");\n\
}\n";

/// The host's binary: the README's `main`, printing what opening did; `hold` keeps the database
/// open until stdin closes.
const MAIN: &str = r#"use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = envdb::Environment::resolve(&host::MIGRATIONS, None)?;
    let db = envdb::Db::open_env_with(&env, &host::MIGRATIONS, options()?)?;
    for m in &db.migrated().applied {
        eprintln!("migrated: {}", m.name);
    }
    if let Some(backup) = db.backup() {
        eprintln!("backup: {}", backup.display());
    }
    match args.first().map(String::as_str) {
        Some("hold") => {
            println!("holding");
            std::io::stdout().flush()?;
            let _ = std::io::stdin().read(&mut [0u8; 1])?;
        }
        Some("read") => {
            let n: i64 = db.conn().query_row("SELECT count(*) FROM a", [], |r| r.get(0))?;
            println!("rows: {n}");
        }
        Some("write") => {
            if db.is_behind() {
                eprintln!("behind: this write will fail");
            }
            db.conn().execute("INSERT INTO a VALUES (1)", [])?;
        }
        _ => {}
    }
    println!("{}", db.version_info());
    Ok(())
}
"#;

/// The same `main` on PostgreSQL (`PgDb`, feature `postgres`): `hold` keeps its session open.
const MAIN_PG: &str = r#"use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = envdb::Environment::resolve(&host::MIGRATIONS, None)?;
    let mut db = envdb::PgDb::open_env_with(&env, &host::MIGRATIONS, options()?)?;
    for m in &db.migrated().applied {
        eprintln!("migrated: {}", m.name);
    }
    if let Some(backup) = db.backup() {
        eprintln!("backup: {}", backup.display());
    }
    if args.first().map(String::as_str) == Some("hold") {
        println!("holding");
        std::io::stdout().flush()?;
        let _ = std::io::stdin().read(&mut [0u8; 1])?;
    }
    println!("{}", db.version_info());
    Ok(())
}
"#;

/// What both `main`s read their options with.
const OPTIONS: &str = r#"
/// The options the test asks for through HOST_* variables.
fn options() -> Result<envdb::Options, Box<dyn std::error::Error>> {
    let ms = |k: &str| std::env::var(k).ok().map(|v| v.parse().map(std::time::Duration::from_millis)).transpose();
    let mut opts = envdb::Options::default();
    if let Some(t) = ms("HOST_LOCK_TIMEOUT_MS")? {
        opts.lock_timeout = t;
    }
    if let Some(t) = ms("HOST_IN_USE_MS")? {
        opts.in_use = envdb::InUse::Wait(t);
    }
    if std::env::var("HOST_IN_USE").as_deref() == Ok("proceed") {
        opts.in_use = envdb::InUse::Proceed;
    }
    opts.all_or_nothing = std::env::var("HOST_ALL_OR_NOTHING").is_ok();
    if std::env::var("HOST_POLICY").as_deref() == Ok("read-only") {
        opts.policy = envdb::Policy::ReadOnlyBehind;
    }
    Ok(opts)
}
"#;

/// An integration test of the host that tries to reach prod the way a careless test would.
const TEST: &str = r#"#[test]
fn an_integration_test_cannot_open_prod() {
    // ENVDB_ENV=prod comes from the shell that runs `cargo test`.
    let e = envdb::Environment::resolve(&host::MIGRATIONS, None).unwrap_err().to_string();
    assert!(e.contains("refusing to open the protected environment `prod`"), "{e}");
    // An environment made protected by hand is refused by the runtime itself.
    let mut env = envdb::Environment::resolve(&host::MIGRATIONS, Some("test")).unwrap();
    env.spec.protected = true;
    let e = envdb::Db::open_env(&env, &host::MIGRATIONS).err().expect("refused").to_string();
    assert!(e.contains("from a test run"), "{e}");
}
"#;

/// A host crate in `t`'s project, named `name` (each test its own, so that binaries in the
/// shared target directory do not overwrite each other).
pub struct Host<'t> {
    t: &'t Test,
    name: String,
}

impl<'t> Host<'t> {
    /// Writes the host crate into `t` (Cargo.toml, build.rs, src/, tests/) and builds it.
    pub fn build(t: &'t Test, name: &str) -> Host<'t> {
        Host::build_with(t, name, "runtime", MAIN)
    }

    /// A host on PostgreSQL (`PgDb`): the same options, `hold` keeps its session open.
    pub fn build_pg(t: &'t Test, name: &str) -> Host<'t> {
        Host::build_with(t, name, "postgres", MAIN_PG)
    }

    fn build_with(t: &'t Test, name: &str, feature: &str, main: &str) -> Host<'t> {
        let envdb = env!("CARGO_MANIFEST_DIR");
        t.write(
            "Cargo.toml",
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [lib]\nname = \"host\"\n\n\
                 [dependencies]\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false, features = [\"{feature}\"] }}\n\n\
                 [build-dependencies]\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false }}\n\n[workspace]\n"
            ),
        );
        t.write("build.rs", "fn main() { envdb::build::embed().expect(\"migrations\"); }\n");
        t.write("src/lib.rs", LIB);
        t.write("src/main.rs", format!("{main}{OPTIONS}"));
        t.write("tests/prod.rs", TEST);
        let host = Host { t, name: name.to_owned() };
        host.cargo(&["build", "--quiet"], &[]).success();
        host
    }

    /// Rebuilds after the project's migrations changed.
    pub fn rebuild(&self) {
        self.cargo(&["build", "--quiet"], &[]).success();
    }

    /// Runs cargo on the host crate.
    pub fn cargo(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(args).current_dir(self.t.root()).env("CARGO_TARGET_DIR", target_dir()).env_remove("ENVDB_TEST");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    }

    /// The built binary.
    pub fn bin(&self) -> PathBuf {
        target_dir().join("debug").join(&self.name)
    }

    /// The binary run like `Test::command` runs the CLI (prod's data under the project's `xdg/`).
    pub fn command(&self, args: &[&str]) -> Command {
        command(&self.bin(), self.t.path("xdg").as_path(), args)
    }

    pub fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    }
}

/// A binary run without the test's ENVDB_* variables, its OS data directory at `xdg`.
pub fn command(bin: &Path, xdg: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args).env_remove("ENVDB_ENV").env_remove("ENVDB_TEST").env("XDG_DATA_HOME", xdg);
    cmd
}

/// Starts a host binary run with `hold` (`cmd`) and waits until it says it holds the database.
pub fn holding(cmd: &mut Command) -> std::process::Child {
    use std::io::BufRead as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "holding");
    child
}

/// The target directory every host crate builds into (its dependencies compile once).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-host-target")
}
