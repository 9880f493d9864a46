//! PostgreSQL environments in envdb.toml and on the command line, through the binary: `url`
//! with `${VAR}`, `--database-url`, the configuration errors, and no password in any output.

mod common;
use common::*;

const SECRET: &str = "Hunter2Secret";

fn project(toml: &str) -> Test {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")]);
    t.write("envdb.toml", toml);
    t
}

#[track_caller]
fn no_secret(r: &Run) {
    assert!(
        !r.stdout.contains(SECRET) && !r.stderr.contains(SECRET),
        "--- stdout\n{}\n--- stderr\n{}",
        r.stdout,
        r.stderr
    );
}

fn with_env(t: &Test, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = t.command(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

#[test]
fn env_lists_a_postgres_environment_by_its_redacted_url() {
    let toml = format!(
        "name = \"app\"\n[env.staging]\nurl = \"postgres://app:{SECRET}@db.internal:6432/app_staging?sslmode=require\"\n[env.prod]\nurl = \"postgres://app:${{PROD_PW}}@prod.internal/app\"\n"
    );
    let t = project(&toml);
    let vars = [("PROD_PW", SECRET)];
    let r = with_env(&t, &["env", "--env", "staging"], &vars);
    r.success().stdout_has("database:    postgres://app:***@db.internal:6432/app_staging?sslmode=require");
    no_secret(&r);
    let r = with_env(&t, &["env", "--env", "prod", "--format", "json"], &vars);
    r.success();
    no_secret(&r);
    let j = r.json();
    assert_eq!(j["database"], "postgres://app:***@prod.internal/app");
    assert_eq!((j["backend"].as_str(), j["exists"].is_null()), (Some("postgres"), true));
    for args in [&["env", "--all"][..], &["env", "--all", "--format", "json"]] {
        let r = with_env(&t, args, &vars);
        r.success().stdout_has("postgres://app:***@prod.internal/app");
        no_secret(&r);
    }
    let all = with_env(&t, &["env", "--all", "--format", "json"], &vars).json();
    let dev = all.as_array().unwrap().iter().find(|b| b["environment"] == "dev").unwrap();
    assert_eq!((dev["backend"].as_str(), dev["exists"].as_bool()), (Some("sqlite"), Some(false)));
    assert!(dev["database"].as_str().unwrap().ends_with("app.db"));
}

#[test]
fn database_url_replaces_the_database_but_not_the_name_and_is_never_printed() {
    let t = project("name = \"app\"\n");
    let url = format!("postgresql://me:{SECRET}@localhost:5433/scratch");
    let r = with_env(&t, &["env", "--format", "json", "--database-url", &url], &[("ENVDB_ENV", "test")]);
    r.success();
    no_secret(&r);
    let j = r.json();
    assert_eq!((j["environment"].as_str(), j["chosen_by"].as_str()), (Some("test"), Some("--database-url")));
    assert_eq!(j["database"], "postgresql://me:***@localhost:5433/scratch");
    let r = t.run(&["env", "--database-url", &url]);
    r.success().stdout_has("(chosen by --database-url)");
    no_secret(&r);
    let r = t.run(&["env", "--database-url", &url, "--database", "x.db"]);
    r.code(2).stderr_has("--database-url").stderr_has("cannot be used with");
    no_secret(&r);
    let r = t.run(&["status", "--database-url", &format!("postgress://me:{SECRET}@h/db")]);
    r.failure().stderr_has("--database-url").stderr_has("did you mean postgres://");
    no_secret(&r);
    let r = t.run(&["env", "--database-url", SECRET]);
    r.failure().stderr_has("not a URL");
    no_secret(&r);
}

#[test]
fn a_misspelt_scheme_names_the_environment_and_the_file_and_changes_nothing() {
    let t = project(&format!("name = \"app\"\n[env.staging]\nurl = \"postgress://app:{SECRET}@h/app\"\n"));
    for args in [&["env"][..], &["migrate"], &["status", "--env", "staging"]] {
        let r = t.run(args);
        r.failure()
            .stderr_has("envdb.toml")
            .stderr_has("environment `staging`")
            .stderr_has("postgress://app:***@h/app")
            .stderr_has("did you mean postgres://");
        no_secret(&r);
    }
    assert!(!t.dev_db().exists(), "a failed command creates no database");
    let t = project("name = \"app\"\n[env.staging]\nurl = \"sqlite://staging.db\"\n");
    t.run(&["env"]).failure().stderr_has("environment `staging`").stderr_has("`database` in envdb.toml");
}

#[test]
fn an_unset_variable_names_itself_its_environment_and_the_file_and_stops_only_that_environment() {
    let t = project("name = \"app\"\n[env.prod]\nurl = \"${PROD_DATABASE_URL}\"\n");
    let r = t.run(&["env", "--env", "prod"]);
    r.failure()
        .stderr_has("envdb.toml")
        .stderr_has("environment `prod`: its url needs $PROD_DATABASE_URL, which is not set");
    t.run(&["migrate"]).success();
    assert_eq!(versions(&t), [1], "dev does not need prod's variable");
    let r = t.run(&["env", "--all"]);
    r.success().stdout_has("needs $PROD_DATABASE_URL");
    let url = format!("postgres://u:{SECRET}@h/x");
    let r = with_env(&t, &["env", "--env", "prod", "--format", "json"], &[("PROD_DATABASE_URL", &url)]);
    r.success();
    no_secret(&r);
    assert_eq!(r.json()["database"], "postgres://u:***@h/x");
    let r = with_env(&t, &["env", "--env", "prod"], &[("PROD_DATABASE_URL", &format!("mysql://u:{SECRET}@h/x"))]);
    r.failure().stderr_has("url (from $PROD_DATABASE_URL)").stderr_has("mysql://u:***@h/x");
    no_secret(&r);
}

#[test]
fn database_url_is_read_only_when_the_configuration_names_it() {
    let t = project("name = \"app\"\n");
    let vars = [("DATABASE_URL", "postgres://prod.internal/app")];
    let j = with_env(&t, &["env", "--format", "json"], &vars).json();
    assert_eq!(j["backend"], "sqlite", "an exported DATABASE_URL does not retarget dev");
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${DATABASE_URL}\"\n");
    let j = with_env(&t, &["env", "--format", "json"], &vars).json();
    assert_eq!(
        (j["backend"].as_str(), j["database"].as_str()),
        (Some("postgres"), Some("postgres://prod.internal/app"))
    );
}

#[test]
fn configuration_conflicts_and_bad_settings() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[env.dev]\nurl = \"postgres://h/app\"\ndatabase = \"app.db\"\n",
            &["[env.dev] has both `url` and `database`", "envdb.toml"],
        ),
        (
            "[env.dev]\nhistory_schema = \"Envdb-History\"\n",
            &["history_schema \"Envdb-History\" is not a plain identifier"],
        ),
        ("[env.dev]\nlock_timeout = -1\n", &["lock_timeout", "line 3"]),
        ("[env.dev]\nlock_retries = \"3\"\n", &["lock_retries", "line 3"]),
        (
            "[env.dev]\nurl = \"postgres://h/app\"\n[env.test]\nurl = \"postgres://h:5432/app\"\n",
            &["`dev` and `test` both use the PostgreSQL database"],
        ),
        ("[env.dev]\nurl = \"postgres://h/${DB\"\n", &["`${DB` in url", "not a variable name"]),
    ];
    for (table, needles) in cases {
        let t = project(&format!("name = \"app\"\n{table}"));
        let r = t.run(&["migrate"]);
        r.failure();
        for needle in *needles {
            r.stderr_has(needle);
        }
        assert!(!t.dev_db().exists(), "{table}");
    }
}

