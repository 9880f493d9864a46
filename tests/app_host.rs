//! The runtime in production: a host application built in the test as the README shows it, its
//! binary run as a deployment runs it (no source tree, the environment from ENVDB_ENV), and its
//! own `cargo test` run with prod in the shell.

mod common;
use common::host::{Host, command};
use common::*;

const MIGRATIONS: &[(&str, &str)] = &[("0001_a.sql", "CREATE TABLE a (x);\n"), ("0002_b.sql", "CREATE TABLE b (x);\n")];

#[test]
fn the_hosts_own_tests_cannot_reach_prod() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_tests");
    // The binary itself reaches prod (it is not a test).
    host.run(&[], &[("ENVDB_ENV", "prod")]).success().stdout_has("environment:             prod");
    std::fs::remove_file(t.prod_db()).unwrap();
    // Its unit and integration tests, with prod in the shell and no test helper called, do not.
    let xdg = t.path("xdg");
    let vars = [("ENVDB_ENV", "prod"), ("XDG_DATA_HOME", xdg.to_str().unwrap())];
    let run = host.cargo(&["test", "--quiet"], &vars);
    run.success();
    assert!(run.stdout.matches("1 passed").count() >= 2, "{}", run.stdout);
    assert!(!t.prod_db().exists(), "a test opened prod");
}

#[test]
fn a_deployed_binary_without_its_build_tree_refuses_dev_and_runs_prod() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_deployed");
    let server = tempfile::tempdir().unwrap();
    let bin = server.path().join("app");
    std::fs::copy(host.bin(), &bin).unwrap();
    // The build tree goes away (moved aside, put back for the temporary directory's cleanup).
    let moved = t.root().with_extension("moved");
    std::fs::rename(t.root(), &moved).unwrap();
    let xdg = server.path().join("xdg");
    let run = Run::from(command(&bin, &xdg, &[]).output().unwrap());
    let root = t.root().display().to_string();
    run.code(1)
        .stderr_has("Error: the environment `dev` (chosen by default_env) keeps its database in the project directory this binary was built in")
        .stderr_has(&root)
        .stderr_has("help: choose the environment this machine runs (for example ENVDB_ENV=prod)");
    assert!(!t.root().exists(), "the build path was recreated on the server");
    let run = Run::from(command(&bin, &xdg, &[]).env("ENVDB_ENV", "test").output().unwrap());
    run.code(1).stderr_has("the environment `test` (chosen by $ENVDB_ENV)");
    let run = Run::from(command(&bin, &xdg, &[]).env("ENVDB_ENV", "prod").output().unwrap());
    run.success().stdout_has("schema version (db):     2");
    assert!(xdg.join("app/app.db").exists());
    std::fs::rename(&moved, t.root()).unwrap();
}

/// The backups under prod's data directory, by file name (without their `.sha256` files).
fn backups(t: &Test) -> Vec<String> {
    let dir = t.path("xdg/app/backups");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".db"));
    names.sort();
    names
}

#[test]
fn migrating_prod_at_start_backs_up_first_and_dev_never() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_backup");
    let prod = [("ENVDB_ENV", "prod")];
    // A new database: nothing to back up.
    host.run(&[], &prod).success().stderr_lacks("backup:");
    host.run(&[], &[]).success();
    t.write("migrations/0003_c.sql", "CREATE TABLE c (x);\n");
    t.run(&["hash"]).success();
    host.rebuild();
    let run = host.run(&[], &prod);
    run.success().stderr_has("migrated: 0003_c.sql").stderr_has("backup: ");
    let names = backups(&t);
    assert!(names.len() == 1 && names[0].starts_with("app.prod.") && names[0].ends_with(".v2.db"), "{names:?}");
    // `version -v` says it (the README's `println!("{}", db.version_info())`).
    run.stdout_has(&format!("last backup:             {}", t.path("xdg/app/backups").join(&names[0]).display()));
    // Up to date: no backup; dev is never backed up.
    host.run(&[], &prod).success().stderr_lacks("backup:");
    host.run(&[], &[]).success().stderr_has("migrated: 0003_c.sql").stderr_lacks("backup:");
    assert_eq!(backups(&t).len(), 1);
    assert!(!t.path(".envdb/dev/backups").exists());
}

