//! Every database command on PostgreSQL through the real binary, in a temporary host project
//! whose envdb.toml points an environment at the pgtest server (directly and through PgBouncer in
//! transaction mode), and the bad inputs users hit; no run ever shows the password.

mod common;
use common::*;
use pgtest::Via;
use std::time::{Duration, Instant};

/// A host project whose `dev` (and protected `prod`) environments are on the test server.
struct Pg {
    t: Test,
    server: &'static pgtest::Server,
    /// The harness's database, which only reserves a unique name: the project's databases are
    /// `<name>_dev` and `<name>_prod`, created by envdb itself.
    db: pgtest::Database<'static>,
    via: Via,
}

const TOML: &str = "name = \"app\"\n[env.dev]\nurl = \"${DEV_URL}\"\n[env.prod]\nurl = \"${PROD_URL}\"\n";

impl Pg {
    fn new(via: Via, files: &[(&str, &str)]) -> Pg {
        let db = pgtest::database();
        let server = pgtest::shared();
        let dev = server.url(via, &format!("{}_dev", db.name()));
        let prod = server.url(via, &format!("{}_prod", db.name()));
        let t = Test::with(files).env("DEV_URL", &dev).env("PROD_URL", &prod);
        t.write("envdb.toml", TOML);
        Pg { t, server, db, via }
    }

    fn name(&self, env: &str) -> String {
        format!("{}_{env}", self.db.name())
    }

    /// Runs the binary; every run is checked for the password (see [`no_password`]).
    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        // Commands that may make a scratch database run one at a time (see [`scratch_databases`]).
        let replays = args.iter().any(|a| ["validate", "baseline", "schema"].contains(a));
        let _one_at_a_time = replays.then(|| SCRATCH.lock().unwrap_or_else(|e| e.into_inner()));
        let mut cmd = self.t.command(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let r = Run::from(cmd.output().unwrap());
        no_password(&self.t, &r, self.server.password());
        r
    }

    /// A superuser session on one of the project's databases (over the unix socket).
    fn admin(&self, env: &str) -> pgtest::postgres::Client {
        let url = self.server.url_as(Via::Socket, &self.name(env), pgtest::SUPERUSER, "");
        pgtest::postgres::Client::connect(&url, pgtest::postgres::NoTls).unwrap()
    }

    /// The first column of every row `sql` returns on `env`'s database.
    fn query(&self, env: &str, sql: &str) -> Vec<String> {
        column(&mut self.admin(env), sql)
    }

    fn exists(&self, env: &str) -> bool {
        let sql = format!("SELECT datname FROM pg_database WHERE datname = '{}'", self.name(env));
        !column(&mut self.server.admin(), &sql).is_empty()
    }

    fn versions(&self, env: &str) -> Vec<String> {
        self.query(env, "SELECT version FROM public.envdb_migrations ORDER BY version")
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut admin = self.server.admin();
        for env in ["dev", "prod", "test"] {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name(env)));
        }
    }
}

/// Held by every run that may make a scratch database, so that [`scratch_databases`] sees none
/// of another test's in-flight ones.
static SCRATCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The scratch databases left on the server (none while no replaying run is in flight).
fn scratch_databases(server: &pgtest::Server) -> Vec<String> {
    let _none_in_flight = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    column(&mut server.admin(), "SELECT datname FROM pg_database WHERE datname LIKE 'envdb_scratch_%'")
}

/// The password is in no output of any run, nor in any audit.log of the project.
#[track_caller]
fn no_password(t: &Test, r: &Run, password: &str) {
    for (what, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(!text.contains(password), "the password is in {what}:\n{text}");
    }
    let mut stack = vec![t.root().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("audit.log") {
                let log = std::fs::read_to_string(&p).unwrap();
                assert!(!log.contains(password), "the password is in {}:\n{log}", p.display());
            }
        }
    }
}

const PEOPLE: &str = "CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL);";
const PEOPLE_DOWN: &str = "DROP TABLE people;";

