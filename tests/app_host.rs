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
    // Up to date: no backup; dev is never backed up.
    host.run(&[], &prod).success().stderr_lacks("backup:");
    host.run(&[], &[]).success().stderr_has("migrated: 0003_c.sql").stderr_lacks("backup:");
    assert_eq!(backups(&t).len(), 1);
    assert!(!t.path(".envdb/dev/backups").exists());
}
