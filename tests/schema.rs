//! `schema dump`, `validate` and `baseline` through the binary: where a dump may be written, the
//! in-memory replay that never touches a file, and baseline comparing schemas before recording.

mod common;
use common::*;

fn project() -> Test {
    Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("0002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY, note TEXT);"),
    ])
}

/// Every entry of the project directory whose name ends in `.tmp` (left-over temporary files).
fn temp_files(t: &Test) -> Vec<std::path::PathBuf> {
    t.snapshot().into_iter().map(|(p, _)| p).filter(|p| p.to_string_lossy().ends_with(".tmp")).collect()
}

#[test]
fn schema_dump_never_writes_onto_a_database_or_a_migration_even_with_force() {
    let t = project();
    t.run(&["migrate"]).success();
    t.run(&["migrate", "--prod"]).success();
    std::fs::copy(t.dev_db(), t.path("copy-of-dev.db")).unwrap();
    std::os::unix::fs::symlink("migrations/0001_a.sql", t.path("link.sql")).unwrap();
    let before = t.snapshot();
    let prod = t.prod_db().display().to_string();
    for force in [false, true] {
        let with = |args: &[&str]| {
            let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            if force {
                v.push("--force".into());
            }
            v
        };
        let cases: [(&[&str], &str); 12] = [
            (&["schema", "dump", "--live", "--prod", "-o", &prod], "the database of the environment `prod`"),
            (&["schema", "dump", "-o", ".envdb/dev/app.db"], "the database of the environment `dev`"),
            (&["schema", "dump", "-o", ".envdb/dev/./../dev/app.db-wal"], "the database of the environment `dev`"),
            (&["schema", "dump", "-o", ".envdb/dev/app.db.migrate.lock"], "the database of the environment `dev`"),
            // Not created yet, but it is where `migrate --test` would create the test database.
            (&["schema", "dump", "-o", ".envdb/test/app.db"], "the database of the environment `test`"),
            (&["schema", "dump", "-o", "copy-of-dev.db"], "is a SQLite database"),
            (&["schema", "dump", "-o", "migrations/0001_a.sql"], "migration file"),
            (&["schema", "dump", "-o", "migrations/../migrations/0002_b.sql"], "migration file"),
            (&["schema", "dump", "-o", "migrations/0003_new.sql"], "migration file"),
            (&["schema", "dump", "-o", "migrations/envdb.sum"], "sum file"),
            (&["schema", "dump", "-o", "link.sql"], "migration file"),
            (&["schema", "dump", "-o", "migrations"], "is a directory"),
        ];
        for (args, why) in cases {
            let args = with(args);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = t.run(&args);
            r.failure().stderr_has(why).stderr_has("nothing was written");
            if force && why != "is a directory" {
                r.stderr_has("even with --force");
            }
            assert_eq!(before, t.snapshot(), "{args:?} changed the project");
        }
    }
    assert!(temp_files(&t).is_empty());
}

#[test]
fn schema_dump_refuses_an_existing_file_unless_forced_and_regenerates_its_own_dump() {
    let t = project();
    t.write("notes.txt", "my notes\n");
    t.run(&["schema", "dump", "-o", "notes.txt"])
        .failure()
        .stderr_has("notes.txt already exists")
        .stderr_has("--force")
        .stderr_has("nothing was written");
    assert_eq!(t.read("notes.txt"), "my notes\n");
    t.run(&["schema", "dump", "-o", "notes.txt", "--force"]).success().stderr_has("Wrote notes.txt");
    assert!(t.read("notes.txt").contains("CREATE TABLE b"));

    // Regenerating migrations/schema.sql is the daily workflow: a file that is already a dump is
    // overwritten without --force.
    t.run(&["schema", "dump", "-o", "migrations/schema.sql"]).success();
    t.write("migrations/0003_c.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);").run(&["hash"]).success();
    t.run(&["schema", "dump", "-o", "migrations/schema.sql"]).success();
    assert!(t.read("migrations/schema.sql").contains("CREATE TABLE c"));
    // Once the user has made it their own, it is theirs.
    t.write("migrations/schema.sql", "-- hand-written notes\n");
    t.run(&["schema", "dump", "-o", "migrations/schema.sql"]).failure().stderr_has("--force");
    assert_eq!(t.read("migrations/schema.sql"), "-- hand-written notes\n");
    // A missing directory is named.
    t.run(&["schema", "dump", "-o", "no/such/dir/schema.sql"]).failure().stderr_has("no/such/dir");
    assert!(temp_files(&t).is_empty());
}

#[test]
fn schema_dump_refuses_a_fifo_without_waiting_for_a_reader() {
    let t = project();
    let fifo = std::ffi::CString::new(t.path("pipe.sql").to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    for extra in [&[][..], &["--force"]] {
        let mut args = vec!["schema", "dump", "-o", "pipe.sql"];
        args.extend_from_slice(extra);
        t.run(&args).failure().stderr_has("not a regular file");
    }
    assert!(t.path("pipe.sql").exists());
}

#[test]
fn the_replay_keeps_attached_files_in_memory() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);"),
        ("0002_side.sql", "ATTACH 'side.db' AS s;\nCREATE TABLE s.t (x);\n"),
    ]);
    // Twice: before the fix the first run created side.db and the second failed on it.
    for _ in 0..2 {
        t.run(&["schema", "dump"]).success().stdout_has("CREATE TABLE a (x);");
        assert!(!t.path("side.db").exists(), "the replay wrote side.db");
    }
    // The real migration writes its file, as it should; the validation after it replays the
    // migrations in memory, where side.db (which now holds s.t) is not seen.
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["upgrade"]).success();
    assert!(t.path("side.db").exists());
    std::fs::remove_file(t.path("side.db")).unwrap();
    t.run(&["validate"]).success();
    t.run(&["schema", "dump", "-o", "migrations/schema.sql"]).success();
    assert!(!t.path("side.db").exists(), "validate or schema dump wrote side.db");
}

