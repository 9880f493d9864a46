//! Environments through the binary: resolution, isolation, protection, the audit log, tests
//! that cannot reach production, and the database knowing its environment.

mod common;
use common::*;
use std::io::Write as _;

fn project() -> Test {
    Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("0001_a.down.sql", "DROP TABLE a;"),
        ("0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
        ("0002_b.down.sql", "DROP TABLE b;"),
    ])
}

fn bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn resolution_order_through_the_binary() {
    let t = project();
    let env_of = |r: &Run| r.json()["environment"].as_str().unwrap().to_owned();
    let chosen = |r: &Run| r.json()["chosen_by"].as_str().unwrap().to_owned();
    let r = t.run(&["env", "--format", "json"]);
    assert_eq!((env_of(&r), chosen(&r)), ("dev".into(), "default_env".into()));
    let r = Run::from(t.command(&["env", "--format", "json"]).env("ENVDB_ENV", "test").output().unwrap());
    assert_eq!((env_of(&r), chosen(&r)), ("test".into(), "$ENVDB_ENV".into()));
    let r = Run::from(
        t.command(&["env", "--format", "json", "--env", "production"]).env("ENVDB_ENV", "test").output().unwrap(),
    );
    assert_eq!((env_of(&r), chosen(&r)), ("prod".into(), "--env flag".into()));
    let r = t.run(&["env", "--format", "json", "--test"]);
    assert_eq!(env_of(&r), "test");
    let r = t.run(&["env", "--format", "json", "--database", "elsewhere.db"]);
    assert_eq!(chosen(&r), "--database");
    assert!(r.json()["database"].as_str().unwrap().ends_with("elsewhere.db"));
    t.write("envdb.toml", "name = \"app\"\nenv_var = \"VIGIL_ENV\"\n");
    let r = Run::from(
        t.command(&["env", "--format", "json"]).env("ENVDB_ENV", "test").env("VIGIL_ENV", "prod").output().unwrap(),
    );
    assert_eq!((env_of(&r), chosen(&r)), ("prod".into(), "$VIGIL_ENV".into()));
}

#[test]
fn unknown_environment_names() {
    let t = project();
    t.run(&["migrate", "--env", "qa"])
        .failure()
        .stderr_has("unknown environment `qa` (from --env); known: dev, prod, test");
    let r = Run::from(t.command(&["status"]).env("ENVDB_ENV", "stagin").output().unwrap());
    r.failure().stderr_has("unknown environment `stagin` (from $ENVDB_ENV)");
    assert!(!t.dev_db().exists());
}

#[test]
fn bad_environment_configurations() {
    let t = project();
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\ndata_dir = \"{workspace}/{tmpdir}\"\n");
    t.run(&["migrate"]).failure().stderr_has("unknown placeholder `{tmpdir}`").stderr_has("envdb.toml");
    t.write("envdb.toml", "name = \"app\"\n[env.staging]\ndata_dir = \"{workspace}/.envdb/dev\"\n");
    t.run(&["status"]).failure().stderr_has("`dev` and `staging` both use the database");
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\ndata_dir = \"blocker/dev\"\n");
    t.write("blocker", "a file where a directory should be");
    t.run(&["migrate"]).failure().stderr_has("cannot create the directory").stderr_has("blocker");
    t.write("envdb.toml", "name = \"app\"\n");
    std::fs::create_dir_all(t.path("adir")).unwrap();
    t.run(&["migrate", "--database", "adir"]).failure().stderr_has("adir is a directory");
}

#[test]
fn custom_environment_works_like_the_built_in_ones() {
    let t = project();
    t.write("envdb.toml", "name = \"app\"\n[env.staging]\ndata_dir = \"{workspace}/stage\"\ndatabase = \"s.db\"\n");
    t.run(&["migrate", "--env", "staging"]).success().stderr_has("Environment staging stage/s.db");
    assert!(t.path("stage/s.db").exists());
    assert!(!t.dev_db().exists());
}