#[test]
fn migrate_status_history_rollback_and_redo_directly_and_through_pgbouncer() {
    for via in [Via::Tcp, Via::Bouncer] {
        let p = Pg::new(
            via,
            &[
                ("0001_people.sql", PEOPLE),
                ("0001_people.down.sql", PEOPLE_DOWN),
                ("0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY);"),
                ("0002_pets.down.sql", "DROP TABLE pets;"),
            ],
        );
        let r = p.run(&["status"]);
        r.success().stdout_has("(not created yet)");
        assert!(!p.exists("dev"), "status creates nothing");
        p.run(&["migrate"]).success().stderr_has(&format!("Created the database postgres://{}:***@", pgtest::ROLE));
        assert_eq!(p.versions("dev"), ["1", "2"], "{via:?}");

        let r = p.run(&["status"]);
        r.success().stdout_has("server:    PostgreSQL ").stdout_has("connections:").stdout_has("version:   2 of 2");
        let j = p.run(&["status", "--format", "json"]).json();
        let size = p.query("dev", "SELECT pg_database_size(current_database())")[0].parse::<u64>().unwrap();
        let reported = j["size_bytes"].as_u64().unwrap();
        assert!(
            reported > 1_000_000 && reported.abs_diff(size) < size / 10,
            "size_bytes {reported}, the server says {size}"
        );
        assert_eq!((j["exists"].as_bool(), j["version"].as_u64()), (Some(true), Some(2)));
        assert!(j["facts"]["server"].as_str().unwrap().starts_with("PostgreSQL "), "{j}");

        let r = p.run(&["history"]);
        r.success().stdout_has("0001_people.sql").stdout_has("0002_pets.sql");
        let h = p.run(&["history", "--format", "json"]).json();
        assert_eq!(h.as_array().map(Vec::len), Some(2), "{h}");

        p.run(&["rollback"]).success();
        assert_eq!(p.versions("dev"), ["1"]);
        p.run(&["redo"]).success();
        assert_eq!(p.versions("dev"), ["1"]);
        p.run(&["rollback", "--to", "0", "--format", "json"]).success();
        assert_eq!(p.query("dev", "SELECT count(*) FROM pg_tables WHERE tablename IN ('people', 'pets')"), ["0"]);
        let j = p.run(&["migrate", "--single-transaction", "--format", "json"]).json();
        assert_eq!((j["before"].as_u64(), j["after"].as_u64()), (Some(0), Some(2)));
    }
}

#[test]
fn single_transaction_applies_nothing_when_a_later_file_fails() {
    let p = Pg::new(
        Via::Bouncer,
        &[("0001_people.sql", PEOPLE), ("0002_bad.sql", "CREATE TABLE pets (id bigint PRIMARY KEY);\nSELECT nope;")],
    );
    let r = p.run(&["migrate", "--single-transaction"]);
    r.failure().stderr_has("0002_bad.sql").stderr_has("42703");
    assert_eq!(p.versions("dev"), Vec::<String>::new());
    assert_eq!(p.query("dev", "SELECT count(*) FROM pg_tables WHERE tablename IN ('people', 'pets')"), ["0"]);
}

