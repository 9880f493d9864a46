//! Real git: the pre-commit hook and `fix` after a merge that conflicts in the sum file.

mod common;
use common::*;

fn repo(t: &Test) {
    git(t.root(), &["init", "-q", "-b", "main"]);
    git(t.root(), &["config", "commit.gpgsign", "false"]);
    t.write(".gitignore", ".envdb/\n");
}

fn commit(t: &Test, msg: &str) -> std::process::Output {
    git_try(t.root(), &["add", "-A"]);
    git_try(t.root(), &["commit", "-q", "-m", msg])
}

#[test]
fn hook_blocks_an_edited_migration_and_passes_a_clean_one() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    repo(&t);
    t.run(&["hook", "install"]).success().stderr_has("Installed");
    assert!(commit(&t, "first").status.success());

    // Edited without `hash`: blocked.
    t.write("migrations/0001_a.sql", "CREATE TABLE a (x, y);");
    let out = commit(&t, "edit");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0001_a.sql: content differs"));

    // The hook checks the index, not the working tree: a fixed working tree with a broken index is still blocked.
    git(t.root(), &["add", "-A"]);
    t.run(&["hash"]).success();
    let out = git_try(t.root(), &["commit", "-q", "-m", "index still stale"]);
    assert!(!out.status.success(), "the staged sum file is stale");
    // Blocked by the hook's check of the staged files, for the staged edit, and for nothing else.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: migrations/0001_a.sql: content differs from the checksum in the sum file")
            && stderr.contains("1 error(s), 0 warning(s) in migrations"),
        "{stderr}"
    );

    // Staging the rehashed sum lets it through.
    let out = commit(&t, "edit and rehash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hook_install_is_idempotent_chains_and_uninstalls() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    repo(&t);
    let hook = t.path(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\necho mine > \"$(git rev-parse --show-toplevel)/ran-mine\"\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    t.run(&["hook", "install"]).success().stderr_has("Chained");
    let installed = std::fs::read(&hook).unwrap();
    t.run(&["hook", "install"]).success().stderr_has("already installed");
    assert_eq!(installed, std::fs::read(&hook).unwrap());
    assert!(commit(&t, "first").status.success());
    assert!(t.path("ran-mine").exists(), "the chained hook ran");
    t.run(&["hook", "uninstall"]).success().stderr_has("Restored");
    assert!(std::fs::read_to_string(&hook).unwrap().contains("echo mine"));
    t.run(&["hook", "uninstall"]).success().stderr_has("not envdb's hook");
}

#[test]
fn commits_without_staged_migrations_pass() {
    let t = Test::new();
    repo(&t);
    std::fs::remove_file(t.path("migrations/envdb.sum")).unwrap();
    t.run(&["hook", "install"]).success();
    t.write("notes.txt", "hello");
    git(t.root(), &["add", "notes.txt"]);
    assert!(git_try(t.root(), &["commit", "-q", "-m", "notes"]).status.success());
}

/// Two branches that each add migration 2, `feature` checked out and `main` about to be merged
/// into it. `apply_ours` migrates the dev database on `feature` first.
fn two_branches(apply_ours: bool) -> Test {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    repo(&t);
    assert!(commit(&t, "base").status.success());
    git(t.root(), &["checkout", "-q", "-b", "feature"]);
    t.write("migrations/0002_ours.sql", "CREATE TABLE ours (x);");
    t.run(&["hash"]).success();
    if apply_ours {
        t.run(&["migrate"]).success();
    }
    assert!(commit(&t, "ours").status.success());
    git(t.root(), &["checkout", "-q", "main"]);
    t.write("migrations/0002_theirs.sql", "CREATE TABLE theirs (x);");
    t.run(&["hash"]).success();
    assert!(commit(&t, "theirs").status.success());
    git(t.root(), &["checkout", "-q", "feature"]);
    t
}

#[test]
fn fix_renumbers_this_branchs_migration_after_a_conflicting_merge() {
    let t = two_branches(false);
    let merge = git_try(t.root(), &["merge", "-q", "main"]);
    assert!(!merge.status.success(), "the sum file must conflict");
    assert!(t.read("migrations/envdb.sum").contains("<<<<<<<"));
    t.run(&["check"]).failure().stderr_has("cargo envdb fix").stderr_has("version 2 is also used");

    t.run(&["fix"]).success().stderr_has("migrations/0002_ours.sql → 0003_ours.sql");
    assert!(t.path("migrations/0002_theirs.sql").exists());
    assert!(t.path("migrations/0003_ours.sql").exists());
    t.run(&["check"]).success();
    t.run(&["fix"]).success().stderr_has("no migration needed renumbering");
}

#[test]
fn fix_never_renumbers_an_applied_migration() {
    let t = two_branches(true);
    let _ = git_try(t.root(), &["merge", "-q", "main"]);
    let before = t.snapshot();
    t.run(&["fix"])
        .failure()
        .stderr_has("0002_ours.sql would be renumbered, but it is already applied")
        .stderr_has(".envdb/dev/app.db");
    assert_eq!(before, t.snapshot());
}

#[test]
fn fix_prints_json() {
    let t = two_branches(false);
    let _ = git_try(t.root(), &["merge", "-q", "main"]);
    let before = t.snapshot();
    let dry = t.run(&["fix", "--dry-run", "--format", "json"]);
    dry.success();
    let json = dry.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(
        json["renames"],
        serde_json::json!([{"from": "migrations/0002_ours.sql", "to": "migrations/0003_ours.sql"}])
    );
    assert_eq!(json["sum_file_written"], false);
    assert_eq!(before, t.snapshot(), "a dry run changes nothing");

    let json = t.run(&["fix", "--format", "json"]).json();
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["renames"][0]["to"], "migrations/0003_ours.sql");
    assert_eq!(json["sum_file_written"], true);
    assert!(t.path("migrations/0003_ours.sql").exists());
    let json = t.run(&["fix", "--format", "json"]).json();
    assert_eq!(
        (json["renames"].clone(), json["sum_file_written"].clone()),
        (serde_json::json!([]), serde_json::json!(false))
    );
}