#[test]
fn a_test_run_cannot_reach_a_protected_postgres_environment() {
    let t = project(&format!("name = \"app\"\n[env.prod]\nurl = \"postgres://app:{SECRET}@prod.internal/app\"\n"));
    let r = with_env(&t, &["env", "--env", "prod"], &[("ENVDB_TEST", "1")]);
    r.failure().stderr_has("refusing to open the protected environment `prod` (postgres://app:***@prod.internal/app)");
    no_secret(&r);
    let r = with_env(&t, &["env", "--env", "prod", "--database-url", "postgres://other/x"], &[("ENVDB_TEST", "1")]);
    r.failure().stderr_has("refusing to open the protected environment `prod` (postgres://other/x)");
}

#[test]
fn check_learns_the_postgres_dialect_from_an_environment_with_a_url() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);"),
        ("0002_index.sql", "CREATE INDEX a_by_id ON a (id);"),
    ]);
    t.run(&["check"]).success().stderr_lacks("CONCURRENTLY");
    t.write("envdb.toml", "[env.prod]\nurl = \"postgres://app@db.internal/app\"\nprotected = true\n");
    t.run(&["check"]).success().stderr_has("0002_index.sql").stderr_has("CREATE INDEX CONCURRENTLY");
    t.run(&["check", "--strict"]).failure().stderr_has("CREATE INDEX without CONCURRENTLY");
}

#[test]
fn env_shows_where_a_postgres_database_stands_without_its_password() {
    let db = pgtest::database();
    // A database the server does not have yet (the harness made `db` itself).
    let url = db.server().url(pgtest::Via::Tcp, &format!("{}_app", db.name()));
    let password = db.server().password().to_owned();
    let t = project("[env.dev]\nurl = \"${APP_URL}\"\n[env.gone]\nurl = \"postgres://app@127.0.0.1:1/x\"\n");
    let vars = [("APP_URL", url.as_str())];
    let r = with_env(&t, &["env", "--all", "--format", "json"], &vars);
    r.success();
    let blocks = r.json();
    let dev = blocks.as_array().unwrap().iter().find(|b| b["environment"] == "dev").unwrap().clone();
    assert_eq!(dev["status"], "not created yet", "{dev}");
    with_env(&t, &["migrate"], &vars).success().stderr_has("Created the database");
    let r = with_env(&t, &["env"], &vars);
    r.success().stdout_has("up to date").stdout_has("postgres://");
    let gone = with_env(&t, &["env", "--env", "gone"], &vars);
    gone.success().stdout_has("unreadable").stdout_has("127.0.0.1:1");
    for r in [&r, &gone] {
        assert!(!r.stdout.contains(&password) && !r.stderr.contains(&password), "{}{}", r.stdout, r.stderr);
    }
}