#[test]
fn a_protected_environment_needs_create_confirmation_and_audits_by_the_redacted_url() {
    let p = Pg::new(Via::Tcp, &[("0001_people.sql", PEOPLE), ("0001_people.down.sql", PEOPLE_DOWN)]);
    let r = p.run(&["migrate", "--env", "prod"]);
    r.failure().stderr_has("does not exist").stderr_has("`prod` is protected").stderr_has("--create");
    assert!(!p.exists("prod"));
    let r = p.run(&["migrate", "--env", "prod", "--create"]);
    r.success().stderr_has("Created the database");
    assert_eq!(p.versions("prod"), ["1"]);
    // A destructive command shows the banner with the redacted URL and needs the name.
    let r = p.run(&["rollback", "--env", "prod"]);
    r.failure()
        .stderr_has("PROTECTED ENVIRONMENT: prod")
        .stderr_has(&format!("database:  postgres://{}:***@127.0.0.1:", pgtest::ROLE))
        .stderr_has("--confirm prod");
    assert_eq!(p.versions("prod"), ["1"]);
    p.run(&["rollback", "--env", "prod", "--confirm", "prod"]).success();
    assert_eq!(p.versions("prod"), Vec::<String>::new());
    let url = p.server.url(p.via, &p.name("prod"));
    p.run(&["migrate", "--env", "prod", "--database-url", &url]).success();
    let log = p.t.audit_log("xdg/app");
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 4, "{log}");
    for e in &entries {
        let database = e["database"].as_str().unwrap();
        assert!(database.starts_with(&format!("postgres://{}:***@127.0.0.1:", pgtest::ROLE)), "{e}");
        assert!(database.ends_with(&p.name("prod")), "{e}");
    }
    let last = &entries[3];
    assert!(last["command"].as_str().unwrap().contains("--database-url postgres://envdb_test:***@"), "{last}");
    assert_eq!((last["version_before"].as_u64(), last["version_after"].as_u64()), (Some(0), Some(1)), "{last}");
    let r = p.run(&["audit", "--env", "prod"]);
    r.success().stdout_has("rollback");
    assert_eq!(p.run(&["audit", "--env", "prod", "--format", "json"]).json().as_array().map(Vec::len), Some(4));
}

#[test]
fn baseline_repair_validate_and_schema_dump() {
    let p = Pg::new(
        Via::Bouncer,
        &[("0001_people.sql", PEOPLE), ("0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY, name text);")],
    );
    // An existing database made by hand at version 1.
    p.server.admin().batch_execute(&format!("CREATE DATABASE {} OWNER {}", p.name("dev"), pgtest::ROLE)).unwrap();
    let mut owner =
        pgtest::postgres::Client::connect(&p.server.url(Via::Tcp, &p.name("dev")), pgtest::postgres::NoTls).unwrap();
    owner.batch_execute(PEOPLE).unwrap();
    p.run(&["baseline", "1"]).success().stderr_has("migrations 1 to 1 recorded as applied");
    assert_eq!(p.versions("dev"), ["1"]);
    p.run(&["migrate"]).success();
    let scratch = || scratch_databases(p.server);
    p.run(&["validate"]).success().stderr_has("Valid");
    assert_eq!(scratch(), Vec::<String>::new(), "the scratch database is dropped");

    // A hand change shows as a readable diff, and the scratch database is still dropped.
    owner
        .batch_execute("ALTER TABLE pets ADD COLUMN born date; ALTER TABLE people ALTER COLUMN email DROP NOT NULL")
        .unwrap();
    let r = p.run(&["validate"]);
    r.failure().stderr_has("pets").stderr_has("born").stderr_has("email");
    assert_eq!(scratch(), Vec::<String>::new());
    let j = p.run(&["validate", "--format", "json"]).json();
    assert!(j["problems"].as_array().unwrap().len() >= 2, "{j}");

    let r = p.run(&["schema", "dump"]);
    r.success().stdout_has("CREATE TABLE").stdout_has("pets");
    assert!(!r.stdout.contains("born"), "the migrations' schema, not the live one:\n{}", r.stdout);
    p.run(&["schema", "dump", "--live"]).success().stdout_has("born");

    // An edited applied migration: migrate and validate refuse and say what to do; repair accepts it.
    p.t.write("migrations/0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY, name text); -- reviewed");
    p.t.run(&["hash"]).success();
    p.run(&["migrate"]).failure().stderr_has("migration 2").stderr_has("cargo envdb repair");
    p.run(&["validate"]).failure().stderr_has("migration 2").stderr_has("cargo envdb repair");
    p.run(&["repair"]).success().stderr_has("0002_pets.sql");
    p.run(&["migrate"]).success();
}

#[test]
fn a_history_edited_by_hand_is_refused_with_what_to_do() {
    let p = Pg::new(
        Via::Tcp,
        &[("0001_people.sql", PEOPLE), ("0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY);")],
    );
    p.run(&["migrate"]).success();
    p.admin("dev").batch_execute("UPDATE public.envdb_migrations SET checksum = 'edited' WHERE version = 1").unwrap();
    p.run(&["migrate"]).failure().stderr_has("migration 1").stderr_has("help:");
    p.run(&["validate"]).failure().stderr_has("migration 1").stderr_has("help:");
    p.admin("dev").batch_execute("DELETE FROM public.envdb_migrations WHERE version = 1").unwrap();
    p.run(&["migrate"]).failure().stderr_has("hole").stderr_has("help:");
    p.run(&["validate"]).failure().stderr_has("migration 1").stderr_has("help:");
}

