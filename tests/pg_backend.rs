//! The PostgreSQL backend through the library, on a real PostgreSQL 15 and PgBouncer 1.18
//! (transaction pooling) started by `pgtest`: connecting, the history, applying, the run lock,
//! and the failures a user must be able to act on.

use envdb::Migration;
use envdb::db::DbError;
use envdb::db::apply::{MigrateOptions, Progress};
use envdb::db::backend::Database;
use envdb::db::postgres::{PgOptions, Postgres, ensure_database};
use pgtest::Via;
use std::time::{Duration, Instant};

fn open(url: &str, opts: PgOptions) -> Postgres {
    Postgres::connect(url, String::from("postgres://envdb_test:***@test"), opts).unwrap_or_else(|e| panic!("{e}"))
}

fn error(url: &str, opts: PgOptions) -> DbError {
    match Postgres::connect(url, String::from("postgres://envdb_test:***@test"), opts) {
        Ok(_) => panic!("connected"),
        Err(e) => e,
    }
}

/// Migrations `0001_m.sql`… from their SQL (checksums are the version's text).
fn migrations<'a>(names: &'a [String], sqls: &'a [String], sums: &'a [String]) -> Vec<Migration<'a>> {
    (0..sqls.len())
        .map(|i| Migration { version: i as u64 + 1, name: &names[i], up: &sqls[i], down: None, checksum: &sums[i] })
        .collect()
}

struct Files {
    names: Vec<String>,
    sqls: Vec<String>,
    sums: Vec<String>,
}

impl Files {
    fn new(sqls: Vec<String>) -> Files {
        let names = (1..=sqls.len()).map(|v| format!("{v:04}_m.sql")).collect();
        let sums = (1..=sqls.len()).map(|v| format!("sum{v}")).collect();
        Files { names, sqls, sums }
    }

    fn list(&self) -> Vec<Migration<'_>> {
        migrations(&self.names, &self.sqls, &self.sums)
    }
}

