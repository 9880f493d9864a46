//! The command line as a cargo subcommand: invocation forms, global options, exit codes, help.

mod common;
use common::*;

#[test]
fn runs_as_cargo_subcommand_and_directly() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    t.run(&["envdb", "check"]).success().stderr_has("Checked 1 migration(s)");
    t.run(&["check"]).success().stderr_has("Checked 1 migration(s)");
}

#[test]
fn global_options_before_or_after_the_command() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    let before = t.run(&["--format", "json", "check"]);
    let after = t.run(&["check", "--format", "json"]);
    before.success();
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.json(), serde_json::json!([]));
    // Quiet before or after the command: success, and not a line on stderr.
    for args in [&["-q", "check"], &["check", "-q"]] {
        let r = t.run(args);
        r.success();
        assert_eq!(r.stderr, "", "{args:?}");
    }
}

#[test]
fn exit_codes() {
    let t = Test::new();
    t.run(&["--version"]).success().stdout_has("cargo envdb 0.1.0");
    t.run(&["--help"]).success().stdout_has("Exit codes:");
    t.run(&["no-such-command"]).code(2);
    t.run(&["check", "--no-such-flag"]).code(2);
    t.run(&["new"]).code(2);
    t.write("migrations/1_bad.sql", "SELECT 1;");
    t.run(&["check"]).failure();
}

#[test]
fn errors_print_error_then_causes() {
    let t = Test::empty();
    t.write("envdb.toml", "name = \"app\"\nmigrations = 3\n");
    t.run(&["check"])
        .failure()
        .stderr_has("error: invalid ")
        .stderr_has("envdb.toml")
        .stderr_has("line 2")
        .stderr_has("migrations");
}

#[test]
fn colour_follows_flags_and_environment() {
    let t = Test::new();
    t.write("migrations/1_bad.sql", "SELECT 1;");
    // stderr is a pipe, so only a forced choice colours it; NO_COLOR beats CLICOLOR_FORCE.
    let forced = t.command(&["check"]).env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1").output().unwrap();
    assert!(String::from_utf8_lossy(&forced.stderr).contains("\u{1b}["));
    let no_color = t.command(&["check"]).env("CLICOLOR_FORCE", "1").output().unwrap();
    assert!(!String::from_utf8_lossy(&no_color.stderr).contains('\u{1b}'));
    let coloured = t.run(&["check", "--color", "always"]);
    assert!(coloured.stderr.contains("\u{1b}["), "{}", coloured.stderr);
    let out = t.command(&["check"]).env_remove("NO_COLOR").env("CARGO_TERM_COLOR", "always").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("\u{1b}["));
    // Only the flag stands between this run and colour.
    let out = t
        .command(&["check", "--color", "never"])
        .env_remove("NO_COLOR")
        .env("CARGO_TERM_COLOR", "always")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}

#[test]
fn completions_for_every_shell() {
    let t = Test::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let r = t.run(&["completions", shell]);
        r.success();
        assert!(r.stdout.contains("migrate"), "{shell}");
    }
    t.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn outside_any_project() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN).arg("check").current_dir(dir.path()).output().unwrap();
    let r = Run::from(out);
    r.failure().stderr_has("no envdb.toml or Cargo.toml");
}

#[test]
fn manifest_path_and_migrations_override() {
    let t = Test::empty();
    t.write("Cargo.toml", "[package]\nname = \"host\"\nversion = \"0.1.0\"\n");
    std::fs::remove_file(t.path("envdb.toml")).unwrap();
    t.write("db/0001_a.sql", "CREATE TABLE a (x);");
    let other = tempfile::tempdir().unwrap();
    let manifest = t.path("Cargo.toml");
    let run = |args: &[&str]| {
        Run::from(std::process::Command::new(BIN).args(args).current_dir(other.path()).output().unwrap())
    };
    run(&["hash", "--manifest-path", manifest.to_str().unwrap(), "--migrations", t.path("db").to_str().unwrap()])
        .success();
    assert!(t.path("db/envdb.sum").exists());
    run(&["check", "--manifest-path", manifest.to_str().unwrap()])
        .failure()
        .stderr_has("does not exist")
        .stderr_has("cargo envdb init");
}