/// A stand-in for cargo (`$CARGO`): records its arguments and `DATABASE_URL`/`ENVDB_TEST` in
/// `child.txt`, prints nothing, exits 3.
fn fake_cargo(t: &Test) -> String {
    let path = t.path("fake-cargo.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nprintf '%s\\n' \"$*\" \"$DATABASE_URL\" \"${ENVDB_TEST:-}\" \"$ENVDB_ENV\" > child.txt\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn run_gives_the_child_the_url_with_its_password_and_prints_none() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE)]);
    let cargo = fake_cargo(&p.t);
    let r = p.run_with(&["run", "--", "serve"], &[("CARGO", &cargo)]);
    r.code(3);
    let child = p.t.read("child.txt");
    let lines: Vec<&str> = child.lines().collect();
    assert_eq!(lines[0], "run -- serve");
    assert_eq!(lines[1], p.server.url(Via::Bouncer, &p.name("dev")), "the child has the password");
    assert_eq!(lines[3], "dev");
    assert_eq!(p.versions("dev"), ["1"], "run migrated first");
}

#[test]
fn test_creates_a_missing_database_refuses_protected_and_clones_an_ephemeral_one() {
    let p = Pg::new(Via::Tcp, &[("0001_people.sql", PEOPLE)]);
    let cargo = fake_cargo(&p.t);
    let test_url = p.server.url(Via::Tcp, &p.name("test"));
    p.t.write("envdb.toml", format!("{TOML}[env.test]\nurl = \"${{TEST_URL}}\"\n"));
    let vars = [("CARGO", cargo.as_str()), ("TEST_URL", test_url.as_str())];
    let r = p.run_with(&["test", "--", "--nocapture"], &vars);
    r.code(3).stderr_has("Created the database");
    assert_eq!(p.versions("test"), ["1"]);
    let child = p.t.read("child.txt");
    let lines: Vec<&str> = child.lines().collect();
    assert_eq!((lines[0], lines[1], lines[2]), ("test --nocapture", test_url.as_str(), "1"));
    // A second run finds it up to date.
    p.run_with(&["test"], &vars).code(3).stderr_lacks("Created");

    let r = p.run_with(&["test", "--env", "prod"], &vars);
    r.failure()
        .stderr_has("refusing to open the protected environment `prod`")
        .stderr_has("postgres://envdb_test:***@");
    assert!(!p.exists("prod"));

    // Ephemeral: the database is a clone of a migrated template, dropped after the run.
    p.t.write("envdb.toml", format!("{TOML}[env.test]\nurl = \"${{TEST_URL}}\"\nephemeral = true\n"));
    let r = p.run_with(&["test"], &vars);
    let template = format!("{}__template", p.name("test"));
    r.code(3).stderr_has(&format!("Prepared the template `{template}`")).stderr_has("Cloned").stderr_has("Dropped");
    assert!(!p.exists("test"), "dropped after the run");
    let sql = format!("SELECT datname FROM pg_database WHERE datname = '{template}'");
    assert_eq!(column(&mut p.server.admin(), &sql), [template.as_str()]);
    p.run_with(&["test"], &vars).code(3).stderr_lacks("Prepared").stderr_has("Cloned");
    let _ = p.server.admin().batch_execute(&format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"));
}

#[test]
fn seed_runs_the_seed_file_on_the_server() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE)]);
    p.t.write("seeds/dev.sql", "INSERT INTO people VALUES (1, 'a@example.com'), (2, 'b@example.com');");
    p.run(&["migrate"]).success();
    p.run(&["seed"]).success();
    assert_eq!(p.query("dev", "SELECT count(*) FROM people"), ["2"]);
    p.t.write(
        "seeds/dev.sql",
        "INSERT INTO people VALUES (3, 'c@example.com');\nINSERT INTO people VALUES (1, 'dup');",
    );
    p.run(&["seed"]).failure().stderr_has("23505").stderr_has("seeds/dev.sql");
    assert_eq!(p.query("dev", "SELECT count(*) FROM people"), ["2"], "one transaction");
}

