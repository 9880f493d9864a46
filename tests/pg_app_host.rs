//! The runtime on PostgreSQL in production: a host application on `PgDb`, built in the test as
//! the README shows it and run as a deployment runs it (prod from ENVDB_ENV, its url from the
//! environment), against the real server pgtest starts: the backup before migrating prod (once
//! per version, not by an instance that waited, pruned to `backup_keep`), the way back a failed
//! start names (and that it restores), older instances refused or waited for, and the audit log.

mod common;
use common::host::{Host, command};
use common::*;
use pgtest::Via;
use std::process::Stdio;

const MIGRATIONS: &[(&str, &str)] =
    &[("0001_a.sql", "CREATE TABLE a (x integer);\n"), ("0002_b.sql", "CREATE TABLE b (x integer);\n")];

/// A project whose protected `prod` is the test database `db` (reached directly), keeping one
/// backup; the CLI runs see its url too.
fn project(db: &pgtest::Database<'_>) -> Test {
    let t = Test::with(MIGRATIONS).env("APP_URL", &db.url(Via::Tcp));
    t.write("envdb.toml", "name = \"app\"\n\n[env.prod]\nurl = \"${APP_URL}\"\nbackup_keep = 1\n");
    t
}

/// Runs the host on prod; no run shows the password.
fn start(host: &Host<'_>, db: &pgtest::Database<'_>, vars: &[(&str, &str)]) -> Run {
    let url = db.url(Via::Tcp);
    let mut all = vec![("ENVDB_ENV", "prod"), ("APP_URL", url.as_str())];
    all.extend_from_slice(vars);
    let run = host.run(&[], &all);
    assert!(!run.stderr.contains(db.server().password()) && !run.stdout.contains(db.server().password()));
    run
}

/// The archives in prod's backups directory, by file name (without their `.sha256` files).
fn backups(t: &Test) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.path("xdg/app/backups"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".dump"));
    names.sort();
    names
}

fn value(db: &pgtest::Database<'_>, sql: &str) -> i64 {
    db.connect(Via::Tcp).query_one(sql, &[]).unwrap().get(0)
}

fn version(db: &pgtest::Database<'_>) -> i64 {
    value(db, "SELECT coalesce(max(version), 0)::bigint FROM envdb_migrations")
}

fn write_migration(t: &Test, name: &str, sql: &str) {
    t.write(&format!("migrations/{name}"), sql);
    t.run(&["hash"]).success();
}

#[test]
fn a_failing_start_backs_up_once_names_the_way_back_which_restores_and_is_audited() {
    let db = pgtest::database();
    let t = project(&db);
    let host = Host::build_pg(&t, "pghost_fail");
    // A new database: nothing to back up.
    start(&host, &db, &[]).success().stderr_has("migrated: 0002_b.sql").stderr_lacks("backup:");
    db.connect(Via::Tcp).batch_execute("INSERT INTO a SELECT generate_series(1, 100)").unwrap();
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x integer);\nINSERT INTO missing VALUES (1);\n");
    host.rebuild();
    // A service restarting on failure: two starts, one backup, each error naming it and the
    // commands that put it back.
    let mut taken = Vec::new();
    for _ in 0..2 {
        let run = start(&host, &db, &[]);
        run.code(1).stderr_has("0003_c.sql").stderr_has("\"missing\" does not exist").stderr_has("is now at version 2");
        let now = backups(&t);
        assert!(now.len() == 1 && now[0].contains(".prod.") && now[0].ends_with(".v2.dump"), "{now:?}");
        // The second start reuses the first one's archive (not a new one that backup_keep = 1
        // would leave alone in its place).
        assert!(taken.is_empty() || taken == now, "{taken:?} then {now:?}");
        taken = now;
        let path = t.path("xdg/app/backups").join(&taken[0]);
        run.stderr_has(&format!("the backup taken before migrating is {}", path.display()))
            .stderr_has(&format!("`pghost_fail db restore {} --env prod --confirm prod`", path.display()))
            .stderr_has(&format!("`cargo envdb restore {} --env prod --confirm prod`", path.display()));
    }
    assert_eq!(version(&db), 2);
    // The archive is private, and verifies as the command line's backups do.
    let path = t.path("xdg/app/backups").join(&taken[0]);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    t.run(&["backups", "--env", "prod", "--verify"]).success().stdout_has(&taken[0]);
    // The command the error names puts the database back as it was backed up.
    db.connect(Via::Tcp).batch_execute("INSERT INTO a VALUES (999)").unwrap();
    let restore = ["restore", path.to_str().unwrap(), "--env", "prod", "--confirm", "prod"];
    t.run(&restore).success();
    assert_eq!(value(&db, "SELECT count(*) FROM a"), 100);
    // Fixed: migrated, after a backup of version 2 taken now (the restored database has no note
    // of the old one), and backup_keep = 1 leaves that one alone.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_migration(&t, "0003_c.sql", "CREATE TABLE c (x integer);\n");
    host.rebuild();
    let run = start(&host, &db, &[]);
    run.success().stderr_has("migrated: 0003_c.sql").stderr_has("backup: ");
    let kept = backups(&t);
    assert!(kept.len() == 1 && kept[0] != taken[0] && kept[0].ends_with(".v2.dump"), "{kept:?} after {taken:?}");
    run.stdout_has(&format!("last backup:             {}", t.path("xdg/app/backups").join(&kept[0]).display()));
    // Up to date: no backup.
    start(&host, &db, &[]).success().stderr_lacks("backup:");
    // Every start that migrated prod is in its audit log, failures included, without a password.
    let log = t.read("xdg/app/audit.log");
    assert!(!log.contains(db.server().password()), "{log}");
    let starts: Vec<(u64, u64, String)> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["command"].as_str().unwrap().contains("pghost_fail"))
        .map(|l| {
            let n = |k: &str| l[k].as_u64().unwrap();
            (n("version_before"), n("version_after"), l["outcome"].as_str().unwrap().to_owned())
        })
        .collect();
    let want = [(0, 2, "ok"), (2, 2, "error"), (2, 2, "error"), (2, 3, "ok")];
    assert_eq!(starts, want.map(|(a, b, o)| (a, b, o.to_owned())));
    // The database the restore replaced (kept on the server) goes with the test.
    let mut admin = db.server().admin();
    for name in
        column(&mut admin, &format!("SELECT datname FROM pg_database WHERE datname LIKE '{}\\_\\_%'", db.name()))
    {
        admin.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).unwrap();
    }
}