#[test]
fn commands_against_dev_never_touch_prod_and_the_reverse() {
    let t = project();
    t.run(&["migrate", "--prod", "--to", "1"]).success();
    let prod = bytes(&t.prod_db());
    assert!(!prod.is_empty());
    for args in [
        &["migrate"][..],
        &["rollback"],
        &["redo"],
        &["status"],
        &["history"],
        &["validate"],
        &["repair"],
        &["schema", "dump", "--live"],
        &["env"],
        &["env", "--all"],
        &["migrate", "--to", "2"],
    ] {
        // Each one succeeds: a command that failed early would leave prod alone trivially.
        t.run(args).success();
        assert_eq!(prod, bytes(&t.prod_db()), "{args:?} touched prod");
    }
    assert_eq!(
        t.run(&["status", "--format", "json"]).json()["version"],
        2,
        "dev was migrated, rolled back, redone, migrated"
    );
    let dev = bytes(&t.dev_db());
    for args in [
        &["migrate", "--prod"][..],
        &["rollback", "--prod", "--confirm", "prod"],
        &["redo", "--prod", "--confirm", "prod"],
        &["status", "--prod"],
        &["history", "--prod"],
        &["validate", "--prod"],
        &["env", "--prod"],
    ] {
        t.run(args).success();
        assert_eq!(dev, bytes(&t.dev_db()), "{args:?} touched dev");
    }
}

#[test]
fn protected_destructive_commands_need_confirmation() {
    let t = project();
    t.run(&["migrate", "--prod"]).success();
    let before = bytes(&t.prod_db());
    for cmd in [&["rollback", "--prod"][..], &["redo", "--prod"], &["repair", "--prod"], &["baseline", "1", "--prod"]] {
        t.run(cmd)
            .failure()
            .stderr_has("PROTECTED ENVIRONMENT: prod")
            .stderr_has("no terminal to confirm at")
            .stderr_has("--confirm prod");
        assert_eq!(before, bytes(&t.prod_db()), "{cmd:?}");
    }
    t.run(&["rollback", "--prod", "--confirm", "dev"])
        .failure()
        .stderr_has("--confirm dev does not match the environment `prod`");
    assert_eq!(before, bytes(&t.prod_db()));
    // --confirm is accepted by every command, so scripts can pass it uniformly.
    t.run(&["status", "--confirm", "prod"]).success();
    t.run(&["rollback", "--prod", "--confirm", "prod"]).success().stderr_has("2 → 1");
    // Dev is not protected: no confirmation asked.
    t.run(&["migrate"]).success();
    t.run(&["rollback"]).success().stderr_lacks("PROTECTED");
}

/// Runs the binary at a real pseudo-terminal (util-linux `script`), typing `typed`.
fn at_terminal(t: &Test, args: &str, typed: &str) -> Run {
    let cmd = format!("{BIN} {args}");
    let mut child = t
        .command(&[])
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn_with_program("script", &["-qec", &cmd, "/dev/null"]);
    child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
    Run::from(child.wait_with_output().unwrap())
}

trait SpawnWith {
    fn spawn_with_program(&mut self, program: &str, args: &[&str]) -> std::process::Child;
}

impl SpawnWith for std::process::Command {
    fn spawn_with_program(&mut self, program: &str, args: &[&str]) -> std::process::Child {
        let mut cmd = std::process::Command::new(program);
        cmd.args(args);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.current_dir(self.get_current_dir().unwrap());
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    }
}

#[test]
fn typed_confirmation_at_a_real_terminal() {
    let t = project();
    t.run(&["migrate", "--prod"]).success();
    let before = bytes(&t.prod_db());
    let r = at_terminal(&t, "rollback --prod", "dev\n");
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("Type the environment's name (prod)"), "{}", r.stdout);
    assert!(r.stdout.contains("does not match `prod`"), "{}", r.stdout);
    assert_eq!(before, bytes(&t.prod_db()));
    let r = at_terminal(&t, "rollback --prod", "prod\n");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("2 → 1"), "{}", r.stdout);
}