fn migrate(db: &mut Postgres, files: &[Migration<'_>]) -> Result<envdb::db::apply::MigrateReport, DbError> {
    let opts = MigrateOptions { environment: Some("dev".into()), ..MigrateOptions::default() };
    db.migrate(files, &opts, &mut |_| {})
}

fn count(client: &mut pgtest::postgres::Client, sql: &str) -> i64 {
    let rows = client.simple_query(sql).unwrap();
    rows.iter()
        .find_map(|m| match m {
            pgtest::postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v.parse().unwrap()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn history_round_trip_rollback_redo_repair_seed_and_the_environment_marker() {
    let pg = pgtest::database();
    let mut db = open(&pg.url(Via::Tcp), PgOptions::default());
    let downs = ["DROP TABLE a;", "DELETE FROM a WHERE x = 1;"];
    let files = Files::new(vec!["CREATE TABLE a (x int PRIMARY KEY);".into(), "INSERT INTO a VALUES (1);".into()]);
    let mut list = files.list();
    for (m, d) in list.iter_mut().zip(downs) {
        m.down = Some(d);
    }
    let report = migrate(&mut db, &list).unwrap();
    assert_eq!((report.before, report.after, report.applied.len()), (0, 2, 2));
    let applied = db.applied().unwrap();
    assert_eq!(
        applied.iter().map(|a| (a.version, a.name.as_str())).collect::<Vec<_>>(),
        [(1, "0001_m.sql"), (2, "0002_m.sql")]
    );
    let at = &applied[0].applied_at;
    assert!(at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
    assert_eq!(applied[0].tool_version, envdb::VERSION);
    assert_eq!(db.meta("environment").unwrap().as_deref(), Some("dev"));
    assert_eq!(db.meta("schema_version").unwrap().as_deref(), Some("2"));
    // Nothing pending: nothing happens.
    assert!(migrate(&mut db, &list).unwrap().applied.is_empty());
    // Opened as another environment: refused.
    let e = db.check_environment("prod").unwrap_err().to_string();
    assert!(e.contains("belongs to the environment `dev`") && e.contains("`prod`"), "{e}");

    assert_eq!(db.rollback(&[&list[1]]).unwrap(), [2]);
    assert_eq!(db.latest().unwrap(), 1);
    assert_eq!(db.meta("last_migration").unwrap().as_deref(), Some("0001_m.sql"));
    migrate(&mut db, &list).unwrap();
    db.redo(&list[1]).unwrap();
    assert_eq!(db.latest().unwrap(), 2);
    let mut client = pg.connect(Via::Tcp);
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 1);

    let edited = Migration { checksum: "new", ..list[1] };
    db.repair(&[(&applied[1], &edited)]).unwrap();
    assert_eq!(db.applied().unwrap()[1].checksum, "new");
    assert!(db.meta("last_repair").unwrap().unwrap().contains("2:sum2->new"));

    db.run_script("seed.sql", "INSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);").unwrap();
    let e = db.run_script("bad.sql", "INSERT INTO a VALUES (4);\nINSERT INTO a VALUES (2);").unwrap_err().to_string();
    assert!(e.contains("bad.sql failed at line 2: ERROR 23505"), "{e}");
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 3);

    let facts = db.facts();
    assert!(facts.iter().any(|(k, v)| *k == "server" && v.starts_with("PostgreSQL 15")), "{facts:?}");
    assert!(facts.iter().any(|(k, v)| *k == "connections" && v.parse::<u32>().unwrap() >= 1), "{facts:?}");
}

#[test]
fn history_ignores_search_path_and_lives_in_its_schema() {
    let pg = pgtest::database();
    let mut admin = pg.server().admin();
    admin.batch_execute(&format!("ALTER DATABASE {} SET search_path = other", pg.name())).unwrap();
    let mut client = pg.connect(Via::Tcp);
    client.batch_execute("CREATE SCHEMA other").unwrap();
    let files = Files::new(vec!["CREATE TABLE t (x int);".into()]);
    let mut db = open(&pg.url(Via::Bouncer), PgOptions::default());
    migrate(&mut db, &files.list()).unwrap();
    let n = |c: &mut pgtest::postgres::Client, t: &str| {
        count(c, &format!("SELECT count(*) FROM pg_tables WHERE schemaname || '.' || tablename = '{t}'"))
    };
    assert_eq!(n(&mut client, "public.envdb_migrations"), 1);
    assert_eq!(n(&mut client, "other.envdb_migrations"), 0);
    assert_eq!(n(&mut client, "other.t"), 1);
    assert_eq!(db.latest().unwrap(), 1);

    // A schema of its own, created when missing.
    let opts = PgOptions { history_schema: "envdb \"hist\"".into(), ..PgOptions::default() };
    let mut db = open(&pg.url(Via::Tcp), opts);
    assert_eq!(db.latest().unwrap(), 0);
    let files = Files::new(vec!["CREATE TABLE u (x int);".into()]);
    migrate(&mut db, &files.list()).unwrap();
    assert_eq!(n(&mut client, "envdb \"hist\".envdb_migrations"), 1);
}

#[test]
fn concurrent_runners_direct_and_through_pgbouncer_apply_each_migration_once() {
    let pg = pgtest::database();
    let mut sqls = vec![String::from("CREATE TABLE log (v int NOT NULL);\nINSERT INTO log VALUES (1);")];
    for v in 2..=100 {
        sqls.push(if v == 50 {
            "-- envdb: no-transaction\nSELECT pg_sleep(0.2);\nINSERT INTO log VALUES (50);\nCREATE INDEX CONCURRENTLY log_v ON log (v);\nSELECT 1;".into()
        } else {
            format!("INSERT INTO log VALUES ({v});")
        });
    }
    let files = Files::new(sqls);
    let start = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (pg, files, start) = (&pg, &files, &start);
            s.spawn(move || {
                let via = if i % 2 == 0 { Via::Tcp } else { Via::Bouncer };
                let mut db = open(&pg.url(via), PgOptions::default());
                start.wait();
                let _lock = db.run_lock(Duration::from_secs(60), &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
                migrate(&mut db, &files.list()).unwrap_or_else(|e| panic!("{e}"));
            });
        }
    });
    let mut client = pg.connect(Via::Tcp);
    assert_eq!(count(&mut client, "SELECT count(*) FROM log"), 100);
    assert_eq!(count(&mut client, "SELECT count(DISTINCT v) FROM log"), 100);
    assert_eq!(count(&mut client, "SELECT count(*) FROM envdb_migrations"), 100);
    assert_eq!(count(&mut client, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 0);
    assert_eq!(count(&mut client, "SELECT count(*) FROM envdb_lock"), 0, "every lease released");
    // Whichever runner settled last, envdb_meta names the newest migration.
    assert_eq!(db_meta(&mut client, "schema_version"), "100");
    assert_eq!(db_meta(&mut client, "last_migration"), "0100_m.sql");
}

fn db_meta(client: &mut pgtest::postgres::Client, key: &str) -> String {
    client.query_one("SELECT value FROM envdb_meta WHERE key = $1", &[&key]).unwrap().get(0)
}

#[test]
fn the_run_settles_once_every_time_it_measured_and_the_meta_even_when_it_fails() {
    let pg = pgtest::database();
    let mut db = open(&pg.url(Via::Tcp), PgOptions::default());
    let slow = "SELECT pg_sleep(0.06);";
    let files = Files::new(vec![slow.into(), "SELECT 1;".into(), slow.into()]);
    migrate(&mut db, &files.list()).unwrap();
    let mut client = pg.connect(Via::Tcp);
    let ms = |client: &mut pgtest::postgres::Client, v: i64| {
        count(client, &format!("SELECT execution_ms FROM envdb_migrations WHERE version = {v}"))
    };
    // The first measured by envdb, the last by the server in the settle sent with it.
    assert!(ms(&mut client, 1) >= 60 && ms(&mut client, 3) >= 60, "{} {}", ms(&mut client, 1), ms(&mut client, 3));
    assert_eq!(db_meta(&mut client, "schema_version"), "3");

    // A run that fails after applying one still settles it.
    let files = Files::new(vec![slow.into(), "SELECT 1;".into(), slow.into(), slow.into(), "SELECT nope;".into()]);
    migrate(&mut db, &files.list()).unwrap_err();
    assert!(ms(&mut client, 4) >= 60, "{}", ms(&mut client, 4));
    assert_eq!(db_meta(&mut client, "schema_version"), "4");
    assert_eq!(db_meta(&mut client, "last_migration"), "0004_m.sql");
}

#[test]
fn without_the_lease_the_history_claim_still_applies_each_migration_once() {
    let pg = pgtest::database();
    let mut sqls = vec![String::from("CREATE TABLE log (v int NOT NULL);")];
    sqls.extend((2..=40).map(|v| format!("INSERT INTO log VALUES ({v});")));
    let files = Files::new(sqls);
    let mut db = open(&pg.url(Via::Tcp), PgOptions::default());
    migrate(&mut db, &files.list()[..1]).unwrap();
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for i in 0..4 {
            let (pg, files, start) = (&pg, &files, &start);
            s.spawn(move || {
                let via = if i % 2 == 0 { Via::Tcp } else { Via::Bouncer };
                let mut db = open(&pg.url(via), PgOptions::default());
                start.wait();
                migrate(&mut db, &files.list()).unwrap_or_else(|e| panic!("{e}"));
            });
        }
    });
    let mut client = pg.connect(Via::Tcp);
    assert_eq!(count(&mut client, "SELECT count(*) FROM log"), 39);
    assert_eq!(count(&mut client, "SELECT count(*) FROM envdb_migrations"), 40);
}

