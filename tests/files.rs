//! The file side through the real binary: `new`, `hash`, `check` and their bad inputs.

mod common;
use common::*;

#[test]
fn new_numbers_files_and_updates_the_sum() {
    let t = Test::new();
    t.run(&["new", "create", "Tasks"]).success().stderr_has("Created migrations/0001_create_tasks.sql");
    t.run(&["new", "add_priority", "--down"]).success();
    assert!(t.path("migrations/0002_add_priority.sql").exists());
    assert!(t.path("migrations/0002_add_priority.down.sql").exists());
    let header = t.read("migrations/0002_add_priority.sql");
    assert!(header.starts_with("-- Migration 0002: add_priority\n-- Created 20"), "{header}");
    assert!(header.contains("Z by `cargo envdb new`"));
    let sum = t.read("migrations/envdb.sum");
    assert!(sum.contains("0001_create_tasks.sql ") && sum.contains("0002_add_priority.down.sql "));
    t.run(&["check"]).success();
}

#[test]
fn new_refuses_unusable_names() {
    let t = Test::new();
    let before = t.snapshot();
    t.run(&["new", "!!!", "@@"]).failure().stderr_has("cannot make a file name");
    assert_eq!(before, t.snapshot());
}

#[test]
fn new_refuses_an_untrusted_sum_file() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    t.write("migrations/envdb.sum", "<<<<<<< HEAD\n=======\n>>>>>>> b\n");
    let before = t.snapshot();
    t.run(&["new", "b"]).failure().stderr_has("cargo envdb fix");
    assert_eq!(before, t.snapshot());
}

#[cfg(unix)]
#[test]
fn new_in_a_read_only_directory_leaves_nothing() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    // Read-only even for root (chattr +i); dropped before `t`, so the directory can be removed.
    let _read_only = ReadOnly::set(&t.path("migrations"));
    let before = t.snapshot();
    t.run(&["new", "b", "--down"]).failure().stderr_has("cannot write ").stderr_has("/migrations/0002_b.sql");
    assert_eq!(before, t.snapshot());
}

#[test]
fn new_whose_sum_file_cannot_be_written_leaves_nothing() {
    // A directory where the sum file goes makes the last step (the rename) fail, even as root.
    let t = Test::empty();
    std::fs::create_dir_all(t.path("migrations/envdb.sum")).unwrap();
    let before = t.snapshot();
    t.run(&["new", "first", "--down"]).failure().stderr_has("cannot write").stderr_has("envdb.sum");
    assert_eq!(before, t.snapshot());
    assert!(!t.path("migrations/0001_first.sql").exists());
    assert!(!t.path("migrations/0001_first.down.sql").exists());
}

#[test]
fn width_grows_past_9999() {
    let t = Test::new();
    t.write("migrations/9999_last_narrow.sql", "SELECT 1;");
    t.run(&["hash"]).success();
    t.run(&["new", "wide"]).success().stderr_has("10000_wide.sql");
    let sum = t.read("migrations/envdb.sum");
    let order: Vec<_> = sum.lines().skip(1).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(order, ["9999_last_narrow.sql", "10000_wide.sql"]);
}

#[test]
fn bad_file_names_are_each_reported() {
    let t = Test::new();
    for name in ["1_a.sql", "0001-a.sql", "0001_.sql", "0001_A B.sql", "abc.sql", "0001_a.SQL"] {
        t.write(&format!("migrations/{name}"), "SELECT 1;");
    }
    let r = t.run(&["check"]);
    r.failure();
    for name in ["1_a.sql", "0001-a.sql", "0001_.sql", "0001_A B.sql", "abc.sql", "0001_a.SQL"] {
        r.stderr_has(&format!("migrations/{name}: not a migration file name"));
    }
    r.stderr_has("expected NNNN_slug.sql");
    let json = t.run(&["check", "--format", "json"]).json();
    let list = json.as_array().unwrap();
    assert_eq!(list.iter().filter(|p| p["kind"] == "invalid-name").count(), 6);
    for p in list {
        for key in ["file", "version", "kind", "severity", "message"] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
}

#[test]
fn stray_files_are_ignored_and_mentioned_with_verbose() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    t.write("migrations/README.md", "# notes").write("migrations/.DS_Store", [0u8, 1, 2]);
    t.run(&["check"]).success().stderr_lacks("README.md");
    t.run(&["check", "-v"]).success().stderr_has("migrations/README.md: ignored").stderr_has(".DS_Store");
}

