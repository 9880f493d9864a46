//! The runtime on PostgreSQL as a host application uses it (`PgDb`, `testing::fresh_pg`), on the
//! real PostgreSQL 15 and PgBouncer 1.18 that `pgtest` starts: opening up to date, the policies,
//! the environment marker, concurrent starts, the application's sessions as `status` counts
//! them, and the errors a user must be able to act on, without a password in any of them.

mod common;
use common::*;

use envdb::db::backend::Database as _;
use envdb::db::postgres::{PgOptions, Postgres};
use envdb::db_url::DbUrl;
use envdb::runtime::{BackupPolicy, Error, Options, PgDb, Policy};
use envdb::{Db, Environment, Migrations};
use pgtest::Via;
use std::time::{Duration, Instant};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Embedded-style migrations creating tables t1..tn, as `envdb::embedded!()` would produce;
/// `sleep` makes the first one take that long (so that concurrent starts overlap).
fn migrations(n: u64, sleep: Option<f64>) -> Migrations {
    let raw: Vec<envdb::embedded::RawMigration> = (1..=n)
        .map(|i| {
            let pause = match sleep {
                Some(s) if i == 1 => format!("SELECT pg_sleep({s});\n"),
                _ => String::new(),
            };
            let sql = leak(format!("{pause}CREATE TABLE t{i} (id integer PRIMARY KEY);\n"));
            (i, leak(format!("{i:04}_m{i}.sql")), sql, None, leak(envdb::checksum::checksum(sql.as_bytes())))
        })
        .collect();
    Migrations::from_raw(Box::leak(raw.into_boxed_slice()))
}

/// `migrations(n - 1)` and an `n`th that fails (its table does not exist).
fn failing_last(n: u64) -> Migrations {
    let mut raw: Vec<envdb::embedded::RawMigration> =
        migrations(n - 1, None).to_vec().iter().map(|m| (m.version, m.name, m.up, m.down, m.checksum)).collect();
    let sql = "INSERT INTO missing VALUES (1);\n";
    raw.push((n, leak(format!("{n:04}_bad.sql")), sql, None, leak(envdb::checksum::checksum(sql.as_bytes()))));
    Migrations::from_raw(Box::leak(raw.into_boxed_slice()))
}

/// An unprotected environment `name` of project `app` whose database is at `url`.
fn env_at(m: &Migrations, name: &str, url: &str) -> Environment {
    let mut env = Environment::resolve(m, Some("dev")).unwrap();
    env.spec.name = name.into();
    env.spec.project = "app".into();
    env.spec.url = Some(Ok(DbUrl::parse(url).unwrap()));
    env
}

