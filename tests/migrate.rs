//! Applying, reverting and inspecting migrations on real SQLite files through the binary.

mod common;
use common::*;

fn tables(conn: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'envdb_%' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn versions(conn: &rusqlite::Connection) -> Vec<i64> {
    let mut stmt = conn.prepare("SELECT version FROM envdb_migrations ORDER BY version").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

fn five(broken: Option<(usize, &str)>) -> Test {
    let t = Test::new();
    for i in 1..=5 {
        let sql = match broken {
            Some((n, sql)) if n == i => sql.to_owned(),
            _ => format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t{i} VALUES ({i});\n"),
        };
        t.write(&format!("migrations/{i:04}_m{i}.sql"), sql);
        t.write(&format!("migrations/{i:04}_m{i}.down.sql"), format!("DROP TABLE t{i};\n"));
    }
    t.run(&["hash"]).success();
    t
}

#[test]
fn applies_records_history_meta_and_user_version() {
    let t = five(None);
    t.run(&["migrate"]).success().stderr_has("schema version 0 → 5 (5 applied)");
    let db = t.db();
    assert_eq!(versions(&db), [1, 2, 3, 4, 5]);
    let uv: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(uv, 5);
    let (name, checksum, at, tool): (String, String, String, String) = db
        .query_row("SELECT name, checksum, applied_at, tool_version FROM envdb_migrations WHERE version = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(name, "0003_m3.sql");
    assert_eq!(checksum.len(), 64);
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    assert_eq!(tool, "0.1.0");
    let meta: Vec<(String, String)> = db
        .prepare("SELECT key, value FROM envdb_meta ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let keys: Vec<_> = meta.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["created_at", "environment", "history_digest", "last_migration", "project", "schema_version"]);
    assert!(meta.contains(&("environment".into(), "dev".into())));
    assert!(meta.contains(&("schema_version".into(), "5".into())));
    // Journal mode left as found (a new file: delete).
    let mode: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    assert!(!t.path(".envdb/dev/app.db-wal").exists());
    t.run(&["migrate"]).success().stderr_has("nothing to apply");
}

#[test]
fn wal_database_stays_wal_and_config_can_ask_for_it() {
    let t = five(None);
    {
        std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
        let db = t.db();
        let _: String = db.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    }
    t.run(&["migrate", "--to", "2"]).success();
    let mode: String = t.db().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let t = five(None);
    t.write("envdb.toml", "name = \"app\"\njournal_mode = \"wal\"\n");
    t.run(&["migrate"]).success();
    let mode: String = t.db().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn syntax_error_in_migration_3_of_5() {
    let t = five(Some((3, "CREATE TABLE t3 (id INTEGER PRIMARY KEY);\n\nCREAT TABLE oops (x);\n")));
    t.run(&["migrate"])
        .failure()
        .stderr_has("0003_m3.sql failed at line 3")
        .stderr_has("syntax error")
        .stderr_has("migrations 1, 2 of this run stay applied")
        .stderr_has("database is at version 2");
    let db = t.db();
    assert_eq!(versions(&db), [1, 2]);
    assert_eq!(tables(&db), ["t1", "t2"], "t3 was rolled back with the failing migration");
}

#[test]
fn single_transaction_is_all_or_nothing() {
    let t = five(Some((4, "INSERT INTO nowhere VALUES (1);")));
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["migrate", "--single-transaction"])
        .failure()
        .stderr_has("0004_m4.sql failed at line 1")
        .stderr_has("no such table: nowhere")
        .stderr_has("whole run was rolled back")
        .stderr_has("database is at version 1");
    let db = t.db();
    assert_eq!(tables(&db), ["t1"]);
    let t = five(None);
    t.run(&["migrate", "--single-transaction"]).success().stderr_has("0 → 5");
}

#[test]
fn a_table_rebuild_that_breaks_a_foreign_key_is_rolled_back() {
    let t = Test::with(&[
        (
            "0001_parent.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\nINSERT INTO parent VALUES (1);\nINSERT INTO child VALUES (1, 1);\n",
        ),
        (
            "0002_rebuild.sql",
            "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id + 100 FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\n",
        ),
    ]);
    t.run(&["migrate"])
        .failure()
        .stderr_has("0002_rebuild.sql failed: foreign key violations after it ran")
        .stderr_has("child row 1 references a missing row in parent (child.parent_id → parent.id)")
        .stderr_lacks("line 0");
    let db = t.db();
    assert_eq!(versions(&db), [1]);
    let cols: i64 = db.query_row("SELECT count(*) FROM pragma_table_info('parent')", [], |r| r.get(0)).unwrap();
    assert_eq!(cols, 1, "the rebuild was undone");

    // The same rebuild done right is atomic and passes.
    t.write(
        "migrations/0002_rebuild.sql",
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO parent_new (id) SELECT id FROM parent;\nDROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;\n",
    );
    t.run(&["hash"]).success();
    t.run(&["migrate"]).success();
    t.run(&["validate"]).success();
}

#[test]
fn own_transaction_control_is_refused_before_anything_runs() {
    let t =
        Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_tx.sql", "BEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n")]);
    t.run(&["migrate"]).failure().stderr_has("0002_tx.sql: line 1").stderr_has("-- envdb: no-transaction");
    assert!(!t.dev_db().exists(), "not even migration 1 ran, and the new file is gone again");
    t.write("migrations/0002_tx.sql", "-- envdb: no-transaction\nBEGIN;\nCREATE TABLE b (x);\nCOMMIT;\n");
    t.run(&["hash"]).success();
    t.run(&["migrate"]).success();
    assert_eq!(versions(&t.db()), [1, 2]);
}

#[test]
fn triggers_strings_and_comments_with_semicolons() {
    let t = Test::with(&[(
        "0001_trigger.sql",
        "CREATE TABLE log (msg TEXT); -- a ; in a comment\n/* and ; here */\nCREATE TABLE t (x TEXT);\n\
         CREATE TRIGGER t_log AFTER INSERT ON t BEGIN\n  INSERT INTO log VALUES ('inserted; ' || new.x);\n  INSERT INTO log VALUES ('second;');\nEND;\n\
         INSERT INTO t VALUES ('a;b');\n",
    )]);
    t.run(&["migrate"]).success();
    let n: i64 = t.db().query_row("SELECT count(*) FROM log", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
    let first: String = t.db().query_row("SELECT msg FROM log ORDER BY rowid LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(first, "inserted; a;b");
}

#[test]
fn empty_migration_is_applied_and_recorded() {
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);"), ("0002_empty.sql", "-- nothing yet\n")]);
    t.run(&["migrate"]).success();
    assert_eq!(versions(&t.db()), [1, 2]);
}

#[test]
fn a_text_file_is_not_a_database() {
    let t = five(None);
    t.write(".envdb/dev/app.db", "this is a text file, not a database\n".repeat(50));
    let before = t.snapshot();
    t.run(&["migrate"]).failure().stderr_has("app.db is not a SQLite database");
    t.run(&["status"]).failure().stderr_has("is not a SQLite database");
    assert_eq!(before, t.snapshot());
}

#[test]
fn database_path_that_is_a_directory() {
    let t = five(None);
    std::fs::create_dir_all(t.path("somedir")).unwrap();
    t.run(&["migrate", "--database", "somedir"]).failure().stderr_has("somedir is a directory");
}

#[cfg(unix)]
#[test]
fn read_only_database_file() {
    let t = five(None);
    t.run(&["migrate", "--to", "2"]).success();
    // Read-only even for root (chattr +i); dropped before `t`, so the directory can be removed.
    let _read_only = ReadOnly::set(&t.dev_db());
    let before = t.snapshot();
    t.run(&["migrate"]).failure().stderr_has("app.db is read-only").stderr_has("permissions");
    assert_eq!(before, t.snapshot());
    assert_eq!(versions(&t.db()), [1, 2]);
}

#[test]
fn database_newer_than_the_code_is_refused() {
    let t = five(None);
    t.run(&["migrate"]).success();
    for name in ["0005_m5.sql", "0005_m5.down.sql"] {
        std::fs::remove_file(t.path(&format!("migrations/{name}"))).unwrap();
    }
    t.run(&["hash"]).success();
    let before = t.snapshot();
    t.run(&["migrate"])
        .failure()
        .stderr_has("the database is at version 5, newer than the latest migration this code knows (4)");
    assert_eq!(before, t.snapshot());
}

#[test]
fn drift_refusals_and_repair() {
    let t = five(None);
    t.run(&["migrate", "--to", "3"]).success();
    t.write(
        "migrations/0002_m2.sql",
        "CREATE TABLE t2 (id INTEGER PRIMARY KEY, extra TEXT);\nINSERT INTO t2 VALUES (2, 'x');\n",
    );
    t.run(&["hash"]).success();
    let before = t.snapshot();
    t.run(&["migrate"])
        .failure()
        .stderr_has("migration 2 (0002_m2.sql) was applied with a different checksum")
        .stderr_has("cargo envdb repair");
    assert_eq!(before, t.snapshot());
    t.run(&["status"]).failure().stdout_has("changed [2]");
    t.run(&["repair"]).success().stderr_has("Repaired migrations/0002_m2.sql");
    t.run(&["migrate"]).success();
    assert_eq!(versions(&t.db()), [1, 2, 3, 4, 5]);
    let audit: String =
        t.db().query_row("SELECT value FROM envdb_meta WHERE key = 'last_repair'", [], |r| r.get(0)).unwrap();
    assert!(audit.contains("2:"), "{audit}");
    // validate sees that the schema no longer matches what the migrations make.
    t.run(&["validate"]).failure().stderr_has("schema: table t2 differs");
}

#[test]
fn applied_file_gone_is_refused() {
    let t = five(None);
    t.run(&["migrate"]).success();
    for name in
        ["0003_m3.sql", "0003_m3.down.sql", "0004_m4.sql", "0004_m4.down.sql", "0005_m5.sql", "0005_m5.down.sql"]
    {
        std::fs::remove_file(t.path(&format!("migrations/{name}"))).unwrap();
    }
    t.write("migrations/0003_other.sql", "SELECT 1;");
    t.run(&["hash"]).success();
    t.run(&["migrate"]).failure().stderr_has("newer than the latest");
    t.write("migrations/0004_x.sql", "SELECT 1;").write("migrations/0005_y.sql", "SELECT 1;");
    t.run(&["hash"]).success();
    t.run(&["migrate"]).failure().stderr_has("migration 3 (0003_m3.sql) was applied with a different checksum");
}

#[test]
fn history_with_a_hole_is_refused() {
    let t = five(None);
    t.run(&["migrate"]).success();
    t.db().execute("DELETE FROM envdb_migrations WHERE version = 2", []).unwrap();
    t.run(&["migrate"]).failure().stderr_has("the history has a hole: version 2");
}

#[test]
fn dry_run_changes_nothing() {
    let t = five(None);
    t.run(&["migrate", "--to", "2"]).success();
    let before = t.snapshot();
    t.run(&["migrate", "--dry-run"])
        .success()
        .stderr_has("Would apply migrations/0003_m3.sql")
        .stderr_has("3 migration(s) pending");
    let json = t.run(&["migrate", "--dry-run", "--format", "json"]).json();
    assert_eq!(json["pending"].as_array().unwrap().len(), 3);
    assert_eq!(before, t.snapshot());
}

#[test]
fn rollback_redo_and_missing_down_files() {
    let t = five(None);
    t.run(&["migrate"]).success();
    t.run(&["rollback"]).success().stderr_has("schema version 5 → 4");
    t.run(&["rollback", "--steps", "2"]).success().stderr_has("4 → 2");
    assert_eq!(tables(&t.db()), ["t1", "t2"]);
    t.run(&["migrate"]).success();
    t.run(&["redo"])
        .success()
        .stderr_has("Reverted migrations/0005_m5.sql")
        .stderr_has("Applied migrations/0005_m5.sql");
    assert_eq!(versions(&t.db()), [1, 2, 3, 4, 5]);
    std::fs::remove_file(t.path("migrations/0003_m3.down.sql")).unwrap();
    t.run(&["hash"]).success();
    let before = t.snapshot();
    t.run(&["rollback", "--to", "1"])
        .failure()
        .stderr_has("migration 3 (0003_m3.sql) has no down file")
        .stderr_has("0003_m3.down.sql");
    assert_eq!(before, t.snapshot(), "refused before reverting 5 and 4");
    t.run(&["rollback", "--to", "3"]).success();
    assert_eq!(versions(&t.db()), [1, 2, 3]);
}

#[test]
fn status_and_history_as_text_and_json() {
    let t = five(None);
    t.run(&["status"]).success().stdout_has("(not created yet)").stdout_has("version:   0 of 5");
    t.run(&["migrate", "--to", "3"]).success();
    let s = t.run(&["status", "--format", "json"]).json();
    assert_eq!(s["version"], 3);
    assert_eq!(s["latest"], 5);
    assert_eq!(s["pending"], serde_json::json!(["0004_m4.sql", "0005_m5.sql"]));
    assert_eq!(s["app_running"], false);
    let h = t.run(&["history", "--format", "json"]).json();
    assert_eq!(h.as_array().unwrap().len(), 3);
    assert_eq!(h[0]["name"], "0001_m1.sql");
    t.run(&["history"]).success().stdout_has("0002_m2.sql");
}

#[test]
fn baseline_adopts_an_existing_database() {
    let t = five(None);
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    t.db()
        .execute_batch("CREATE TABLE t1 (id INTEGER PRIMARY KEY); CREATE TABLE t2 (id INTEGER PRIMARY KEY);")
        .unwrap();
    t.run(&["baseline", "9"]).failure().stderr_has("no migration 9");
    t.run(&["baseline", "2"]).success().stderr_has("migrations 1 to 2 recorded");
    t.run(&["baseline", "2"]).failure().stderr_has("already has a migration history");
    t.run(&["migrate"]).success().stderr_has("2 → 5");
    t.run(&["baseline", "1", "--database", "missing.db"]).failure().stderr_has("does not exist");
}

#[test]
fn validate_and_schema_dump() {
    let t = five(None);
    t.run(&["migrate"]).success();
    t.run(&["validate"]).success().stderr_has("Valid");
    t.db().execute_batch("CREATE TABLE sneaky (x);").unwrap();
    t.run(&["validate"]).failure().stderr_has("unexpected table sneaky");
    let r = t.run(&["validate", "--format", "json"]);
    r.failure();
    let j = r.json();
    assert_eq!(j["version"], 5, "{j}");
    assert_eq!(
        j["problems"],
        serde_json::json!([
            "schema: unexpected table sneaky, not created by any migration:\n    CREATE TABLE sneaky (x)"
        ]),
        "{j}"
    );
    t.run(&["schema", "dump", "-o", "migrations/schema.sql"]).success();
    let dumped = t.read("migrations/schema.sql");
    assert!(dumped.contains("CREATE TABLE t1 (id INTEGER PRIMARY KEY);\nCREATE TABLE t2"), "{dumped}");
    assert!(!dumped.contains("sneaky") && !dumped.contains("envdb_"));
    t.run(&["schema", "dump", "--live"]).success().stdout_has("sneaky");
    t.run(&["check", "-v"]).success().stderr_has("schema.sql: ignored");
}

#[test]
fn migrations_that_fail_check_are_not_applied() {
    let t = five(None);
    t.write("migrations/0003_m3.sql", "CREATE TABLE edited (x);");
    t.run(&["migrate"])
        .failure()
        .stderr_has("must pass `cargo envdb check`")
        .stderr_has("0003_m3.sql: content differs");
    assert!(!t.dev_db().exists());
}

#[test]
fn redo_is_atomic_a_failing_up_step_changes_nothing() {
    let t = Test::with(&[
        ("0001_people.sql", "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);\n"),
        ("0002_names.sql", "CREATE TABLE names (name TEXT NOT NULL);\nINSERT INTO names SELECT name FROM people;\n"),
        ("0002_names.down.sql", "DROP TABLE names;\n"),
    ]);
    t.run(&["migrate"]).success();
    // Data the up step no longer accepts: redoing it fails after the down step ran.
    t.db().execute_batch("INSERT INTO names VALUES ('kept'); INSERT INTO people (name) VALUES (NULL);").unwrap();
    let before = t.snapshot();
    let r = t.run(&["redo"]);
    assert_eq!(before, t.snapshot(), "the down step was undone with the up step");
    r.failure()
        .stderr_has("redo changed nothing: .envdb/dev/app.db is still at version 2")
        .stderr_has("0002_names.sql failed at line 2: NOT NULL constraint failed: names.name")
        .stderr_has("the whole run was rolled back; the database is at version 2");
    let db = t.db();
    assert_eq!(versions(&db), [1, 2]);
    let kept: String = db.query_row("SELECT name FROM names", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, "kept");
    // A failing down step changes nothing either.
    t.write("migrations/0002_names.down.sql", "DROP TABLE names;\nDROP TABLE nowhere;\n");
    t.run(&["hash"]).success();
    let before = t.snapshot();
    t.run(&["redo"]).failure().stderr_has("0002_names.down.sql failed at line 2: no such table: nowhere");
    assert_eq!(before, t.snapshot());
}

#[test]
fn redo_refuses_a_migration_that_runs_outside_a_transaction() {
    for (up, down) in [
        ("-- envdb: no-transaction\nCREATE TABLE b (x);\n", "DROP TABLE b;\n"),
        ("CREATE TABLE b (x);\n", "-- envdb: no-transaction\nDROP TABLE b;\n"),
    ] {
        let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (x);\n"), ("0002_b.sql", up), ("0002_b.down.sql", down)]);
        t.run(&["migrate"]).success();
        let before = t.snapshot();
        let file = if up.contains("no-transaction") { "0002_b.sql" } else { "0002_b.down.sql" };
        t.run(&["redo"])
            .failure()
            .stderr_has(&format!("{file} runs outside a transaction"))
            .stderr_has("migration 2 cannot be redone atomically; nothing was changed")
            .stderr_has("cargo envdb rollback");
        assert_eq!(before, t.snapshot());
    }
}

#[test]
fn rollback_above_the_current_version_is_an_error() {
    let t = five(None);
    t.run(&["migrate", "--to", "3"]).success();
    let before = t.snapshot();
    for args in [&["rollback", "--to", "4"][..], &["rollback", "--to", "9"], &["rollback", "--to", "4", "--dry-run"]] {
        t.run(args).failure().stderr_has("cannot roll back to version").stderr_has("the database is at version 3");
    }
    t.run(&["rollback", "--steps", "4"]).failure().stderr_has("cannot roll back 4 migration(s)");
    // As `migrate --to` does for the same mistake.
    t.run(&["migrate", "--to", "9"]).failure().stderr_has("no migration 9");
    assert_eq!(before, t.snapshot());
    t.run(&["rollback", "--to", "3"]).success().stderr_has("3 → 3");
    t.run(&["rollback", "--steps", "3"]).success().stderr_has("3 → 0");
}

#[test]
fn json_output_is_parsed_or_refused_with_a_usage_error() {
    let t = five(None);
    let j = t.run(&["migrate", "--to", "2", "--format", "json"]).json();
    assert_eq!((j["dry_run"].clone(), j["before"].clone(), j["after"].clone()), (false.into(), 0.into(), 2.into()));
    let applied = j["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[1]["version"], 2);
    assert_eq!(applied[1]["name"], "0002_m2.sql");
    assert_eq!(applied[1]["checksum"].as_str().unwrap().len(), 64);
    assert!(applied[1]["execution_ms"].is_u64());
    assert!(applied[1]["applied_at"].as_str().unwrap().ends_with('Z'));
    let j = t.run(&["migrate", "--format", "json"]).json();
    assert_eq!(
        j["applied"].as_array().unwrap().iter().map(|a| a["version"].as_u64().unwrap()).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(t.run(&["migrate", "--format", "json"]).json()["applied"], serde_json::json!([]));

    let before = t.snapshot();
    let j = t.run(&["rollback", "--steps", "2", "--dry-run", "--format", "json"]).json();
    assert_eq!(
        j,
        serde_json::json!({"dry_run": true, "before": 5, "after": 3,
            "reverted": [{"version": 5, "name": "0005_m5.sql"}, {"version": 4, "name": "0004_m4.sql"}]})
    );
    assert_eq!(before, t.snapshot());
    let j = t.run(&["rollback", "--format", "json"]).json();
    assert_eq!(
        j,
        serde_json::json!({"dry_run": false, "before": 5, "after": 4, "reverted": [{"version": 5, "name": "0005_m5.sql"}]})
    );
    let j = t.run(&["redo", "--format", "json"]).json();
    assert_eq!((j["version"].clone(), j["name"].clone()), (4.into(), "0004_m4.sql".into()));

    t.write("seeds/dev.sql", "INSERT INTO t1 VALUES (9);\n");
    for args in [
        &["seed"][..],
        &["reset"],
        &["repair"],
        &["baseline", "1"],
        &["restore", "latest"],
        &["schema", "dump"],
        &["new", "more"],
        &["init"],
        &["hook", "install"],
        &["completions", "bash"],
        &["run"],
        &["test"],
        &["migrate-to-envs", "--from", "legacy.db"],
    ] {
        let before = t.snapshot();
        let r = t.run(&[args, &["--format", "json"]].concat());
        r.code(2)
            .stderr_has(&format!("`{}` does not print JSON; nothing was run", args[0]))
            .stderr_has("--format json");
        assert_eq!(r.stdout, "", "{args:?}");
        assert_eq!(before, t.snapshot(), "{args:?} changed something");
    }
}

#[test]
fn a_non_ascii_checksum_in_the_history_never_panics() {
    let t = five(None);
    t.run(&["migrate"]).success();
    // Odd byte offsets: cutting at byte 12 would split a character.
    t.db().execute("UPDATE envdb_migrations SET checksum = 'xéééééééééééééé' WHERE version = 2", []).unwrap();
    t.db().execute("UPDATE envdb_migrations SET checksum = 'a€' WHERE version = 3", []).unwrap();
    // Each exits with its own code (a panic is 101, a signal -1), and every JSON run prints JSON
    // that carries the odd checksums through, or nothing when the command refuses.
    for (args, code) in [
        (&["status"][..], 1),
        (&["history"], 0),
        (&["validate"], 1),
        (&["migrate"], 1),
        (&["env"], 0),
        (&["rollback", "--dry-run"], 1),
        (&["upgrade", "--dry-run"], 1),
        (&["status", "--format", "json"], 1),
        (&["history", "--format", "json"], 0),
        (&["validate", "--format", "json"], 1),
        (&["env", "--format", "json"], 0),
        (&["migrate", "--format", "json"], 1),
    ] {
        let r = t.run(args);
        r.code(code).stderr_lacks("panicked");
        if !args.contains(&"json") {
            continue;
        }
        if args[0] == "migrate" {
            assert_eq!(r.stdout, "", "a refused migrate prints no JSON");
            r.stderr_has("migration 2 (0002_m2.sql) was applied with a different checksum");
            continue;
        }
        let j = r.json();
        match args[0] {
            "status" => assert_eq!(j["drift"]["changed"], serde_json::json!([2, 3]), "{j}"),
            "history" => {
                assert_eq!(j[1]["checksum"], "xéééééééééééééé", "{j}");
                assert_eq!(j[2]["checksum"], "a€", "{j}");
            }
            "validate" => assert_eq!(
                j["problems"],
                serde_json::json!([
                    "migration 2: applied checksum differs from its file",
                    "migration 3: applied checksum differs from its file"
                ]),
                "{j}"
            ),
            _ => assert_eq!(j["status"], "drift: changed [2, 3], gone [], holes []", "{j}"),
        }
    }
    t.run(&["migrate"]).failure().stderr_has("migration 2 (0002_m2.sql) was applied with a different checksum");
    t.run(&["repair"])
        .success()
        .stderr_has("Repaired migrations/0002_m2.sql xééééééééééé → ")
        .stderr_has("Repaired migrations/0003_m3.sql a€ → ");
    let audit: String =
        t.db().query_row("SELECT value FROM envdb_meta WHERE key = 'last_repair'", [], |r| r.get(0)).unwrap();
    assert!(audit.contains(" 2:xééééééééééé->") && audit.contains(",3:a€->"), "{audit}");
    t.run(&["migrate"]).success();
}