/// Starts `bin hold` on prod and waits until it holds its session.
fn hold(bin: &std::path::Path, t: &Test, db: &pgtest::Database<'_>) -> std::process::Child {
    let mut cmd = command(bin, &t.path("xdg"), &["hold"]);
    common::host::holding(cmd.env("ENVDB_ENV", "prod").env("APP_URL", db.url(Via::Tcp)))
}

#[test]
fn older_instances_are_refused_or_waited_for_and_starts_together_back_up_once() {
    let db = pgtest::database();
    let t = project(&db);
    let host = Host::build_pg(&t, "pghost_rolling");
    start(&host, &db, &[]).success();
    let old = t.path("old-binary");
    std::fs::copy(host.bin(), &old).unwrap();
    write_migration(&t, "0003_c.sql", "SELECT pg_sleep(1);\nCREATE TABLE c (x integer);\n");
    host.rebuild();
    let mut running = hold(&old, &t, &db);
    // Refused after the bounded wait, naming the old instance's session; nothing changed, and
    // no backup was taken for a migration that did not run.
    let run = start(&host, &db, &[("HOST_IN_USE_MS", "300")]);
    run.code(1)
        .stderr_has("envdb: waiting for the other instances of the application to stop before migrating")
        .stderr_has("other instances of the application hold postgres://")
        .stderr_has("`envdb-app:app:prod`")
        .stderr_has("nothing was changed");
    assert_eq!(version(&db), 2);
    assert!(backups(&t).is_empty(), "{:?}", backups(&t));
    // Three new instances start together while the old one runs: one waits for it holding the
    // run lock, the others queue behind that one (they are not older instances); the old one
    // stops, and the migration runs once, after one backup.
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = host.command(&[]);
            cmd.env("ENVDB_ENV", "prod").env("APP_URL", db.url(Via::Tcp)).env("HOST_IN_USE_MS", "20000");
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(800));
    drop(running.stdin.take());
    running.wait().unwrap();
    let (mut migrated, mut backed_up) = (0, 0);
    for child in starting {
        let out = Run::from(child.wait_with_output().unwrap());
        out.success();
        migrated += out.stderr.matches("migrated: ").count();
        backed_up += out.stderr.matches("backup: ").count();
    }
    assert_eq!((migrated, backed_up), (1, 1));
    assert_eq!(version(&db), 3);
    assert_eq!(backups(&t).len(), 1);
    // By explicit policy a start migrates beside the old instances.
    let mut running = hold(&host.bin(), &t, &db);
    write_migration(&t, "0004_d.sql", "CREATE TABLE d (x integer);\n");
    host.rebuild();
    start(&host, &db, &[("HOST_IN_USE", "proceed")]).success().stderr_has("migrated: 0004_d.sql");
    drop(running.stdin.take());
    running.wait().unwrap();
}