#[test]
fn env_shows_the_server_database() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE)]);
    p.run(&["migrate"]).success();
    p.run(&["env"]).success().stdout_has("up to date").stdout_has("postgres://envdb_test:***@");
    let j = p.run(&["env", "--format", "json"]).json();
    assert_eq!(j["backend"], "postgres");
}

// ---- bad inputs ----

#[test]
fn an_unreachable_server_is_named_by_host_and_port_within_the_connect_timeout() {
    let t = Test::with(&[("0001_people.sql", PEOPLE)]);
    t.write(
        "envdb.toml",
        "name = \"app\"\n[env.dev]\nurl = \"postgres://app:Sekr1tPw@127.0.0.1:1/app?connect_timeout=2\"\n",
    );
    for args in [&["migrate"][..], &["status"], &["validate"], &["history"]] {
        let started = Instant::now();
        let r = t.run(args);
        r.failure().stderr_has("127.0.0.1:1").stderr_has("help:");
        no_password(&t, &r, "Sekr1tPw");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?} took {:?}", started.elapsed());
    }
    // A server that takes the connection and never answers (a listener nobody accepts on):
    // each command gives up once, after the connect timeout (2 s), never twice that.
    t.write("seeds/dev.sql", "SELECT 1;");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://app:Sekr1tPw@127.0.0.1:{port}/app?connect_timeout=2");
    t.write("envdb.toml", format!("name = \"app\"\n[env.dev]\nurl = \"{url}\"\n"));
    for args in [&["migrate"][..], &["status"], &["validate"], &["history"], &["rollback"], &["seed"]] {
        let started = Instant::now();
        let r = t.run(args);
        r.failure()
            .stderr_has(&format!("127.0.0.1:{port}"))
            .stderr_has("did not answer within the connect timeout (2s)");
        no_password(&t, &r, "Sekr1tPw");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(2) && took < Duration::from_millis(3500), "{args:?} took {took:?}");
    }
    drop(silent);
}

#[test]
fn a_wrong_password_is_reported_as_such_and_never_echoed_directly_or_through_pgbouncer() {
    for via in [Via::Tcp, Via::Bouncer] {
        let p = Pg::new(via, &[("0001_people.sql", PEOPLE)]);
        // The database exists, so that PgBouncer's answer is about the password alone.
        p.server.admin().batch_execute(&format!("CREATE DATABASE {} OWNER {}", p.name("dev"), pgtest::ROLE)).unwrap();
        let wrong = "WrongPw4711";
        let url = p.server.url_with_password(via, &p.name("dev"), wrong);
        for args in [&["migrate"][..], &["status"]] {
            let r = p.run_with(args, &[("DEV_URL", &url)]);
            r.failure().stderr_has("password authentication failed").stderr_has("envdb_test");
            no_password(&p.t, &r, wrong);
        }
    }
}

#[test]
fn a_role_without_create_on_the_history_schema_is_told_what_to_grant() {
    let p = Pg::new(Via::Tcp, &[("0001_people.sql", PEOPLE)]);
    let mut admin = p.server.admin();
    admin.batch_execute(&format!("CREATE DATABASE {} OWNER {}", p.name("dev"), pgtest::ROLE)).unwrap();
    let role = format!("{}_reader", p.db.name());
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'ReaderPw99'")).unwrap();
    let url = p.server.url_as(Via::Tcp, &p.name("dev"), &role, "ReaderPw99");
    let r = p.run_with(&["migrate"], &[("DEV_URL", &url)]);
    r.failure()
        .stderr_has(&format!("the role `{role}` cannot create envdb's tables in the schema `public`"))
        .stderr_has("GRANT CREATE ON SCHEMA");
    no_password(&p.t, &r, "ReaderPw99");
    assert_eq!(p.query("dev", "SELECT count(*) FROM pg_tables WHERE tablename = 'people'"), ["0"]);
    admin.batch_execute(&format!("DROP OWNED BY {role} CASCADE")).ok();
}