/// prod's schema version, read from its file.
fn prod_version(t: &Test) -> i64 {
    let conn = rusqlite::Connection::open(t.prod_db()).unwrap();
    conn.query_row("SELECT coalesce(max(version), 0) FROM envdb_migrations", [], |r| r.get(0)).unwrap()
}

/// The migration `0003_c.sql` is replaced by `sql` (never applied, so it may change) and hashed.
fn write_migration(t: &Test, name: &str, sql: &str) {
    t.write(&format!("migrations/{name}"), sql);
    t.run(&["hash"]).success();
}

#[test]
fn a_failing_start_backs_up_once_per_version_names_the_way_back_and_is_audited() {
    let t = Test::with(MIGRATIONS);
    t.write("envdb.toml", "name = \"app\"\n\n[env.prod]\nbackup_keep = 1\n");
    let host = Host::build(&t, "host_fail");
    let prod = [("ENVDB_ENV", "prod")];
    host.run(&[], &prod).success();
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x);\nINSERT INTO missing VALUES (1);\n");
    host.rebuild();
    // A service restarting on failure: three starts, one backup, each error naming it.
    for _ in 0..3 {
        let run = host.run(&[], &prod);
        run.code(1).stderr_has("0003_c.sql").stderr_has("no such table: missing").stderr_has("is now at version 2");
        let backup = backups(&t);
        assert_eq!(backup.len(), 1, "{backup:?}");
        let path = t.path("xdg/app/backups").join(&backup[0]);
        run.stderr_has(&format!("the backup taken before migrating is {}", path.display()))
            .stderr_has(&format!("`host_fail db restore {} --env prod --confirm prod`", path.display()));
    }
    assert_eq!(prod_version(&t), 2);
    // Fixed: the copy of version 2 is the one taken before the first attempt.
    let first = backups(&t);
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x);\n");
    host.rebuild();
    host.run(&[], &prod).success().stderr_has("migrated: 0003_c.sql");
    assert_eq!(backups(&t), first);
    // (Backups name their second: the next one is a second later, so that `backup_keep` can
    // tell them apart, as it would in real life.)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // All or nothing: a failure at 0005 leaves version 3, which the old binary still opens.
    write_migration(&t, "0004_d.sql", "CREATE TABLE d (x);\n");
    write_migration(&t, "0005_e.sql", "INSERT INTO missing VALUES (1);\n");
    host.rebuild();
    host.run(&[], &[("ENVDB_ENV", "prod"), ("HOST_ALL_OR_NOTHING", "1")]).code(1).stderr_has("is now at version 3");
    assert_eq!(prod_version(&t), 3);
    host.run(&[], &prod).code(1).stderr_has("is now at version 4");
    assert_eq!(prod_version(&t), 4);
    // backup_keep = 1: the copy of version 2 went, the one of version 3 (before 0004) stays.
    let kept = backups(&t);
    assert!(kept.len() == 1 && kept[0].ends_with(".v3.db"), "{kept:?}");
    // Every start that migrated prod is in its audit log, failures included.
    let log = t.read("xdg/app/audit.log");
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outcomes: Vec<(u64, u64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["version_before"].as_u64().unwrap(),
                l["version_after"].as_u64().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (0, 2, "ok"),
            (2, 2, "error"),
            (2, 2, "error"),
            (2, 2, "error"),
            (2, 3, "ok"),
            (3, 3, "error"),
            (3, 4, "error")
        ]
    );
    assert!(lines[1]["error"].as_str().unwrap().contains("no such table: missing"));
    assert_eq!(lines[0]["environment"], "prod");
    assert!(lines[0]["command"].as_str().unwrap().contains("host_fail"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in [t.prod_db(), t.path("xdg/app/audit.log")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }
}

/// Starts `bin … hold` on prod and waits until it holds the database.
fn hold(bin: &std::path::Path, xdg: &std::path::Path) -> std::process::Child {
    common::host::holding(command(bin, xdg, &["hold"]).env("ENVDB_ENV", "prod"))
}

#[test]
fn a_new_instance_does_not_migrate_under_running_old_ones() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_rolling");
    host.run(&[], &[("ENVDB_ENV", "prod")]).success();
    let old = t.path("old-binary");
    std::fs::copy(host.bin(), &old).unwrap();
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x);\n");
    host.rebuild();
    let xdg = t.path("xdg");
    let mut running = hold(&old, &xdg);
    // Refused after the bounded wait, saying what it waited for; nothing changed.
    let run = host.run(&[], &[("ENVDB_ENV", "prod"), ("HOST_IN_USE_MS", "300")]);
    run.code(1)
        .stderr_has("envdb: waiting for the other instances of the application to stop before migrating")
        .stderr_has("other instances of the application hold")
        .stderr_has("old-binary")
        .stderr_has("nothing was changed");
    assert_eq!(prod_version(&t), 2);
    // Waiting: the old instance stops meanwhile, and the new one migrates.
    let waiting = host
        .command(&[])
        .env("ENVDB_ENV", "prod")
        .env("HOST_IN_USE_MS", "20000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(running.stdin.take());
    running.wait().unwrap();
    let out = Run::from(waiting.wait_with_output().unwrap());
    out.success().stderr_has("waiting for the other instances").stderr_has("migrated: 0003_c.sql");
    assert_eq!(prod_version(&t), 3);
    // By explicit policy it migrates beside them.
    let mut running = hold(&host.bin(), &xdg);
    write_migration(&t, "0004_d.sql", "CREATE TABLE d (x);\n");
    host.rebuild();
    host.run(&[], &[("ENVDB_ENV", "prod"), ("HOST_IN_USE", "proceed")]).success().stderr_has("migrated: 0004_d.sql");
    drop(running.stdin.take());
    running.wait().unwrap();
}