#[test]
fn a_waiting_run_says_who_holds_the_lock_and_times_out_naming_it() {
    let pg = pgtest::database();
    let mut first = open(&pg.url(Via::Bouncer), PgOptions::default());
    let held = first.run_lock(Duration::from_secs(1), &mut |_| {}).unwrap();
    let mut second = open(&pg.url(Via::Tcp), PgOptions::default());
    let mut told = Vec::new();
    let start = Instant::now();
    let e = second.run_lock(Duration::from_millis(600), &mut |who| told.push(who.to_owned())).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(told.len(), 1);
    let pid = format!("pid {}", std::process::id());
    assert!(told[0].contains(held.holder()) && told[0].contains(&pid) && told[0].contains(" since "), "{}", told[0]);
    assert!(e.contains("holds the migration lock") && e.contains(held.holder()) && e.contains("--lock-timeout"), "{e}");
    drop(held);
    let _again = second.run_lock(Duration::from_secs(5), &mut |_| {}).unwrap();
}

#[test]
fn a_blocked_migration_is_retried_then_fails_saying_how_many_attempts() {
    let pg = pgtest::database();
    let files = Files::new(vec!["CREATE TABLE t (x int);".into(), "ALTER TABLE t ADD COLUMN y int;".into()]);
    let opts = PgOptions { lock_timeout: Duration::from_millis(100), lock_retries: 2, ..PgOptions::default() };
    let mut db = open(&pg.url(Via::Bouncer), opts);
    let list = files.list();
    migrate(&mut db, &list[..1]).unwrap();
    let mut blocker = pg.connect(Via::Tcp);
    blocker.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;").unwrap();
    let mut retries = Vec::new();
    let opts = MigrateOptions::default();
    let e = db
        .migrate(&list, &opts, &mut |p| {
            if let Progress::Retrying { file, attempt, attempts, .. } = p {
                retries.push((file.to_owned(), attempt, attempts));
            }
        })
        .unwrap_err()
        .to_string();
    assert_eq!(retries, [("0002_m.sql".to_owned(), 2, 3), ("0002_m.sql".to_owned(), 3, 3)]);
    assert!(e.contains("0002_m.sql failed at line 1: ERROR 55P03") && e.contains("3 attempts"), "{e}");
    assert!(e.contains("the database is at version 1"), "{e}");
    blocker.batch_execute("COMMIT").unwrap();
    assert_eq!(migrate(&mut db, &list).unwrap().after, 2);
}