const COMMENTED: &str = "-- 0002: a data change\n-- written by hand\n/* reviewed\n   twice */\n\nINSERT INTO people VALUES (1, 'a@example.com');\nSELEC oops FROM people;\n";

#[test]
fn a_syntax_error_names_the_file_and_line_seven() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE), ("0002_data.sql", COMMENTED)]);
    let r = p.run(&["migrate"]);
    r.failure().stderr_has("migrations/0002_data.sql").stderr_has("line 7").stderr_has("42601");
    assert_eq!(p.versions("dev"), ["1"]);
    assert_eq!(p.query("dev", "SELECT count(*) FROM people"), ["0"], "nothing of 0002 applied");
}

#[test]
fn a_unique_violation_in_a_data_migration_applies_nothing_of_that_file() {
    let p = Pg::new(
        Via::Tcp,
        &[
            ("0001_people.sql", PEOPLE),
            (
                "0002_data.sql",
                "CREATE TABLE notes (id int);\nINSERT INTO people VALUES (1, 'a');\nINSERT INTO people VALUES (1, 'b');\n",
            ),
        ],
    );
    let r = p.run(&["migrate"]);
    r.failure().stderr_has("migrations/0002_data.sql").stderr_has("23505").stderr_has("line 3");
    assert_eq!(p.versions("dev"), ["1"]);
    assert_eq!(p.query("dev", "SELECT count(*) FROM people"), ["0"]);
    assert_eq!(p.query("dev", "SELECT count(*) FROM pg_tables WHERE tablename = 'notes'"), ["0"]);
}

#[test]
fn a_failed_concurrent_index_is_left_invalid_and_its_drop_is_printed() {
    let p = Pg::new(
        Via::Bouncer,
        &[
            ("0001_people.sql", PEOPLE),
            ("0002_data.sql", "INSERT INTO people VALUES (1, 'same'), (2, 'same');"),
            (
                "0003_index.sql",
                "-- envdb: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY people_email ON people (email);\n",
            ),
        ],
    );
    let r = p.run(&["migrate"]);
    r.failure()
        .stderr_has("migrations/0003_index.sql")
        .stderr_has("23505")
        .stderr_has("INVALID")
        .stderr_has("DROP INDEX CONCURRENTLY IF EXISTS");
    assert_eq!(p.versions("dev"), ["1", "2"]);
    // Reported once, with its DROP, not again as an unexpected index in the schema.
    let v = p.run(&["validate"]);
    v.failure()
        .stderr_has("index public.people_email on public.people is INVALID")
        .stderr_has("DROP INDEX CONCURRENTLY IF EXISTS");
    assert_eq!(v.stderr.matches("people_email").count(), 2, "{}", v.stderr);
}

#[test]
fn a_search_path_to_another_schema_keeps_the_history_in_history_schema() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE)]);
    let mut admin = p.server.admin();
    admin.batch_execute(&format!("CREATE DATABASE {} OWNER {}", p.name("dev"), pgtest::ROLE)).unwrap();
    p.admin("dev").batch_execute(&format!("CREATE SCHEMA elsewhere AUTHORIZATION {}", pgtest::ROLE)).unwrap();
    admin.batch_execute(&format!("ALTER DATABASE {} SET search_path = elsewhere", p.name("dev"))).unwrap();
    p.run(&["migrate"]).success();
    let where_ = "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tablename LIKE 'envdb_%' OR tablename = 'people' ORDER BY 1";
    let tables = p.query("dev", where_);
    assert!(tables.contains(&"public.envdb_migrations".to_owned()), "{tables:?}");
    assert!(!tables.iter().any(|t| t.starts_with("elsewhere.envdb")), "{tables:?}");
    assert!(tables.contains(&"elsewhere.people".to_owned()), "the migration follows search_path: {tables:?}");
    p.run(&["status"]).success().stdout_has("version:   1 of 1");
    p.run(&["migrate"]).success();
    assert_eq!(p.versions("dev"), ["1"]);
}