#[test]
fn tests_cannot_reach_prod() {
    let t = project();
    let r = Run::from(t.command(&["migrate"]).env("ENVDB_ENV", "prod").env("ENVDB_TEST", "1").output().unwrap());
    r.failure().stderr_has("refusing to open the protected environment `prod`").stderr_has("from a test run");
    assert!(!t.prod_db().exists());
    let r = Run::from(t.command(&["migrate", "--env", "test"]).env("ENVDB_TEST", "1").output().unwrap());
    r.success();
}

/// Each `cargo envdb test` on an ephemeral environment replaces its database, so a second run
/// waits, saying so, until the first one's tests have ended: the two never overlap.
#[test]
fn two_test_runs_on_an_ephemeral_environment_take_turns() {
    use std::io::BufRead as _;
    use std::time::{Duration, Instant};
    let t = project();
    t.write("envdb.toml", "name = \"app\"\n[env.test]\nephemeral = true\n");
    // A stand-in for cargo: notes when its tests start, waits until the test says `go` (at most
    // 30 s), then notes their end.
    let cargo = t.path("fake-cargo.sh");
    let script = "#!/bin/sh\necho start >> turns.txt\ni=0\n\
                  while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\necho end >> turns.txt\n";
    std::fs::write(&cargo, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spawn = || t.command(&["test"]).env("CARGO", &cargo).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut first = spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(t.path("turns.txt")).unwrap_or_default().contains("start") {
        assert!(Instant::now() < deadline, "the first run's tests never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The second run, while the first one's tests run: it must say that it waits.
    let mut second = spawn();
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(second.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut said = Vec::new();
    while !said.iter().any(|l: &String| l.contains("Waiting")) {
        match seen.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => said.push(line),
            Err(_) => panic!("the second run never said it waits:\n{}", said.join("\n")),
        }
    }
    t.write("go", "");
    assert!(first.wait().unwrap().success() && second.wait().unwrap().success());
    reader.join().unwrap();
    said.extend(seen.try_iter());
    let waited = said.join("\n");
    assert!(
        waited.contains("Waiting for another `cargo envdb test` on the ephemeral environment `test` to end")
            && waited.contains("test.test-run.lock"),
        "{waited}"
    );
    let turns = t.read("turns.txt");
    assert_eq!(turns.lines().collect::<Vec<_>>(), ["start", "end", "start", "end"], "the runs overlapped");
}

#[test]
fn a_prod_database_copied_into_dev_is_refused_until_adopted() {
    let t = project();
    t.run(&["migrate", "--prod"]).success();
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    std::fs::copy(t.prod_db(), t.dev_db()).unwrap();
    let before = bytes(&t.dev_db());
    t.run(&["migrate"])
        .failure()
        .stderr_has("belongs to the environment `prod` but is being opened as `dev`")
        .stderr_has("cargo envdb env --adopt --env dev");
    t.run(&["status"]).failure().stderr_has("belongs to the environment `prod`");
    t.run(&["migrate", "--env", "dev"]).failure();
    t.run(&["env"]).success().stdout_has("belongs to `prod`, refused");
    assert_eq!(before, bytes(&t.dev_db()));
    t.run(&["env", "--adopt", "--confirm", "prod"]).success().stderr_has("as `dev` (it recorded `prod`)");
    t.run(&["migrate"]).success();
    // The reverse: a dev database opened as prod.
    std::fs::copy(t.dev_db(), t.path("copy.db")).unwrap();
    t.run(&["status", "--prod", "--database", "copy.db"])
        .failure()
        .stderr_has("belongs to the environment `dev` but is being opened as `prod`");
}

#[test]
fn writes_to_protected_environments_are_audited() {
    let t = project();
    t.run(&["migrate", "--prod", "--to", "1"]).success();
    t.run(&["rollback", "--prod", "--confirm", "prod"]).success();
    t.run(&["redo", "--prod", "--confirm", "prod"]).failure().stderr_has("no applied migration to redo");
    t.run(&["migrate"]).success();
    let log = t.read("xdg/app/audit.log");
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 3, "dev is not audited:\n{log}");
    assert_eq!(entries[0]["version_before"], 0);
    assert_eq!(entries[0]["version_after"], 1);
    assert_eq!(entries[0]["outcome"], "ok");
    assert_eq!(entries[0]["environment"], "prod");
    for key in ["time", "user", "host", "tool_version", "command", "database"] {
        assert!(entries[0][key].is_string(), "{key}");
    }
    assert!(entries[0]["command"].as_str().unwrap().contains("migrate --prod --to 1"));
    assert_eq!(entries[2]["outcome"], "error");
    assert!(entries[2]["error"].as_str().unwrap().contains("no applied migration to redo"));
    t.run(&["audit", "--prod"]).success().stdout_has("v0 → v1").stdout_has("error");
    let json = t.run(&["audit", "--prod", "--format", "json"]).json();
    assert_eq!(json.as_array().unwrap().len(), 3);
    t.run(&["audit"]).success().stdout_has("no audit entries for `dev`");
}

#[test]
fn every_database_command_names_its_environment() {
    let t = project();
    t.run(&["migrate"]).success().stderr_has("Environment dev .envdb/dev/app.db");
    t.run(&["status", "--prod"]).success().stderr_has("prod (protected)");
    assert_eq!(t.run(&["migrate", "-q"]).stderr, "");
}

#[test]
fn migrate_to_envs_splits_a_legacy_database() {
    let t = project();
    let legacy = t.path("legacy.db");
    {
        let c = rusqlite::Connection::open(&legacy).unwrap();
        c.execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1), (2), (3); CREATE TABLE b (id INTEGER PRIMARY KEY);")
            .unwrap();
    }
    let original = bytes(&legacy);
    t.run(&["migrate-to-envs", "--from", "legacy.db"])
        .success()
        .stderr_has("Backed up")
        .stderr_has("→ dev (.envdb/dev/app.db): 2 tables, 3 rows")
        .stderr_has("→ prod")
        .stderr_has("cargo envdb baseline N --env dev");
    assert_eq!(original, bytes(&legacy), "the original is untouched");
    // Each copy checked here, not taken from the command's word: sound, every table, every row.
    for db in [t.dev_db(), t.prod_db()] {
        let c = rusqlite::Connection::open(&db).unwrap();
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{}", db.display());
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'envdb_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(tables, ["a", "b"], "{}", db.display());
        let ids: Vec<i64> = c
            .prepare("SELECT id FROM a ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, [1, 2, 3], "{}", db.display());
    }
    let env: String = rusqlite::Connection::open(t.prod_db())
        .unwrap()
        .query_row("SELECT value FROM envdb_meta WHERE key = 'environment'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(env, "prod");
    // Adopting a copy: its schema already matches migration 2.
    t.run(&["baseline", "2"]).success();
    t.run(&["status"]).success().stdout_has("version:   2 of 2");

    let before = t.snapshot();
    let audit = t.audit_log("xdg/app");
    t.run(&["migrate-to-envs", "--from", "legacy.db"])
        .failure()
        .stderr_has("dev already has a database")
        .stderr_has("--force");
    t.run(&["migrate-to-envs", "--from", "legacy.db", "--to", "prod", "--force"])
        .failure()
        .stderr_has("--confirm prod");
    assert_eq!(before, t.snapshot());
    assert_eq!(audit, t.audit_log("xdg/app"), "refused before anything ran: no audit entry");
    t.run(&["migrate-to-envs", "--from", "legacy.db", "--to", "prod", "--force", "--confirm", "prod"]).success();
    assert!(t.read("xdg/app/audit.log").contains("migrate-to-envs"));
    t.run(&["migrate-to-envs", "--from", "missing.db"]).failure().stderr_has("does not exist");
}

/// A prod database copied into dev's place: adopting it away from prod needs prod's confirmation.
fn prod_copied_into_dev() -> Test {
    let t = project();
    t.run(&["migrate", "--prod"]).success();
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    std::fs::copy(t.prod_db(), t.dev_db()).unwrap();
    t
}

#[test]
fn adopting_away_from_a_protected_environment_needs_its_confirmation() {
    let t = prod_copied_into_dev();
    let before = t.snapshot();
    t.run(&["env", "--adopt"])
        .failure()
        .stderr_has("PROTECTED ENVIRONMENT: prod")
        .stderr_has(&format!("database:  {}", t.dev_db().display()))
        .stderr_has("no terminal to confirm at")
        .stderr_has("--confirm prod");
    // Confirming the new environment is not confirming the one the database belongs to.
    t.run(&["env", "--adopt", "--confirm", "dev"])
        .failure()
        .stderr_has("--confirm dev does not match the environment `prod`");
    assert_eq!(before, t.snapshot());
    t.run(&["migrate"]).failure().stderr_has("belongs to the environment `prod`");

    // The production file itself, relabelled by path: refused, so rollback stays refused too.
    let prod = bytes(&t.prod_db());
    let prod_path = t.prod_db().display().to_string();
    t.run(&["env", "--adopt", "--database", &prod_path]).failure().stderr_has("--confirm prod");
    assert_eq!(prod, bytes(&t.prod_db()));
    t.run(&["rollback", "--database", &prod_path])
        .failure()
        .stderr_has("belongs to the environment `prod` but is being opened as `dev`");
    assert_eq!(prod, bytes(&t.prod_db()));

    t.run(&["env", "--adopt", "--confirm", "prod"]).success().stderr_has("as `dev` (it recorded `prod`)");
    t.run(&["migrate"]).success();
}

#[test]
fn adopting_away_from_a_protected_environment_is_in_its_audit_log() {
    let t = prod_copied_into_dev();
    let entries_before = t.read("xdg/app/audit.log").lines().count();
    t.run(&["env", "--adopt"]).failure();
    t.run(&["env", "--adopt", "--confirm", "prod"]).success();
    let log = t.read("xdg/app/audit.log");
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), entries_before + 1, "one entry for the adoption, none for the refusal:\n{log}");
    let e = entries.last().unwrap();
    assert_eq!(e["environment"], "prod");
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["database"], t.dev_db().display().to_string());
    assert!(e["command"].as_str().unwrap().contains("env --adopt --confirm prod"), "{e}");
    assert_eq!((e["version_before"].as_u64(), e["version_after"].as_u64()), (Some(2), Some(2)));
    assert!(!t.path(".envdb/dev/audit.log").exists(), "dev is not protected, so it has no audit log");
}

