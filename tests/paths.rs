//! Where a run stands: printed paths paste from the current directory, and a server with only a
//! migrations directory (no envdb.toml, no Cargo.toml) works with `--migrations`.

mod common;
use common::*;
use std::path::Path;

fn project() -> Test {
    Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("0001_a.down.sql", "DROP TABLE a;"),
        ("0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
    ])
}

/// Runs the binary in `dir` instead of the project root.
fn run_in(t: &Test, dir: &Path, args: &[&str]) -> Run {
    Run::from(t.command(args).current_dir(dir).output().unwrap())
}

/// A directory with only a migrations directory, as on a server: the test project with its
/// envdb.toml removed, under a temporary directory that no envdb.toml or Cargo.toml lies above.
fn server() -> Test {
    let t = project();
    std::fs::remove_file(t.path("envdb.toml")).unwrap();
    for dir in t.root().ancestors() {
        for file in ["envdb.toml", "Cargo.toml"] {
            assert!(
                !dir.join(file).exists(),
                "{} exists above the test directory; set TMPDIR outside any project",
                dir.join(file).display()
            );
        }
    }
    std::fs::rename(t.path("migrations"), t.path("release-42")).unwrap();
    t
}

#[test]
fn an_operator_without_a_project_migrates_with_explicit_migrations() {
    let t = server();
    let m = ["--migrations", "release-42"];
    let db = ["--database", "data/app.db"];
    t.run(&[&["migrate"][..], &m, &db].concat())
        .success()
        .stderr_has("Environment dev data/app.db")
        .stderr_has("Applied release-42/0001_a.sql")
        .stderr_has("schema version 0 → 2");
    t.run(&[&["status"][..], &m, &db].concat()).success().stdout_has("version:   2 of 2");
    t.run(&[&["history"][..], &m, &db].concat()).success().stdout_has("0001_a.sql").stdout_has("0002_b.sql");
    let c = rusqlite::Connection::open(t.path("data/app.db")).unwrap();
    let env: String = c.query_row("SELECT value FROM envdb_meta WHERE key = 'environment'", [], |r| r.get(0)).unwrap();
    assert_eq!(env, "dev", "outside a project the default order still applies: dev unless told");
    // The same rules as in a project: a protected environment needs its confirmation.
    t.run(&[&["rollback", "--prod", "--confirm", "prod"][..], &m, &db].concat())
        .failure()
        .stderr_has("belongs to the environment `dev` but is being opened as `prod`");
    t.run(&[&["migrate", "--env", "prod", "--database", "prod.db"][..], &m].concat()).success();
    t.run(&[&["rollback", "--env", "prod", "--database", "prod.db"][..], &m].concat())
        .failure()
        .stderr_has("--confirm prod");
    assert!(t.path("audit.log").exists(), "prod's audit log is beside its database");
    // Without --migrations there is still no project to work in, and the error says what to pass.
    t.run(&["status"]).failure().stderr_has("no envdb.toml or Cargo.toml").stderr_has("--migrations DIR");
    assert!(!t.path(".envdb").exists(), "everything went where --database said");
}

#[test]
fn paths_paste_from_a_subdirectory() {
    let t = project();
    let src = t.path("src");
    std::fs::create_dir_all(&src).unwrap();
    run_in(&t, &src, &["migrate"])
        .success()
        .stderr_has("Environment dev ../.envdb/dev/app.db")
        .stderr_has("Applied ../migrations/0001_a.sql");
    run_in(&t, &src, &["status", "--format", "json"]).success();
    assert_eq!(run_in(&t, &src, &["status", "--format", "json"]).json()["database"], "../.envdb/dev/app.db");
    run_in(&t, &src, &["new", "add", "c"]).success().stderr_has("Created ../migrations/0003_add_c.sql");
    t.write("migrations/0003_add_c.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);");
    run_in(&t, &src, &["check"]).failure().stderr_has("../migrations/0003_add_c.sql");
    // Inside the migrations directory, a file is named as it is there.
    run_in(&t, &t.path("migrations"), &["check"]).failure().stderr_has("0003_add_c.sql").stderr_lacks("migrations/");
    // Each printed path opens from where the command ran.
    let from_src = run_in(&t, &src, &["backup"]);
    let line = from_src.success().stderr.lines().find(|l| l.contains("Backed up")).unwrap().to_owned();
    let shown = line.rsplit(" → ").next().unwrap().split(" (").next().unwrap();
    assert!(shown.starts_with("../.envdb/dev/backups/"), "{line}");
    assert!(src.join(shown).is_file(), "{shown} from src/");
}

#[test]
fn failing_migrations_and_replays_are_named_from_where_the_user_stands() {
    let t = project();
    let src = t.path("src");
    std::fs::create_dir_all(&src).unwrap();
    run_in(&t, &src, &["migrate"]).success();
    t.write("migrations/0003_c.sql", "CREATE TABLE c (x);\nINSERT INTO nope VALUES (1);\n");
    t.run(&["hash"]).success();
    run_in(&t, &src, &["migrate"]).failure().stderr_has("error: ../migrations/0003_c.sql failed at line 2");
    run_in(&t, &src, &["schema", "dump"])
        .failure()
        .stderr_has("the replay of the migrations in memory failed at ../migrations/0003_c.sql line 2");
}

#[test]
fn paths_are_absolute_when_the_run_is_outside_the_project() {
    let t = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let manifest = t.path("envdb.toml");
    std::fs::write(t.path("Cargo.toml"), "[package]\nname = \"app\"\nversion = \"0.1.0\"\n").unwrap();
    let r = run_in(&t, elsewhere.path(), &["migrate", "--manifest-path", &t.path("Cargo.toml").display().to_string()]);
    r.success()
        .stderr_has(&format!("Environment dev {}", t.dev_db().display()))
        .stderr_has(&format!("Applied {}", t.path("migrations/0001_a.sql").display()));
    assert!(manifest.exists());
}