#[test]
fn a_database_url_with_its_password_works_and_is_never_printed_or_logged() {
    let p = Pg::new(Via::Tcp, &[("0001_people.sql", PEOPLE)]);
    let url = p.server.url(Via::Tcp, &p.name("dev"));
    let t = Test::with(&[("0001_people.sql", PEOPLE)]);
    for args in [
        &["migrate", "--database-url", &url][..],
        &["status", "--database-url", &url],
        &["history", "--database-url", &url],
    ] {
        let r = t.run(args);
        r.success();
        no_password(&t, &r, p.server.password());
    }
    assert_eq!(p.versions("dev"), ["1"]);
    // A protected environment pointed at a server: audited, the URL redacted in the log.
    let url = p.server.url(Via::Tcp, &p.name("prod"));
    let r = t.run(&["migrate", "--env", "prod", "--database-url", &url, "--create"]);
    r.success().stderr_has("Created the database");
    no_password(&t, &r, p.server.password());
    assert_eq!(p.versions("prod"), ["1"]);
    let r = t.run(&["rollback", "--env", "prod", &format!("--database-url={url}"), "--confirm", "prod"]);
    r.failure().stderr_has("no down file");
    no_password(&t, &r, p.server.password());
    let log = t.audit_log("xdg/app");
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains("--database-url postgres://envdb_test:***@127.0.0.1"), "{log}");
    assert!(log.contains("--database-url=postgres://envdb_test:***@127.0.0.1"), "{log}");
}

#[test]
fn check_warns_about_postgres_hazards_errs_with_strict_and_allow_destructive_silences() {
    let hazards: &[(&str, &str, &str)] = &[
        ("0002_index.sql", "CREATE INDEX people_email ON people (email);", "CREATE INDEX without CONCURRENTLY"),
        ("0003_col.sql", "ALTER TABLE people ADD COLUMN age int NOT NULL;", "NOT NULL"),
        ("0004_type.sql", "ALTER TABLE people ALTER COLUMN email TYPE varchar(80);", "TYPE"),
        ("0005_notnull.sql", "ALTER TABLE people ALTER COLUMN age SET NOT NULL;", "SET NOT NULL"),
        ("0006_rename.sql", "ALTER TABLE people RENAME COLUMN email TO mail;", "RENAME"),
        ("0007_drop.sql", "ALTER TABLE people DROP COLUMN age;", "DROP COLUMN"),
    ];
    let mut files = vec![("0001_people.sql", PEOPLE)];
    files.extend(hazards.iter().map(|(f, sql, _)| (*f, *sql)));
    let p = Pg::new(Via::Tcp, &files);
    let r = p.run(&["check"]);
    r.success();
    for (file, _, needle) in hazards {
        r.stderr_has(file).stderr_has(needle);
    }
    let r = p.run(&["check", "--strict"]);
    r.failure();
    for (file, _, _) in hazards {
        r.stderr_has(file);
    }
    for (file, sql, _) in hazards {
        p.t.write(&format!("migrations/{file}"), format!("-- envdb: allow-destructive\n{sql}"));
    }
    p.t.run(&["hash"]).success();
    let r = p.run(&["check", "--strict"]);
    r.success();
    for (file, _, _) in hazards {
        r.stderr_lacks(file);
    }
}