#[test]
fn adopting_away_from_a_protected_environment_is_impossible_in_a_test_run() {
    let t = prod_copied_into_dev();
    let before = t.snapshot();
    let log = t.read("xdg/app/audit.log");
    for args in [
        &["env", "--adopt"][..],
        &["env", "--adopt", "--confirm", "prod"],
        &["env", "--adopt", "--env", "test", "--database", ".envdb/dev/app.db"],
    ] {
        let r = Run::from(t.command(args).env("ENVDB_TEST", "1").output().unwrap());
        r.failure().stderr_has("records the protected environment `prod`").stderr_has("test run");
        assert_eq!(before, t.snapshot(), "{args:?}");
    }
    assert_eq!(log, t.read("xdg/app/audit.log"));
}

/// Every configuration here is refused when it loads, naming envdb.toml, before any file is made.
#[track_caller]
fn refused(t: &Test, toml: &str, needles: &[&str]) {
    t.write("envdb.toml", format!("name = \"app\"\n{toml}"));
    let before = t.snapshot();
    for args in [&["migrate"][..], &["status", "--env", "staging"], &["env", "--all"]] {
        let r = t.run(args);
        r.failure().stderr_has("envdb.toml");
        for needle in needles {
            r.stderr_has(needle);
        }
    }
    assert_eq!(before, t.snapshot(), "{toml}");
}