#[test]
fn a_failing_replay_says_it_is_the_replay_and_touches_nothing() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);"),
        ("0002_import.sql", "ATTACH 'legacy.db' AS l;\nINSERT INTO a SELECT x FROM l.old;\n"),
    ]);
    {
        let legacy = rusqlite::Connection::open(t.path("legacy.db")).unwrap();
        legacy.execute_batch("CREATE TABLE old (x); INSERT INTO old VALUES (1);").unwrap();
    }
    let legacy = std::fs::read(t.path("legacy.db")).unwrap();
    let before = t.snapshot();
    t.run(&["schema", "dump"])
        .failure()
        .stderr_has("replay")
        .stderr_has("0002_import.sql line 2: no such table: l.old")
        .stderr_has("not from your database")
        .stderr_lacks("the database is at version");
    assert_eq!(legacy, std::fs::read(t.path("legacy.db")).unwrap());
    assert_eq!(before, t.snapshot());
}

#[test]
fn the_replay_refuses_what_could_leave_memory() {
    let cases = [
        ("ATTACH 'file:side.db?vfs=unix' AS s;\nCREATE TABLE s.t (x);\n", "URI", "side.db"),
        ("ATTACH 'si' || 'de.db' AS s;\nCREATE TABLE s.t (x);\n", "computed", "side.db"),
        ("-- envdb: no-transaction\nVACUUM INTO 'file:out.db?vfs=unix';\n", "URI", "out.db"),
        ("SELECT load_extension('./evil');\n", "load_extension", "evil"),
    ];
    for (sql, why, file) in cases {
        let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_b.sql", sql)]);
        let before = t.snapshot();
        t.run(&["schema", "dump"]).failure().stderr_has("replay").stderr_has("0002_b.sql").stderr_has(why);
        assert_eq!(before, t.snapshot(), "{sql}");
        assert!(!t.path(file).exists(), "{sql}");
    }
    // VACUUM INTO a plain name goes to memory too.
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);"),
        ("0002_b.sql", "-- envdb: no-transaction\nVACUUM INTO 'out.db';\n"),
    ]);
    t.run(&["schema", "dump"]).success();
    assert!(!t.path("out.db").exists());
}

#[test]
fn baseline_refuses_a_database_whose_schema_differs_unless_forced() {
    let t = project();
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    t.db().execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE other (x);").unwrap();
    let before = t.snapshot();
    t.run(&["baseline", "2"])
        .failure()
        .stderr_has("does not match the schema migrations 1 to 2 produce")
        .stderr_has("missing table b")
        .stderr_has("unexpected table other")
        .stderr_has("--force")
        .stderr_has("nothing was recorded");
    assert_eq!(before, t.snapshot());
    // The part that matches can be baselined.
    t.db().execute_batch("DROP TABLE other;").unwrap();
    t.run(&["baseline", "2"]).failure().stderr_has("missing table b");
    t.run(&["baseline", "1"]).success().stderr_has("migrations 1 to 1 recorded");
    t.run(&["migrate"]).success();

    // A column that differs is shown side by side; --force records anyway and says what differed.
    let t = project();
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    t.db().execute_batch("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY);").unwrap();
    t.run(&["baseline", "2"]).failure().stderr_has("table b differs").stderr_has("note TEXT");
    t.run(&["baseline", "2", "--force"]).success().stderr_has("table b differs").stderr_has("recorded");
    t.run(&["status"]).success().stdout_has("version:   2 of 2");
}

#[test]
fn upgrade_refuses_migrations_the_replay_cannot_run_before_changing_anything() {
    let t = project();
    t.run(&["migrate", "--to", "1"]).success();
    t.write("migrations/0003_c.sql", "CREATE TABLE c (x);\nATTACH 'side' || '.db' AS o;\nDETACH o;\n");
    t.run(&["hash"]).success();
    let before = t.snapshot();
    t.run(&["upgrade"])
        .failure()
        .stderr_has("the replay of the migrations in memory failed at migrations/0003_c.sql")
        .stderr_has("nothing was changed: .envdb/dev/app.db is still at version 1");
    assert_eq!(before, t.snapshot(), "a refused upgrade changed something");
    assert!(!t.path(".envdb/dev/backups").exists(), "a refused upgrade made a backup");
}

#[test]
fn schema_dump_never_writes_onto_a_wal_a_journal_or_the_configured_migrations() {
    let t = project();
    t.write("other/.keep", "");
    t.write("elsewhere.db-wal", [0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18, 1, 2, 3]);
    t.write("elsewhere.db-journal", [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7, 0, 0, 0]);
    let before = t.snapshot();
    t.run(&["schema", "dump", "--migrations", "other", "-o", "migrations/0001_a.sql", "--force"])
        .failure()
        .stderr_has("a migration file");
    t.run(&["schema", "dump", "-o", "elsewhere.db-wal", "--force"]).failure().stderr_has("a SQLite write-ahead log");
    t.run(&["schema", "dump", "-o", "elsewhere.db-journal", "--force"])
        .failure()
        .stderr_has("a SQLite rollback journal");
    assert_eq!(before, t.snapshot());
}