#[test]
fn failures_name_the_file_the_line_and_the_sqlstate_and_change_nothing() {
    let pg = pgtest::database();
    let mut db = open(&pg.url(Via::Tcp), PgOptions::default());
    let syntax = "-- one\n-- two\n/* three\n   four */\n-- five\n\nCREATE TABLEX t (a int);\n";
    let files = Files::new(vec!["CREATE TABLE ok (a int);".into(), syntax.into()]);
    let e = migrate(&mut db, &files.list()).unwrap_err().to_string();
    assert!(e.contains("0002_m.sql failed at line 7: ERROR 42601: syntax error at or near \"TABLEX\""), "{e}");
    assert!(e.contains("migrations 1 of this run stay applied; the database is at version 1"), "{e}");

    // A unique violation (no position) in the second statement of a data migration.
    let data =
        "-- data\nCREATE TABLE u (a int PRIMARY KEY);\nINSERT INTO u VALUES (1);\n\nINSERT INTO u\n  VALUES (1);\n";
    let files = Files::new(vec!["CREATE TABLE ok (a int);".into(), data.into()]);
    let e = migrate(&mut db, &files.list()).unwrap_err().to_string();
    assert!(e.contains("0002_m.sql failed at line 5: ERROR 23505: duplicate key value"), "{e}");
    assert!(e.contains("Key (a)=(1) already exists"), "{e}");
    let mut client = pg.connect(Via::Tcp);
    assert_eq!(count(&mut client, "SELECT count(*) FROM pg_tables WHERE tablename = 'u'"), 0);
    assert_eq!(db.latest().unwrap(), 1);

    // An unterminated dollar quote never runs (it would swallow the history row).
    let files = Files::new(vec!["CREATE TABLE ok (a int);".into(), "SELECT 1;\nSELECT $x$ never closed;".into()]);
    let e = migrate(&mut db, &files.list()).unwrap_err().to_string();
    assert!(e.contains("0002_m.sql failed at line 2: quoted text or a comment starts here and never ends"), "{e}");
    // A file run inside envdb's transaction may not hold CONCURRENTLY: refused before running.
    let files = Files::new(vec!["CREATE TABLE ok (a int);".into(), "CREATE INDEX CONCURRENTLY i ON ok (a);".into()]);
    assert!(matches!(migrate(&mut db, &files.list()), Err(DbError::Refused { .. })));
    assert_eq!(db.latest().unwrap(), 1);
}

#[test]
fn a_failed_concurrent_unique_index_is_reported_with_the_drop_to_run() {
    let pg = pgtest::database();
    let mut db = open(&pg.url(Via::Bouncer), PgOptions::default());
    let files = Files::new(vec![
        "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);".into(),
        "-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY t_plain ON t (a);\n\nCREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a);\n".into(),
    ]);
    let e = migrate(&mut db, &files.list()).unwrap_err();
    let DbError::Migration(f) = &e else { panic!("{e}") };
    assert!(f.outside_transaction && f.line == Some(4), "{e}");
    assert_eq!(f.left_behind, ["DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_a\";"]);
    let text = e.to_string();
    assert!(text.contains("ERROR 23505") && text.contains("statements before line 4 took effect"), "{text}");
    assert!(text.contains("it left INVALID indexes behind; drop them before retrying:\n    DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"t_a\";"), "{text}");
    assert_eq!(db.latest().unwrap(), 1);
}

#[test]
fn a_wrong_password_is_said_and_never_shown() {
    let pg = pgtest::database();
    let secret = "Wr0ng-s3cret-d0-not-print";
    let e = error(&pg.url_with_password(Via::Tcp, secret), PgOptions::default());
    let (text, debug) = (e.to_string(), format!("{e:?}"));
    assert!(text.contains("password authentication failed for the role `envdb_test`"), "{text}");
    assert!(text.contains("the password in the URL"), "{text}");
    for shown in [&text, &debug] {
        assert!(!shown.contains(secret) && !shown.contains(pg.server().password()), "{shown}");
    }
}