#[test]
fn environments_sharing_a_database_through_a_symlink_or_dotdot_are_refused() {
    let t = project();
    t.run(&["migrate"]).success();
    // A symlink to dev's data directory.
    std::os::unix::fs::symlink(t.path(".envdb/dev"), t.path("shared")).unwrap();
    refused(&t, "[env.staging]\ndata_dir = \"{workspace}/shared\"\n", &["`dev` and `staging` both use the database"]);
    // `..` after a symlink: the file system goes up from where the link points, not from the link.
    std::fs::create_dir_all(t.path(".envdb/dev/deeper")).unwrap();
    std::os::unix::fs::symlink(t.path(".envdb/dev/deeper"), t.path("deep")).unwrap();
    refused(&t, "[env.staging]\ndata_dir = \"{workspace}/deep/..\"\n", &["both use the database"]);
    // A database file that is a symlink to another environment's.
    std::fs::create_dir_all(t.path("stage")).unwrap();
    std::os::unix::fs::symlink(t.dev_db(), t.path("stage/app.db")).unwrap();
    refused(&t, "[env.staging]\ndata_dir = \"{workspace}/stage\"\n", &["`dev` and `staging` both use the database"]);
    // Not yet existing directories are compared as they will be made.
    refused(
        &t,
        "[env.staging]\ndata_dir = \"{workspace}/new/../.envdb/test\"\n",
        &["`staging` and `test` both use the database"],
    );
}