#[test]
fn instances_starting_together_migrate_once_and_an_upgrade_lock_is_waited_for_boundedly() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_together");
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = host.command(&[]);
            cmd.env("ENVDB_ENV", "prod").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut migrated = 0;
    for child in children {
        let out = Run::from(child.wait_with_output().unwrap());
        out.success();
        migrated += out.stderr.matches("migrated: ").count();
    }
    assert_eq!(migrated, 2, "each migration applied once");
    // An upgrade or restore holds the database exclusively: the start waits, says so, and gives up.
    let lock = std::fs::File::open(t.path("xdg/app/app.db.lock")).unwrap();
    lock.lock().unwrap();
    let run = host.run(&[], &[("ENVDB_ENV", "prod"), ("HOST_LOCK_TIMEOUT_MS", "200")]);
    run.code(1)
        .stderr_has("envdb: waiting for an upgrade or restore that holds the database to finish")
        .stderr_has("stayed locked")
        .stderr_has("raise Options::lock_timeout");
    drop(lock);
    host.run(&[], &[("ENVDB_ENV", "prod")]).success();
}

#[test]
fn behind_reads_work_writes_fail_and_the_warning_names_the_command() {
    let t = Test::with(MIGRATIONS);
    let host = Host::build(&t, "host_ro");
    let ro = [("ENVDB_ENV", "prod"), ("HOST_POLICY", "read-only")];
    // A missing database is created up to date (there is nothing to read yet).
    host.run(&["write"], &ro).success().stderr_lacks("warning");
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x);\n");
    host.rebuild();
    let before = std::fs::read(t.prod_db()).unwrap();
    let run = host.run(&["read"], &ro);
    run.success()
        .stdout_has("rows: 1")
        .stderr_has("is at version 2, behind this build (3): opened read-only, so reads work and writes fail")
        .stderr_has("help: run `host_ro db upgrade`");
    assert_eq!(run.stderr.matches("warning:").count(), 1, "{}", run.stderr);
    let run = host.run(&["write"], &ro);
    run.code(1).stderr_has("behind: this write will fail").stderr_has("attempt to write a readonly database");
    assert_eq!(std::fs::read(t.prod_db()).unwrap(), before, "nothing changed");
    assert_eq!(prod_version(&t), 2);
    // The default policy migrates.
    host.run(&["write"], &[("ENVDB_ENV", "prod")]).success().stderr_has("migrated: 0003_c.sql");
}