fn count(client: &mut pgtest::postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

fn opened(result: Result<PgDb, Error>) -> PgDb {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn refused(result: Result<PgDb, Error>) -> Error {
    match result {
        Ok(db) => panic!("opened {}", db.label()),
        Err(e) => e,
    }
}

#[test]
fn open_migrates_then_is_a_no_op_directly_and_through_pgbouncer() {
    for via in [Via::Tcp, Via::Bouncer] {
        let pg = pgtest::database();
        let url = pg.url(via);
        let mut db = opened(PgDb::open(&url, &migrations(3, None)));
        assert_eq!(db.migrated().applied.len(), 3, "{via:?}");
        let info = db.version_info();
        assert_eq!((info.code_schema_version, info.database_schema_version, info.pending), (3, 3, 0));
        assert!(info.database.contains(":***@") && !info.database.contains(pg.server().password()), "{info}");
        assert_eq!(info.database_tool_version.as_deref(), Some(envdb::VERSION));
        let history = db.history().unwrap();
        assert_eq!(history.iter().map(|a| a.version).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(history[2].checksum, envdb::checksum::checksum(b"CREATE TABLE t3 (id integer PRIMARY KEY);\n"));
        // The session is the application's: it sees the tables.
        db.client().batch_execute("INSERT INTO t3 VALUES (1)").unwrap();
        drop(db);
        let db = opened(PgDb::open(&url, &migrations(3, None)));
        assert!(db.migrated().applied.is_empty());
        let mut db = opened(PgDb::open(&url, &migrations(5, None)));
        assert_eq!((db.migrated().before, db.migrated().after), (3, 5));
        assert_eq!(count(db.client(), "SELECT count(*) FROM t3"), 1);
        let mut client = opened(PgDb::open(&url, &migrations(5, None))).into_client();
        assert_eq!(count(&mut client, "SELECT count(*) FROM envdb_migrations"), 5);
    }
}

#[test]
fn a_missing_database_is_created_and_refuse_behind_changes_nothing() {
    let pg = pgtest::database();
    let name = format!("{}_new", pg.name());
    let url = pg.server().url(Via::Tcp, &name);
    let mut admin = pg.server().admin();
    let exists = |admin: &mut pgtest::postgres::Client| {
        count(admin, &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")) == 1
    };
    // RefuseBehind with no database: nothing to open, and nothing created.
    let refuse = Options { policy: Policy::RefuseBehind, ..Options::default() };
    let e = refused(PgDb::open_with(&url, &migrations(2, None), refuse));
    assert!(matches!(e, Error::Absent { code: 2, .. }), "{e}");
    assert!(e.to_string().contains("does not exist, and this build expects version 2; nothing was created"), "{e}");
    assert!(!exists(&mut admin));
    drop(opened(PgDb::open(&url, &migrations(2, None))));
    assert!(exists(&mut admin));
    let e = refused(PgDb::open_with(&url, &migrations(4, None), refuse));
    assert!(matches!(e, Error::Behind { database: 2, code: 4, pending: 2, .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains(&format!("the database postgres://envdb_test:***@127.0.0.1:{}/{name}", pg.server().port())));
    assert!(text.contains("cargo envdb upgrade") && !text.contains(pg.server().password()), "{text}");
    let mut db = opened(PgDb::open_with(&url, &migrations(2, None), refuse));
    assert_eq!(db.version_info().database_schema_version, 2, "RefuseBehind opens a database that is up to date");
    drop(db);
    // BackupPolicy::Always backs an unprotected environment up too: a verified pg_dump archive
    // of the version it migrates from, in the environment's backups directory.
    let always = Options { backup: BackupPolicy::Always, ..Options::default() };
    let data = tempfile::tempdir().unwrap();
    let mut env = env_at(&migrations(3, None), "dev", &url);
    env.spec.data_dir = data.path().to_owned();
    let db = opened(PgDb::open_env_with(&env, &migrations(3, None), always));
    let backup = db.backup().expect("a backup").to_owned();
    let file = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(backup.starts_with(data.path().join("backups")), "{}", backup.display());
    assert!(file.starts_with(&format!("{name}.dev.")) && file.ends_with(".v2.dump"), "{file}");
    assert!(data.path().join("backups").join(format!("{file}.sha256")).exists());
    drop(db);
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
}

#[test]
fn the_environment_marker_is_checked_and_recorded() {
    let pg = pgtest::database();
    let url = pg.url(Via::Bouncer);
    let m = migrations(1, None);
    let dev = env_at(&m, "dev", &url);
    let mut db = opened(PgDb::open_env(&dev, &m));
    assert!(db.version_info().to_string().contains("environment:             dev (chosen by --env flag)"));
    assert_eq!(
        db.client().query_one("SELECT value FROM envdb_meta WHERE key = 'project'", &[]).unwrap().get::<_, String>(0),
        "app"
    );
    drop(db);
    let staging = env_at(&m, "staging", &url);
    let e = refused(PgDb::open_env(&staging, &m)).to_string();
    assert!(e.contains("`dev`") && e.contains("`staging`"), "{e}");
    // A database that records prod is not opened as dev (the marker written by `env --adopt`).
    let other = pgtest::database();
    let other_url = other.url(Via::Tcp);
    let mut backend = Postgres::connect(&other_url, "label".into(), PgOptions::default()).unwrap();
    backend.adopt("prod").unwrap();
    drop(backend);
    let e = refused(PgDb::open_env(&env_at(&m, "dev", &other_url), &m)).to_string();
    assert!(e.contains("`prod`") && e.contains("`dev`") && e.contains(":***@"), "{e}");
    assert_eq!(count(&mut other.connect(Via::Tcp), "SELECT count(*) FROM envdb_migrations"), 0);
}

#[test]
fn a_protected_environment_is_refused_in_a_test_process() {
    let pg = pgtest::database();
    let m = migrations(1, None);
    // This binary is a cargo test harness, so it is a test run without any helper having run.
    assert!(envdb::environment::is_test_process());
    let name = format!("{}_prod", pg.name());
    let mut prod = env_at(&m, "prod", &pg.server().url(Via::Tcp, &name));
    prod.spec.protected = true;
    // Refused before any connection: a missing protected database is not created either.
    let e = refused(PgDb::open_env(&prod, &m)).to_string();
    assert!(e.contains("refusing to open the protected environment `prod`") && e.contains(":***@"), "{e}");
    let mut admin = pg.server().admin();
    assert_eq!(count(&mut admin, &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")), 0);
    prod.spec.url = Some(Ok(DbUrl::parse(&pg.url(Via::Tcp)).unwrap()));
    let e = refused(PgDb::open_env(&prod, &m)).to_string();
    assert!(e.contains("refusing to open the protected environment `prod`") && e.contains(":***@"), "{e}");
    assert_eq!(count(&mut pg.connect(Via::Tcp), "SELECT count(*) FROM pg_tables WHERE tablename = 't1'"), 0);
}

#[test]
fn eight_concurrent_starts_apply_each_migration_once() {
    let pg = pgtest::database();
    let m = migrations(12, Some(0.3));
    let barrier = std::sync::Barrier::new(8);
    let applied: Vec<usize> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let url = pg.url(if i % 2 == 0 { Via::Tcp } else { Via::Bouncer });
                let (m, barrier) = (&m, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    opened(PgDb::open(&url, m)).migrated().applied.len()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(applied.iter().sum::<usize>(), 12, "{applied:?}");
    let mut client = pg.connect(Via::Tcp);
    assert_eq!(count(&mut client, "SELECT count(*) FROM envdb_migrations"), 12);
    assert_eq!(count(&mut client, "SELECT count(DISTINCT version) FROM envdb_migrations"), 12);
}

#[test]
fn a_wrong_password_is_never_shown_and_an_unreachable_server_is_named() {
    let pg = pgtest::database();
    let wrong = "Wr0ngPassw0rd-7c1e";
    let e = refused(PgDb::open(&pg.url_with_password(Via::Tcp, wrong), &migrations(1, None))).to_string();
    assert!(e.contains("password authentication failed for the role `envdb_test`"), "{e}");
    assert!(!e.contains(wrong) && e.contains(":***@"), "{e}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let e = refused(PgDb::open(&format!("postgres://u:{wrong}@127.0.0.1:{port}/db"), &migrations(1, None)));
    let e = e.to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")) && !e.contains(wrong), "{e}");
    assert!(start.elapsed() < Duration::from_secs(11), "{:?}", start.elapsed());
    let e = refused(PgDb::open(&format!("postgress://u:{wrong}@h/db"), &migrations(1, None))).to_string();
    assert!(e.contains("postgress") && !e.contains(wrong), "{e}");
}

#[test]
fn db_open_env_refuses_an_environment_on_a_server() {
    let m = migrations(1, None);
    let env = env_at(&m, "pg", "postgres://app:S3cretPw@db.internal:5432/tasks");
    let e = Db::open_env(&env, &m).err().expect("refused").to_string();
    assert!(e.contains("the environment `pg` is on PostgreSQL (postgres://app:***@db.internal:5432/tasks)"), "{e}");
    assert!(e.contains("PgDb::open_env") && !e.contains("S3cretPw"), "{e}");
    assert!(!env.database().exists(), "no file was opened");
    // And the other way round.
    let mut file = Environment::resolve(&m, Some("dev")).unwrap();
    file.spec.url = None;
    let e = refused(PgDb::open_env(&file, &m)).to_string();
    assert!(e.contains("is on a SQLite file") && e.contains("Db::open_env"), "{e}");
}

#[test]
fn status_counts_the_application_sessions() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    let t = Test::with(&[("0001_m1.sql", "CREATE TABLE t1 (id integer PRIMARY KEY);\n")]);
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${APP_URL}\"\n");
    let t = t.env("APP_URL", &url);
    let m = migrations(1, None);
    let sessions = |t: &Test| -> Option<String> {
        let json = t.run(&["status", "--format", "json"]).json();
        json["facts"]["app sessions"].as_str().map(str::to_owned)
    };
    let wait_for = |t: &Test, n: &str| {
        let start = Instant::now();
        while sessions(t).as_deref() != Some(n) {
            assert!(start.elapsed() < Duration::from_secs(5), "status shows {:?}, not {n}", sessions(t));
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&t, "0");
    let db = opened(PgDb::open_env(&env_at(&m, "dev", &url), &m));
    wait_for(&t, "1");
    let second = opened(PgDb::open_env(&env_at(&m, "dev", &url), &m));
    wait_for(&t, "2");
    t.run(&["status"]).success().stdout_has("app sessions: 2");
    let mut admin = pg.server().admin();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'envdb-app:app:dev'",
        pg.name()
    );
    assert_eq!(count(&mut admin, &sql), 2);
    drop((db, second));
    wait_for(&t, "0");
    // Through PgBouncer the name reaches the server connections the application's client uses.
    let pooled = opened(PgDb::open_env(&env_at(&m, "dev", &pg.url(Via::Bouncer)), &m));
    let start = Instant::now();
    while sessions(&t).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "no application session through PgBouncer");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(pooled);
}

/// `testing::fresh_pg` runs in a child process of this test binary (the variable it reads is
/// set for the child only): `case` picks what the child does, and its output says what it saw.
fn fresh_pg_child(case: &str, url: Option<&str>) -> (bool, String) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["fresh_pg_cases", "--exact", "--nocapture", "--test-threads=1"]).env("FRESH_PG_CASE", case);
    match url {
        Some(url) => cmd.env("ENVDB_TEST_DATABASE_URL", url),
        None => cmd.env_remove("ENVDB_TEST_DATABASE_URL"),
    };
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// What the child does (nothing in the parent).
#[test]
fn fresh_pg_cases() {
    let Ok(case) = std::env::var("FRESH_PG_CASE") else { return };
    let m = migrations(2, None);
    match case.as_str() {
        "create" | "panic" => {
            let mut db = envdb::testing::fresh_pg(&m).unwrap_or_else(|e| panic!("{e}"));
            assert!(envdb::environment::is_test_process());
            assert!(db.name().starts_with("envdb_test_"));
            println!("DATABASE={}", db.name());
            db.client().batch_execute("INSERT INTO t2 VALUES (1)").unwrap();
            assert_eq!(db.version_info().database_schema_version, 2);
            if case == "panic" {
                panic!("the test failed here");
            }
        }
        _ => {
            let e = envdb::testing::fresh_pg(&m).err().expect("refused").to_string();
            println!("ERROR={e}");
        }
    }
}

#[test]
fn fresh_pg_creates_a_database_and_drops_it_even_after_a_panic() {
    let pg = pgtest::database();
    let mut admin = pg.server().admin();
    for case in ["create", "panic"] {
        for via in [Via::Tcp, Via::Bouncer] {
            let (ok, out) = fresh_pg_child(case, Some(&pg.url(via)));
            assert_eq!(ok, case == "create", "{out}");
            if case == "panic" {
                assert!(out.contains("the test failed here"), "{out}");
            }
            // (The harness prints the test's name on the same line.)
            let name = out.split("DATABASE=").nth(1).and_then(|r| r.split_whitespace().next());
            let name = name.unwrap_or_else(|| panic!("{out}"));
            let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
            assert_eq!(count(&mut admin, &sql), 0, "{name} was left behind ({case}, {via:?})");
        }
    }
}

#[test]
fn fresh_pg_says_what_is_missing() {
    let pg = pgtest::database();
    let (_, out) = fresh_pg_child("error", None);
    assert!(out.contains("ERROR=ENVDB_TEST_DATABASE_URL is not set"), "{out}");
    let wrong = "N0tThePassw0rd-a1";
    let (_, out) = fresh_pg_child("error", Some(&pg.url_with_password(Via::Tcp, wrong)));
    assert!(out.contains("ERROR=cannot connect to the maintenance database"), "{out}");
    assert!(out.contains("password authentication failed") && !out.contains(wrong), "{out}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, out) = fresh_pg_child("error", Some(&format!("postgres://u@127.0.0.1:{port}/postgres")));
    assert!(out.contains(&format!("127.0.0.1:{port}")), "{out}");
}

#[test]
fn read_only_behind_lets_reads_through_and_fails_writes() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    drop(opened(PgDb::open(&url, &migrations(2, None))));
    let ro = Options { policy: Policy::ReadOnlyBehind, ..Options::default() };
    let mut db = opened(PgDb::open_with(&url, &migrations(4, None), ro));
    assert!(db.is_behind() && db.migrated().applied.is_empty());
    assert_eq!(db.version_info().database_schema_version, 2);
    db.client().simple_query("SELECT count(*) FROM t1").unwrap();
    let e = db.client().batch_execute("INSERT INTO t1 VALUES (1)").unwrap_err();
    let e = e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string());
    assert!(e.contains("read-only transaction"), "{e}");
    drop(db);
    assert_eq!(count(&mut pg.connect(Via::Tcp), "SELECT count(*) FROM envdb_migrations"), 2);
    // Up to date: not behind, writes work.
    let mut db = opened(PgDb::open_with(&url, &migrations(2, None), ro));
    assert!(!db.is_behind());
    db.client().batch_execute("INSERT INTO t1 VALUES (1)").unwrap();
}

#[test]
fn a_start_waiting_for_another_run_gives_up_in_the_applications_words() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    drop(opened(PgDb::open(&url, &migrations(1, None))));
    let mut other = Postgres::connect(&url, "other".into(), PgOptions::default()).unwrap();
    let _lease = other.run_lock(Duration::from_secs(5), &mut |_| {}).unwrap();
    let opts = Options { lock_timeout: Duration::from_millis(300), ..Options::default() };
    let e = refused(PgDb::open_with(&url, &migrations(2, None), opts));
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("stayed locked") && text.contains("raise Options::lock_timeout"), "{text}");
    assert!(!text.contains("--lock-timeout") && !text.contains(pg.server().password()), "{text}");
    assert_eq!(count(&mut pg.connect(Via::Tcp), "SELECT count(*) FROM envdb_migrations"), 1);
}

#[test]
fn all_or_nothing_leaves_the_version_the_previous_binary_opens() {
    let pg = pgtest::database();
    let url = pg.url(Via::Tcp);
    drop(opened(PgDb::open(&url, &migrations(1, None))));
    let whole = Options { all_or_nothing: true, ..Options::default() };
    let e = refused(PgDb::open_with(&url, &failing_last(3), whole)).to_string();
    assert!(e.contains("0003_bad.sql") && e.contains("is now at version 1"), "{e}");
    let e = refused(PgDb::open(&url, &failing_last(3))).to_string();
    assert!(e.contains("is now at version 2") && !e.contains(pg.server().password()), "{e}");
}