#[test]
fn database_and_name_must_be_plain_file_names() {
    let t = project();
    for (toml, needle) in [
        ("[env.staging]\ndatabase = \"../dev/app.db\"\n", "\"../dev/app.db\""),
        ("[env.staging]\ndatabase = \"sub/s.db\"\n", "\"sub/s.db\""),
        ("[env.staging]\ndatabase = \"\"\n", "\"\""),
        ("[env.staging]\ndatabase = \"..\"\n", "\"..\""),
        ("[env.staging]\ndatabase = \".\"\n", "\".\""),
        ("database = \"/tmp/all.db\"\n[env.staging]\n", "\"/tmp/all.db\""),
    ] {
        refused(&t, toml, &["database", needle, "plain file name"]);
    }
    std::fs::remove_file(t.path("envdb.toml")).unwrap();
    for name in ["../other", "a/b", "", ".."] {
        t.write("envdb.toml", format!("name = {name:?}\n[env.staging]\n"));
        let r = t.run(&["migrate"]);
        r.failure().stderr_has("envdb.toml").stderr_has("name").stderr_has("plain file name");
        assert!(!t.path(".envdb").exists() && !t.path("other.db").exists(), "{name}");
    }
}

#[test]
fn an_environment_and_its_alias_are_one_table() {
    let t = project();
    refused(
        &t,
        "[env.prod]\nprotected = true\n[env.production]\nprotected = false\n[env.staging]\n",
        &["[env.prod]", "[env.production]", "the same environment"],
    );
    refused(&t, "[env.development]\nseed = \"a.sql\"\n[env.dev]\n[env.staging]\n", &["[env.dev]", "[env.development]"]);
    // Either spelling alone is fine.
    t.write("envdb.toml", "name = \"app\"\n[env.production]\nbackup_keep = 2\n");
    t.run(&["env", "--prod"]).success().stdout_has("environment: prod").stdout_has("protected");
}