/// A directory name that breaks a hook that pastes it into shell text, and runs a command there.
const HOSTILE: &str = "it's \"quoted\" $(touch pwned) `touch pwned2`";

#[cfg(unix)]
#[test]
fn the_hook_quotes_a_hostile_project_path() {
    // The repository's top level and the project below it both have hostile names.
    let outer = tempfile::Builder::new().prefix("envdb-it-").tempdir().unwrap();
    let top = outer.path().join(format!("repo {HOSTILE}"));
    let project = top.join(format!("app {HOSTILE}"));
    std::fs::create_dir_all(project.join("migrations")).unwrap();
    std::fs::write(project.join("envdb.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(project.join("migrations/0001_a.sql"), "CREATE TABLE a (x);\n").unwrap();
    let envdb = |args: &[&str]| {
        let out =
            std::process::Command::new(BIN).args(args).current_dir(&project).env("NO_COLOR", "1").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    envdb(&["hash"]);
    git(&top, &["init", "-q", "-b", "main"]);
    git(&top, &["config", "commit.gpgsign", "false"]);
    envdb(&["hook", "install"]);
    let commit = |msg: &str| {
        git_try(&top, &["add", "-A"]);
        git_try(&top, &["commit", "-q", "-m", msg])
    };
    let out = commit("first");
    assert!(out.status.success(), "the hook must run in the project: {}", String::from_utf8_lossy(&out.stderr));

    // The hook really checks the project: an edit without `hash` is blocked.
    std::fs::write(project.join("migrations/0001_a.sql"), "CREATE TABLE a (x, y);\n").unwrap();
    let out = commit("edit");
    assert!(!out.status.success(), "an unrecorded edit must be blocked");
    assert!(String::from_utf8_lossy(&out.stderr).contains("0001_a.sql: content differs"));

    // And nothing in the names ran as a command.
    let mut stack = vec![outer.path().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with("pwned"), "the hook ran a command from the path: {}", e.path().display());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}
