//! `.envdb/check-cache.json` through the binary: a cached verdict is used while no entry of the
//! migrations directory changed, and never when one did (a racily clean entry included), in CI,
//! with `--no-cache` or for a protected environment; losing it costs nothing but speed.
//!
//! A hit is made visible by a finding planted in the cache: the files never produce it, so it
//! shows only when the verdict came from the cache.

mod common;
use common::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CACHE: &str = ".envdb/check-cache.json";
const PLANTED: &str = "planted by the test";

fn project() -> Test {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
    ]);
    std::fs::create_dir_all(t.path(".envdb")).unwrap();
    t
}

/// Runs the binary with the cache allowed (`CI` unset, whatever the machine running the tests has).
fn run(t: &Test, args: &[&str]) -> Run {
    Run::from(t.command(args).env_remove("CI").output().unwrap())
}

/// Sleeps into the next second of the clock, so that what was written before is older than any
/// cache a run writes from now on.
fn next_second() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    std::thread::sleep(Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos())) + Duration::from_millis(5));
}

/// Adds a finding of `severity` that no file produces to the cached verdict.
fn plant(t: &Test, severity: &str) {
    let mut cache: serde_json::Value = serde_json::from_str(&t.read(CACHE)).unwrap();
    cache["problems"].as_array_mut().unwrap().push(serde_json::json!({
        "file": "migrations/0002_b.sql", "version": 2, "kind": "empty", "severity": severity, "message": PLANTED,
    }));
    t.write(CACHE, cache.to_string());
}

/// A cache written now that a later run trusts, with a warning planted in it.
fn trusted_cache(t: &Test) {
    next_second();
    run(t, &["check"]).success();
    plant(t, "warning");
    run(t, &["check"]).success().stderr_has(PLANTED);
}

#[test]
fn a_cached_verdict_holds_until_an_entry_changes_and_a_touched_file_is_not_reported() {
    let t = project();
    trusted_cache(&t);
    // Touched, content unchanged: read again (the planted warning is gone), nothing reported.
    let file = std::fs::File::options().append(true).open(t.path("migrations/0001_a.sql")).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
    let r = run(&t, &["check"]);
    r.success().stderr_lacks(PLANTED).stderr_has("Checked 2 migration(s) in migrations, 0 warning(s)");
    // An edit that keeps the size and the modification time still changes the change time.
    trusted_cache(&t);
    let path = t.path("migrations/0002_b.sql");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    t.write("migrations/0002_b.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);");
    std::fs::File::options().append(true).open(&path).unwrap().set_modified(modified).unwrap();
    run(&t, &["check"]).failure().stderr_lacks(PLANTED).stderr_has("0002_b.sql").stderr_has("checksum");
    // A new file, or one removed, changes the listing.
    t.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);");
    trusted_cache(&t);
    t.write("migrations/notes.txt", "x");
    run(&t, &["check"]).success().stderr_lacks(PLANTED);
}

#[test]
fn an_entry_changed_in_the_second_the_cache_was_written_is_read_again() {
    let t = project();
    next_second();
    // Edited, then cached, within one second: the entry is racily clean and never trusted.
    t.write("migrations/0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY, x);");
    run(&t, &["hash"]).success();
    run(&t, &["check"]).success();
    plant(&t, "warning");
    run(&t, &["check"]).success().stderr_lacks(PLANTED);
    // A run in a later second caches a verdict it can trust.
    next_second();
    run(&t, &["check"]).success();
    plant(&t, "warning");
    run(&t, &["check"]).success().stderr_has(PLANTED);
}

#[test]
fn a_lost_or_damaged_cache_changes_nothing_but_speed() {
    let t = project();
    next_second();
    let fresh = run(&t, &["check", "--format", "json"]);
    let cached = run(&t, &["check", "--format", "json"]);
    assert_eq!((fresh.code, &fresh.stdout), (cached.code, &cached.stdout));
    for damage in ["", "{", "null", "{\"format\": 1}", "\u{0}\u{0}\u{0}"] {
        t.write(CACHE, damage);
        let r = run(&t, &["check", "--format", "json"]);
        assert_eq!((r.code, &r.stdout), (fresh.code, &fresh.stdout), "cache {damage:?}");
    }
    std::fs::remove_file(t.path(CACHE)).unwrap();
    let r = run(&t, &["check", "--format", "json"]);
    assert_eq!((r.code, &r.stdout), (fresh.code, &fresh.stdout));
    // A project without `.envdb/` gets no cache made for it.
    std::fs::remove_dir_all(t.path(".envdb")).unwrap();
    run(&t, &["check"]).success();
    assert!(!t.path(".envdb").exists());
}

#[test]
fn ci_no_cache_and_protected_environments_read_every_file() {
    let t = project();
    trusted_cache(&t);
    run(&t, &["check", "--no-cache"]).success().stderr_lacks(PLANTED);
    Run::from(t.command(&["check"]).env("CI", "true").output().unwrap()).success().stderr_lacks(PLANTED);
    run(&t, &["check", "--strict"]).failure().stderr_has(PLANTED);
    // status and migrate use it in dev, never in prod.
    run(&t, &["migrate"]).success();
    run(&t, &["migrate", "--env", "prod"]).success();
    next_second();
    run(&t, &["check"]).success();
    plant(&t, "error");
    run(&t, &["status"]).failure().stdout_has(PLANTED);
    run(&t, &["migrate"]).failure().stderr_has(PLANTED).stderr_has("must pass `cargo envdb check`");
    run(&t, &["status", "--env", "prod"]).success();
    run(&t, &["migrate", "--env", "prod"]).success();
}

#[test]
fn a_cached_verdict_never_stands_in_for_the_files_migrate_applies() {
    let t = project();
    run(&t, &["migrate", "--to", "1"]).success();
    next_second();
    run(&t, &["check"]).success();
    plant(&t, "warning");
    // Migration 2 is pending: it is read, checked and applied from its file.
    run(&t, &["migrate"]).success().stderr_has("1 → 2");
    assert_eq!(versions(&t), [1, 2]);
    assert_eq!(tables(&t), ["a", "b"]);
}
