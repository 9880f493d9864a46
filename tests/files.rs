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

/// Runs the binary, killing it if it has not finished after `secs`: a regression that hangs
/// fails the test instead of hanging the suite.
fn run_bounded(t: &Test, args: &[&str], secs: u64) -> Run {
    use std::process::Stdio;
    let mut child = t.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`{}` still running after {secs} s; killed\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Run::from(child.wait_with_output().unwrap())
}

/// Like `Test::snapshot`, without reading anything but regular files (a FIFO would block it,
/// a link to /dev/zero never end): other entries are listed by name.
fn regular_snapshot(t: &Test) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![t.root().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let (p, kind) = (e.path(), e.file_type().unwrap());
            if kind.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".lock") {
                let bytes = kind.is_file().then(|| std::fs::read(&p).unwrap());
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_link_to_a_device_is_reported_without_hanging() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    let made = std::process::Command::new("mkfifo").arg(t.path("migrations/0002_x.sql")).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", t.path("migrations/0003_y.sql")).unwrap();
    run_bounded(&t, &["check"], 10)
        .failure()
        .stderr_has("migrations/0002_x.sql: cannot be read: a FIFO (named pipe)")
        .stderr_has("migrations/0003_y.sql: cannot be read: a symbolic link to /dev/zero, which is a character device")
        .stderr_has("2 error(s)")
        .stderr_lacks("is missing before this file");
    let json = run_bounded(&t, &["check", "--format", "json"], 10).json();
    assert_eq!(json.as_array().unwrap().iter().filter(|p| p["kind"] == "unreadable").count(), 2, "{json}");

    // Nothing that writes numbers or the sum file goes on without them; nothing is changed.
    let before = regular_snapshot(&t);
    run_bounded(&t, &["hash"], 10).failure().stderr_has("cannot read migrations/0002_x.sql (a FIFO");
    run_bounded(&t, &["new", "next"], 10).failure().stderr_has("migrations/0003_y.sql");
    run_bounded(&t, &["migrate"], 10).failure().stderr_has("must pass `cargo envdb check`").stderr_has("0002_x.sql");
    assert_eq!(before, regular_snapshot(&t));
    assert!(!t.dev_db().exists());

    // The same for the sum file itself.
    std::fs::remove_file(t.path("migrations/0002_x.sql")).unwrap();
    std::fs::remove_file(t.path("migrations/0003_y.sql")).unwrap();
    std::fs::remove_file(t.path("migrations/envdb.sum")).unwrap();
    std::process::Command::new("mkfifo").arg(t.path("migrations/envdb.sum")).status().unwrap();
    run_bounded(&t, &["check"], 10)
        .failure()
        .stderr_has("migrations/envdb.sum: cannot be read: a FIFO")
        .stderr_lacks("sum file is missing");
}

#[cfg(unix)]
#[test]
fn dangling_links_are_reported_with_the_other_problems() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);")]);
    std::os::unix::fs::symlink("nowhere.sql", t.path("migrations/0002_z.sql")).unwrap();
    std::os::unix::fs::symlink("/", t.path("migrations/0003_dir.sql")).unwrap();
    t.write("migrations/0005_gap.sql", "CREATE TABLE b (x);");
    run_bounded(&t, &["check"], 10)
        .failure()
        .stderr_has("migrations/0002_z.sql: cannot be read: a symbolic link to nowhere.sql, which is missing")
        .stderr_has("migrations/0003_dir.sql: cannot be read: a symbolic link to /, which is a directory")
        .stderr_has("migrations/0005_gap.sql: version 4 is missing")
        .stderr_has("migrations/0005_gap.sql: not recorded in the sum file")
        .stderr_has("4 error(s)");
    let before = regular_snapshot(&t);
    run_bounded(&t, &["hash"], 10).failure().stderr_has("0002_z.sql").stderr_has("0003_dir.sql");
    assert_eq!(before, regular_snapshot(&t));
}

#[test]
fn new_refuses_a_stale_sum_file() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_b.sql", "CREATE TABLE b (x);")]);
    t.write("migrations/0003_unrecorded.sql", "CREATE TABLE c (x);");
    let before = t.snapshot();
    t.run(&["new", "next"])
        .failure()
        .stderr_has("migrations/envdb.sum does not match the migrations")
        .stderr_has("migrations/0003_unrecorded.sql: not recorded in the sum file")
        .stderr_has("cargo envdb hash");
    assert_eq!(before, t.snapshot());

    std::fs::remove_file(t.path("migrations/0003_unrecorded.sql")).unwrap();
    t.write("migrations/0001_a.sql", "CREATE TABLE a (x, y);");
    std::fs::remove_file(t.path("migrations/0002_b.sql")).unwrap();
    let before = t.snapshot();
    t.run(&["new", "next"])
        .failure()
        .stderr_has("migrations/0001_a.sql: edited since it was recorded")
        .stderr_has("migrations/0002_b.sql: recorded, but the file is gone");
    assert_eq!(before, t.snapshot());

    t.run(&["hash"]).success();
    t.run(&["new", "next"]).success().stderr_has("0002_next.sql");
    t.run(&["check"]).success();
}

#[test]
fn hash_prints_json() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_b.sql", "CREATE TABLE b (x);")]);
    t.write("migrations/0002_b.sql", "CREATE TABLE b (x, y);")
        .write("migrations/0003_c.sql", "CREATE TABLE c (x);")
        .write("migrations/3_bad.sql", "SELECT 1;");
    std::fs::remove_file(t.path("migrations/0001_a.sql")).unwrap();
    let r = t.run(&["hash", "--format", "json"]);
    r.success();
    let json = r.json();
    assert_eq!(json["sum_file"], "migrations/envdb.sum");
    assert_eq!(json["written"], true);
    assert_eq!(json["files"], 2);
    assert_eq!(json["added"], serde_json::json!(["migrations/0003_c.sql"]));
    assert_eq!(json["rehashed"], serde_json::json!(["migrations/0002_b.sql"]));
    assert_eq!(json["removed"], serde_json::json!(["migrations/0001_a.sql"]));
    assert_eq!(json["skipped"][0]["file"], "migrations/3_bad.sql");
    let again = t.run(&["hash", "--format", "json"]).json();
    assert_eq!((again["written"].clone(), again["added"].clone()), (serde_json::json!(false), serde_json::json!([])));
}