#[test]
fn an_unreachable_server_is_named_and_the_connect_timeout_is_honoured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = error(&format!("postgres://u:pw@127.0.0.1:{port}/db?sslmode=disable"), PgOptions::default()).to_string();
    assert!(e.contains(&format!("cannot reach the PostgreSQL server at 127.0.0.1:{port}")), "{e}");
    assert!(!e.contains("pw@"), "{e}");
    // A server that accepts and never answers: bounded by the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let opts = PgOptions { connect_timeout: Duration::from_millis(500), ..PgOptions::default() };
    let start = Instant::now();
    let e = error(&format!("postgres://u:pw@127.0.0.1:{port}/db"), opts).to_string();
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
    assert!(e.contains(&format!("127.0.0.1:{port} for postgres://envdb_test:***@test did not answer within")), "{e}");
    // A misspelt scheme.
    let e = error("postgress://u:pw@127.0.0.1/db", PgOptions::default()).to_string();
    assert!(e.contains("`postgress`") && !e.contains("pw@"), "{e}");
}

#[test]
fn a_role_without_create_on_the_history_schema_gets_the_grant_to_run() {
    let pg = pgtest::database();
    let mut admin = pg.server().admin();
    let role = format!("nocreate_{}", pg.name());
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'pw'")).unwrap();
    let url = pg.server().url_as(Via::Tcp, pg.name(), &role, "pw");
    let mut db = open(&url, PgOptions::default());
    let files = Files::new(vec!["SELECT 1;".into()]);
    let e = migrate(&mut db, &files.list()).unwrap_err().to_string();
    assert!(e.contains(&format!("the role `{role}` cannot create envdb's tables in the schema `public`")), "{e}");
    assert!(e.contains(&format!("GRANT CREATE ON SCHEMA \"public\" TO \"{role}\";")), "{e}");
    assert!(e.contains("42501"), "{e}");
    pg.connect(Via::Tcp).batch_execute(&format!("GRANT CREATE ON SCHEMA public TO {role}")).unwrap();
    assert_eq!(migrate(&mut db, &files.list()).unwrap().after, 1);
    drop(db);
    admin.batch_execute(&format!("DROP OWNED BY {role} CASCADE")).ok();
}

#[test]
fn a_missing_database_is_named_and_created_only_when_asked() {
    let pg = pgtest::database();
    let name = format!("{}_new", pg.name());
    let url = pg.server().url(Via::Tcp, &name);
    let e = error(&url, PgOptions::default()).to_string();
    assert!(e.contains(&format!("the database `{name}` does not exist")) && e.contains("--create"), "{e}");
    assert!(ensure_database(&url, "label", &PgOptions::default()).unwrap());
    assert!(!ensure_database(&url, "label", &PgOptions::default()).unwrap());
    let mut db = open(&url, PgOptions::default());
    assert_eq!(db.latest().unwrap(), 0);
    drop(db);
    pg.server().admin().batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
}

#[test]
fn a_password_from_the_password_file_and_the_tls_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    let pg = pgtest::database();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    let line = format!("# envdb\n127.0.0.1:{}:*:envdb_test:{}\n", pg.server().port(), pg.server().password());
    std::fs::write(&file, line).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // SAFETY: no other test of this binary reads PGPASSFILE or PGPASSWORD (all others put the
    // password in the URL), and std's environment functions are serialised.
    unsafe { std::env::set_var("PGPASSFILE", &file) };
    let url = format!("postgres://envdb_test@127.0.0.1:{}/{}", pg.server().port(), pg.name());
    let connected = Postgres::connect(&url, "label".into(), PgOptions::default()).map(drop).map_err(|e| e.to_string());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ignored = error(&url, PgOptions::default()).to_string();
    unsafe { std::env::remove_var("PGPASSFILE") };
    connected.unwrap();
    assert!(ignored.contains("asks for a password for the role `envdb_test`"), "{ignored}");

    // The test server has no TLS: `prefer` falls back to plain text, `require` refuses.
    let with = |mode: &str| format!("{}?sslmode={mode}", pg.url(Via::Tcp));
    open(&with("prefer"), PgOptions::default());
    open(&with("disable"), PgOptions::default());
    let e = error(&with("require"), PgOptions::default()).to_string();
    assert!(e.contains("TLS with the server of postgres://envdb_test:***@test failed"), "{e}");
    assert!(!e.contains(pg.server().password()), "{e}");
    let e = error(&with("verify-ca"), PgOptions::default()).to_string();
    assert!(e.contains("sslmode=verify-ca is not supported"), "{e}");
}