#[test]
fn a_missing_or_wrong_password_from_the_environment_names_its_source_and_never_shows_it() {
    for via in [Via::Tcp, Via::Bouncer] {
        let p = Pg::new(via, &[("0001_people.sql", PEOPLE)]);
        let bare = p.server.url(via, &p.name("dev")).replace(&format!(":{}@", p.server.password()), "@");
        // HOME without a .pgpass, PGPASSFILE unset: no password anywhere.
        let home = p.t.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let home = home.display().to_string();
        let base = [("DEV_URL", bare.as_str()), ("HOME", home.as_str())];
        let mut cmd = p.t.command(&["migrate"]);
        cmd.envs(base).env_remove("PGPASSWORD").env_remove("PGPASSFILE");
        let r = Run::from(cmd.output().unwrap());
        r.failure().stderr_has("asks for a password for the role `envdb_test`").stderr_has("PGPASSWORD");
        let wrong = "NotThePw123";
        let r = p.run_with(&["migrate"], &[base[0], base[1], ("PGPASSWORD", wrong)]);
        r.failure().stderr_has("password authentication failed").stderr_has("(using the password in PGPASSWORD)");
        no_password(&p.t, &r, wrong);
        let r = p.run_with(&["migrate"], &[base[0], base[1], ("PGPASSWORD", p.server.password())]);
        r.success();
        assert_eq!(p.versions("dev"), ["1"], "{via:?}");
    }
}

#[test]
fn another_environments_database_is_refused_and_validate_without_createdb_says_what_to_grant() {
    let p = Pg::new(Via::Tcp, &[("0001_people.sql", PEOPLE)]);
    p.run(&["migrate"]).success();
    let dev = p.server.url(Via::Tcp, &p.name("dev"));
    let r = p.run(&["migrate", "--env", "prod", "--database-url", &dev]);
    r.failure().stderr_has("belongs to the environment `dev` but is being opened as `prod`").stderr_has("help:");
    // A role that may use the database but not create databases: validate cannot make its
    // scratch database and says what to grant.
    let role = format!("{}_user", p.db.name());
    let mut admin = p.server.admin();
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD 'OwnerPw77'")).unwrap();
    p.admin("dev")
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        ))
        .unwrap();
    let url = p.server.url_as(Via::Tcp, &p.name("dev"), &role, "OwnerPw77");
    let r = p.run_with(&["validate"], &[("DEV_URL", &url)]);
    r.failure().stderr_has(&format!("the role `{role}` may not create databases")).stderr_has("CREATEDB");
    no_password(&p.t, &r, "OwnerPw77");
    assert_eq!(scratch_databases(p.server), Vec::<String>::new());
    p.run_with(&["status"], &[("DEV_URL", &url)]).success().stdout_has("version:   1 of 1");
    drop(p);
    admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).unwrap();
}

#[test]
fn history_schema_puts_envdbs_tables_in_a_schema_it_creates() {
    let p = Pg::new(Via::Bouncer, &[("0001_people.sql", PEOPLE)]);
    p.t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${DEV_URL}\"\nhistory_schema = \"envdb_history\"\n");
    p.run(&["migrate"]).success();
    let tables = p
        .query("dev", "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tablename LIKE 'envdb_%' ORDER BY 1");
    assert!(tables.contains(&"envdb_history.envdb_migrations".to_owned()), "{tables:?}");
    assert!(!tables.iter().any(|t| t.starts_with("public.")), "{tables:?}");
    p.run(&["history"]).success().stdout_has("0001_people.sql");
    p.run(&["validate"]).success();
}

#[test]
fn check_leaves_the_safe_postgres_forms_alone_and_migrate_applies_them() {
    let p = Pg::new(
        Via::Bouncer,
        &[
            ("0001_people.sql", PEOPLE),
            ("0002_index.sql", "-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY people_email ON people (email);\n"),
            ("0003_col.sql", "ALTER TABLE people ADD COLUMN age int NOT NULL DEFAULT 0;"),
            (
                "0004_check.sql",
                "ALTER TABLE people ADD COLUMN nick text;\nALTER TABLE people ADD CONSTRAINT nick_set CHECK (nick IS NOT NULL) NOT VALID;",
            ),
            ("0005_validate.sql", "UPDATE people SET nick = '';\nALTER TABLE people VALIDATE CONSTRAINT nick_set;"),
            ("0006_notnull.sql", "ALTER TABLE people ALTER COLUMN nick SET NOT NULL;"),
        ],
    );
    let r = p.run(&["check", "--strict"]);
    r.success().stderr_has("0 warning(s)");
    p.run(&["migrate"]).success();
    assert_eq!(p.versions("dev").len(), 6);
    p.run(&["validate"]).success();
}