#[test]
fn missing_migrations_directory_suggests_init() {
    let t = Test::empty();
    t.run(&["check"])
        .failure()
        .stderr_has("migrations directory migrations does not exist")
        .stderr_has("cargo envdb init");
}

#[test]
fn crlf_and_bom_hash_like_lf() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/line_endings");
    let mut sums = Vec::new();
    for flavour in ["lf", "crlf", "bom"] {
        let t = Test::new();
        std::fs::copy(fixtures.join(flavour).join("0001_t.sql"), t.path("migrations/0001_t.sql")).unwrap();
        t.run(&["hash"]).success();
        sums.push(t.read("migrations/envdb.sum"));
        t.run(&["migrate"]).success();
    }
    assert_eq!(sums[0], sums[1]);
    assert_eq!(sums[0], sums[2]);
    // The fixtures really differ byte for byte (git must not normalise them).
    let bytes: Vec<_> =
        ["lf", "crlf", "bom"].iter().map(|f| std::fs::read(fixtures.join(f).join("0001_t.sql")).unwrap()).collect();
    assert_ne!(bytes[0], bytes[1]);
    assert!(bytes[2].starts_with(b"\xEF\xBB\xBF"));
}

#[test]
fn sum_file_problems() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_b.sql", "CREATE TABLE b (x);")]);
    let good = t.read("migrations/envdb.sum");

    t.write("migrations/envdb.sum", format!("<<<<<<< HEAD\n{good}=======\n{good}>>>>>>> other\n"));
    t.run(&["check"]).failure().stderr_has("merge-conflict markers").stderr_has("cargo envdb fix");

    t.write("migrations/envdb.sum", good.replace("0002_b.sql", "0002_c.sql"));
    t.run(&["check"]).failure().stderr_has("edited by hand");

    std::fs::remove_file(t.path("migrations/envdb.sum")).unwrap();
    t.run(&["check"]).failure().stderr_has("sum file is missing").stderr_has("cargo envdb hash");

    t.write("migrations/envdb.sum", &good);
    t.write("migrations/0002_b.sql", "CREATE TABLE b (x, y);");
    t.run(&["check"]).failure().stderr_has("migrations/0002_b.sql: content differs");
    t.run(&["hash"]).success().stderr_has("Rehashed migrations/0002_b.sql");
    t.run(&["check"]).success();

    std::fs::remove_file(t.path("migrations/0002_b.sql")).unwrap();
    t.write("migrations/0002_c.sql", "CREATE TABLE c (x);");
    t.run(&["check"])
        .failure()
        .stderr_has("migrations/0002_b.sql: listed in the sum file but the file is gone")
        .stderr_has("migrations/0002_c.sql: not recorded in the sum file");
}

#[test]
fn every_problem_in_one_run() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    t.write("migrations/0001_b.sql", "SELECT 1;")
        .write("migrations/0004_gap.sql", "SELECT 1;")
        .write("migrations/0007_x.down.sql", "SELECT 1;")
        .write("migrations/0005_latin1.sql", b"SELECT '\xe9';".as_slice());
    let r = t.run(&["check", "--format", "json"]);
    r.failure();
    let kinds: Vec<String> =
        r.json().as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_owned()).collect();
    for k in ["duplicate-version", "gap", "down-without-up", "not-utf8", "not-in-sum"] {
        assert!(kinds.iter().any(|x| x == k), "{k} not in {kinds:?}");
    }
}

#[test]
fn warnings_and_strict() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);"),
        ("0002_empty.sql", "-- later\n"),
        ("0003_drop.sql", "DROP TABLE a;"),
    ]);
    t.run(&["check"])
        .success()
        .stderr_has("warning: migrations/0002_empty.sql: the migration holds no SQL")
        .stderr_has("warning: migrations/0003_drop.sql: line 1: DROP TABLE");
    t.run(&["check", "--strict"]).failure().stderr_has("error: migrations/0003_drop.sql");
}

#[test]
fn ten_thousand_migrations() {
    let t = Test::new();
    for i in 1..=10_000 {
        std::fs::write(t.path(&format!("migrations/{i:04}_m{i}.sql")), format!("CREATE TABLE t{i} (x);\n")).unwrap();
    }
    t.run(&["hash", "-q"]).success();
    t.run(&["check"]).success().stderr_has("Checked 10000 migration(s)");
    t.run(&["new", "next"]).success().stderr_has("10001_next.sql");
    std::fs::remove_file(t.path("migrations/5000_m5000.sql")).unwrap();
    t.run(&["check"]).failure().stderr_has("version 5000 is missing").stderr_has("2 error(s), 1 warning(s)");
}
