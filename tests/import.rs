//! Moving from another tool: for each of sqlx, diesel, refinery, dbmate, golang-migrate and
//! goose, a migrations layout and a database made here by that tool's documented conventions
//! (file names, history table and rows as the tool writes them), then `import`, `check`,
//! `adopt`, `migrate` (only the new file runs) and `validate`, on SQLite and on PostgreSQL; and
//! the refusals, each leaving files, the sum file and both history tables as they were.

mod common;

use common::Test;
use std::hash::{Hash, Hasher};

const UP: [&str; 3] = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    "ALTER TABLE users ADD COLUMN email TEXT;\n",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n",
];
const DOWN: [&str; 3] = ["DROP TABLE users;\n", "ALTER TABLE users DROP COLUMN email;\n", "DROP TABLE posts;\n"];
const NAMES: [&str; 3] = ["create_users", "add_email", "create_posts"];

/// When the tool applied migration `i` (0-based), as the tests write it.
fn when(i: usize) -> String {
    format!("2024-03-0{} 10:00:00", i + 1)
}

fn sha384(sql: &str) -> String {
    use sha2::Digest;
    sha2::Sha384::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// refinery's checksum, computed as refinery computes it.
fn refinery_sum(name: &str, version: i32, sql: &str) -> String {
    let mut h = siphasher::sip::SipHasher13::new();
    name.hash(&mut h);
    version.hash(&mut h);
    sql.hash(&mut h);
    h.finish().to_string()
}

/// The tool's migrations directory: `(path, content)` for the three migrations.
fn layout(tool: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..3 {
        let (v, name, up, down) = (i + 1, NAMES[i], UP[i], DOWN[i]);
        match tool {
            "sqlx" if i == 1 => {
                files.push((format!("2024010100000{v}_{name}.up.sql"), up.to_owned()));
                files.push((format!("2024010100000{v}_{name}.down.sql"), down.to_owned()));
            }
            "sqlx" => files.push((format!("2024010100000{v}_{name}.sql"), up.to_owned())),
            "diesel" => {
                files.push((format!("2024-01-01-00000{v}_{name}/up.sql"), up.to_owned()));
                files.push((format!("2024-01-01-00000{v}_{name}/down.sql"), down.to_owned()));
            }
            "refinery" => files.push((format!("V{v}__{name}.sql"), up.to_owned())),
            "dbmate" => files
                .push((format!("2024010100000{v}_{name}.sql"), format!("-- migrate:up\n{up}-- migrate:down\n{down}"))),
            "golang-migrate" => {
                files.push((format!("{v}_{name}.up.sql"), up.to_owned()));
                files.push((format!("{v}_{name}.down.sql"), down.to_owned()));
            }
            "goose" => files.push((
                format!("0000{v}_{name}.sql"),
                format!("-- +goose Up\n-- +goose StatementBegin\n{up}-- +goose StatementEnd\n\n-- +goose Down\n{down}"),
            )),
            other => panic!("{other}"),
        }
    }
    files
}

/// SQL creating the tool's history table as the tool does (`pg`: its PostgreSQL form) with a row
/// for each applied migration (0-based indexes), as the tool writes them.
fn history(tool: &str, applied: &[usize], pg: bool) -> String {
    let mut sql = String::new();
    let (t, f) = ("TRUE", "FALSE");
    match tool {
        "sqlx" => {
            sql += if pg {
                "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL);\n"
            } else {
                "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);\n"
            };
            for &i in applied {
                let hex = sha384(UP[i]);
                let bytes = if pg { format!("decode('{hex}', 'hex')") } else { format!("X'{hex}'") };
                let at = if pg { format!("'{}+00'", when(i)) } else { format!("'{}'", when(i)) };
                sql += &format!(
                    "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (2024010100000{}, '{}', {at}, {t}, {bytes}, 1234567);\n",
                    i + 1,
                    NAMES[i].replace('_', " ")
                );
            }
        }
        "diesel" => {
            sql += "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);\n";
            for &i in applied {
                sql += &format!(
                    "INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('2024010100000{}', '{}');\n",
                    i + 1,
                    when(i)
                );
            }
        }
        "refinery" => {
            sql += "CREATE TABLE IF NOT EXISTS refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255));\n";
            for &i in applied {
                let v = i as i32 + 1;
                let at = when(i).replace(' ', "T") + ".123456789Z";
                sql += &format!(
                    "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES ({v}, '{}', '{at}', '{}');\n",
                    NAMES[i],
                    refinery_sum(NAMES[i], v, UP[i])
                );
            }
        }
        "dbmate" => {
            sql += "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(128) PRIMARY KEY);\n";
            for &i in applied {
                sql += &format!("INSERT INTO schema_migrations (version) VALUES ('2024010100000{}');\n", i + 1);
            }
        }
        "golang-migrate" => {
            sql += if pg {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n"
            } else {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version uint64, dirty bool);\nCREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version);\n"
            };
            if let Some(&last) = applied.last() {
                sql += &format!("INSERT INTO schema_migrations (version, dirty) VALUES ({}, {f});\n", last + 1);
            }
        }
        "goose" => {
            sql += if pg {
                "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id));\n"
            } else {
                "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));\n"
            };
            sql += &format!("INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, {t});\n");
            for &i in applied {
                sql += &format!(
                    "INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES ({}, {t}, '{}');\n",
                    i + 1,
                    when(i)
                );
            }
        }
        other => panic!("{other}"),
    }
    sql
}

/// Whether the tool keeps the time a migration was applied.
fn keeps_time(tool: &str) -> bool {
    !matches!(tool, "dbmate" | "golang-migrate")
}

const TOOLS: [&str; 6] = ["sqlx", "diesel", "refinery", "dbmate", "golang-migrate", "goose"];

/// A project holding `tool`'s layout in `old/`, without envdb migrations.
fn project(tool: &str) -> Test {
    let t = Test::empty();
    for (path, content) in layout(tool) {
        t.write(&format!("old/{path}"), content);
    }
    t
}

/// The dev database as `tool` leaves it after applying the first two migrations.
fn sqlite_db(t: &Test, tool: &str, applied: &[usize]) {
    std::fs::create_dir_all(t.dev_db().parent().unwrap()).unwrap();
    let db = t.db();
    for &i in applied {
        db.execute_batch(UP[i]).unwrap();
    }
    db.execute_batch(&history(tool, applied, false)).unwrap();
}

fn envdb_history(t: &Test) -> Vec<(i64, String)> {
    let db = t.db();
    let mut stmt = db.prepare("SELECT version, applied_at FROM envdb_migrations ORDER BY version").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn every_tool_imports_adopts_on_sqlite_and_migrates_only_what_is_new() {
    for tool in TOOLS {
        let t = project(tool);
        t.run(&["import", "--from", tool, "old"]).success().stderr_has("IMPORTED.md");
        t.run(&["check"]).success();
        for (i, name) in NAMES.iter().enumerate() {
            assert!(t.path(&format!("migrations/000{}_{name}.sql", i + 1)).is_file(), "{tool}: {name}");
        }
        // The SQL is kept byte for byte (goose's StatementBegin/End lines stay, as comments).
        let kept = t.read("migrations/0002_add_email.sql");
        if tool == "goose" {
            assert_eq!(kept, format!("-- +goose StatementBegin\n{}-- +goose StatementEnd\n\n", UP[1]));
        } else {
            assert_eq!(kept, UP[1], "{tool}");
        }
        sqlite_db(&t, tool, &[0, 1]);
        let tool_table =
            t.db().query_row(&format!("SELECT count(*) FROM {}", table(tool)), [], |r| r.get::<_, i64>(0)).unwrap();
        t.run(&["adopt", "--from", tool]).success().stderr_has("recorded as envdb's (1 to 2)");
        let recorded = envdb_history(&t);
        assert_eq!(recorded.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [1, 2], "{tool}");
        if keeps_time(tool) {
            assert_eq!(recorded[0].1, "2024-03-01T10:00:00Z", "{tool}: the original time is kept");
            assert_eq!(recorded[1].1, "2024-03-02T10:00:00Z", "{tool}");
        }
        t.run(&["migrate"]).success().stderr_has("Applied migrations/0003_create_posts.sql").stderr_has("(1 applied)");
        t.run(&["validate"]).success();
        let after =
            t.db().query_row(&format!("SELECT count(*) FROM {}", table(tool)), [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(after, tool_table, "{tool}: its table is left untouched");
    }
}

/// A database another tool migrated and nobody adopted: the first migration fails on what that
/// tool made, and the error says so, naming the tool (golang-migrate's and dbmate's tables share
/// a name) and the commands that switch.
#[test]
fn migrate_on_a_database_another_tool_migrated_says_to_adopt_it() {
    for tool in TOOLS {
        let t = project(tool);
        t.run(&["import", "--from", tool, "old"]).success();
        sqlite_db(&t, tool, &[0, 1]);
        t.run(&["migrate"])
            .failure()
            .stderr_has("0001_")
            .stderr_has(&format!("holds {tool}'s history ({}: ", table(tool)))
            .stderr_has(&format!("`cargo envdb adopt --from {tool} --env dev`"));
        assert!(envdb_history(&t).is_empty(), "{tool}: nothing was recorded");
        // Once adopted, the same command applies only what is new.
        t.run(&["adopt", "--from", tool]).success();
        t.run(&["migrate"]).success().stderr_has("(1 applied)");
    }
}

fn table(tool: &str) -> &'static str {
    match tool {
        "sqlx" => "_sqlx_migrations",
        "diesel" => "__diesel_schema_migrations",
        "refinery" => "refinery_schema_history",
        "goose" => "goose_db_version",
        _ => "schema_migrations",
    }
}

/// Imports `tool`'s layout, makes the dev database with `history` instead of the tool's usual
/// rows, and expects `adopt` to fail with `message`, changing nothing.
fn adopt_refused(tool: &str, applied: &[usize], edit_history: impl Fn(String) -> String, message: &str) {
    let t = project(tool);
    t.run(&["import", "--from", tool, "old"]).success();
    std::fs::create_dir_all(t.dev_db().parent().unwrap()).unwrap();
    let db = t.db();
    for &i in applied {
        db.execute_batch(UP[i]).unwrap();
    }
    db.execute_batch(&edit_history(history(tool, applied, false))).unwrap();
    drop(db);
    let before = t.snapshot();
    t.run(&["adopt", "--from", tool]).failure().stderr_has(message).stderr_has("nothing was recorded");
    assert_eq!(t.snapshot(), before, "{tool}: a refused adopt changes nothing");
    let envdb =
        t.db().query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'envdb_%'", [], |r| r.get::<_, i64>(0));
    assert_eq!(envdb.unwrap(), 0, "{tool}: no envdb table was created");
}

#[test]
fn a_dirty_golang_migrate_database_is_refused() {
    adopt_refused("golang-migrate", &[0, 1], |h| h.replace("FALSE", "TRUE"), "dirty at version 2");
}

#[test]
fn a_failed_sqlx_migration_is_refused() {
    adopt_refused(
        "sqlx",
        &[0, 1],
        |h| h.replacen("TRUE", "FALSE", 2).replacen("FALSE", "TRUE", 1),
        "migration 20240101000002 failed",
    );
}

#[test]
fn a_gap_is_refused() {
    adopt_refused("dbmate", &[0, 2], |h| h, "never applied version 20240101000002 (0002_add_email.sql)");
}

#[test]
fn a_checksum_that_does_not_match_is_refused() {
    let other = sha384("CREATE TABLE users (id INTEGER PRIMARY KEY);\n");
    adopt_refused("sqlx", &[0, 1], |h| h.replacen(&sha384(UP[0]), &other, 1), "does not match the file imported");
    adopt_refused("refinery", &[0], |h| h.replace(&refinery_sum(NAMES[0], 1, UP[0]), "12345"), "does not match");
}

#[test]
fn a_version_missing_from_the_import_map_is_refused() {
    adopt_refused(
        "goose",
        &[0, 1],
        |h| h + "INSERT INTO goose_db_version (version_id, is_applied) VALUES (7, TRUE);\n",
        "applied version 7, which is not in IMPORTED.md",
    );
}

#[test]
fn a_schema_that_differs_is_refused() {
    adopt_refused(
        "diesel",
        &[0, 1],
        |h| h + "CREATE TABLE extra (a INTEGER);\n",
        "does not match the schema migrations 1 to 2 produce",
    );
}

/// An import that is refused names the file and writes nothing.
fn import_refused(tool: &str, extra: &[(&str, &str)], message: &str) {
    let t = project(tool);
    for (path, content) in extra {
        t.write(&format!("old/{path}"), content);
    }
    let before = t.snapshot();
    t.run(&["import", "--from", tool, "old"]).failure().stderr_has(message).stderr_has("nothing was written");
    assert_eq!(t.snapshot(), before, "{tool}: a refused import writes nothing");
}

#[test]
fn unconvertible_files_are_refused_by_name() {
    import_refused(
        "goose",
        &[("00004_backfill.go", "package migrations\n")],
        "cannot convert 00004_backfill.go: a goose Go migration",
    );
    import_refused(
        "goose",
        &[("00004_env.sql", "-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${X}';\n")],
        "00004_env.sql",
    );
    import_refused(
        "refinery",
        &[("V4__code.rs", "fn migration() -> String { String::new() }\n")],
        "V4__code.rs: a Rust migration",
    );
    import_refused(
        "dbmate",
        &[("20240101000004_x.sql", "-- migrate:up transaction:maybe\nSELECT 1;\n")],
        "20240101000004_x.sql",
    );
    import_refused("golang-migrate", &[("4_x.up.json", "{}")], "4_x.up.json");
    import_refused("diesel", &[("2024-01-01-000004_x/down.sql", "SELECT 1;\n")], "2024-01-01-000004_x/up.sql");
    import_refused("sqlx", &[("20240101000004_x.down.sql", "SELECT 1;\n")], "a down file without its up file");
    import_refused("sqlx", &[("20240101000001_again.sql", "SELECT 1;\n")], "both have version 20240101000001");
    import_refused(
        "sqlx",
        &[("20240101000004_x.sql", "-- envdb: sideways\nSELECT 1;\n")],
        "would not pass `cargo envdb check`",
    );
}

#[test]
fn a_non_empty_migrations_directory_is_refused_unless_it_is_the_same_import() {
    let t = project("sqlx");
    t.run(&["import", "--from", "sqlx", "old", "--dry-run"]).success().stderr_has("Would map");
    assert!(!t.path("migrations").exists(), "a dry run writes nothing");
    t.run(&["import", "--from", "sqlx", "old"]).success();
    t.run(&["import", "--from", "sqlx", "old"]).success().stderr_has("already holds this import");
    t.write("old/20240101000004_more.sql", "SELECT 1;\n");
    let before = t.snapshot();
    t.run(&["import", "--from", "sqlx", "old"]).failure().stderr_has("is not empty").stderr_has("move the files aside");
    assert_eq!(t.snapshot(), before);
    // The tool's directory cannot be envdb's own.
    let t = Test::new();
    t.run(&["import", "--from", "sqlx"]).failure().stderr_has("both sqlx's directory and envdb's migrations directory");
}

#[test]
fn the_import_map_reads_back_with_the_tool_checksums() {
    let t = project("sqlx");
    t.run(&["import", "--from", "sqlx", "old"]).success();
    let map = t.read("migrations/IMPORTED.md");
    assert!(map.contains("tool: sqlx"), "{map}");
    assert!(
        map.contains(&format!(
            "| 20240101000001 | 20240101000001_create_users.sql | 0001_create_users.sql | {} |",
            sha384(UP[0])
        )),
        "{map}"
    );
}

/// A project whose `dev` (and protected `prod`) environments are PostgreSQL databases that
/// `tool` migrated to version 2, with the tool's layout in `old/`.
struct PgProject {
    t: Test,
    dev: pgtest::Database<'static>,
    prod: pgtest::Database<'static>,
}

impl PgProject {
    fn new(tool: &str, via: pgtest::Via, history_sql: impl Fn(String) -> String) -> PgProject {
        let (dev, prod) = (pgtest::database(), pgtest::database());
        let t = project(tool).env("DEV_URL", &dev.url(via)).env("PROD_URL", &prod.url(via));
        t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${DEV_URL}\"\n[env.prod]\nurl = \"${PROD_URL}\"\n");
        for db in [&dev, &prod] {
            let mut c = db.connect(pgtest::Via::Tcp);
            c.batch_execute(&format!("{}{}", UP[0], UP[1])).unwrap();
            c.batch_execute(&history_sql(history(tool, &[0, 1], true))).unwrap();
        }
        PgProject { t, dev, prod }
    }

    /// Every row of `sql` on `db`, each as its columns joined by `|`.
    fn rows(db: &pgtest::Database<'_>, sql: &str) -> Vec<String> {
        db.connect(pgtest::Via::Tcp)
            .simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                pgtest::postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect::<Vec<_>>().join("|"))
                }
                _ => None,
            })
            .collect()
    }
}

#[test]
fn every_tool_adopts_on_postgresql_directly_and_through_pgbouncer() {
    for (i, tool) in TOOLS.into_iter().enumerate() {
        let via = if i % 2 == 0 { pgtest::Via::Tcp } else { pgtest::Via::Bouncer };
        let p = PgProject::new(tool, via, |h| h);
        p.t.run(&["import", "--from", tool, "old"]).success();
        p.t.run(&["check"]).success();
        let tool_rows = PgProject::rows(&p.dev, &format!("SELECT * FROM {} ORDER BY 1", table(tool)));
        p.t.run(&["adopt", "--from", tool]).success().stderr_has("recorded as envdb's (1 to 2)");
        let times = PgProject::rows(
            &p.dev,
            "SELECT version, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM envdb_migrations ORDER BY version",
        );
        assert_eq!(times.len(), 2, "{tool}: {times:?}");
        if keeps_time(tool) {
            assert_eq!(
                times,
                [format!("1|{}", when(0)), format!("2|{}", when(1))],
                "{tool}: the original times are kept"
            );
        }
        p.t.run(&["migrate"]).success().stderr_has("0003_create_posts.sql").stderr_has("(1 applied)");
        p.t.run(&["validate"]).success();
        let after = PgProject::rows(&p.dev, &format!("SELECT * FROM {} ORDER BY 1", table(tool)));
        assert_eq!(after, tool_rows, "{tool}: its table is left untouched");
    }
}

#[test]
fn postgresql_refusals_change_nothing_and_a_protected_environment_is_confirmed_and_audited() {
    let p = PgProject::new("golang-migrate", pgtest::Via::Bouncer, |h| h.replace("FALSE", "TRUE"));
    p.t.run(&["import", "--from", "golang-migrate", "old"]).success();
    let before = p.t.snapshot();
    p.t.run(&["adopt", "--from", "golang-migrate"])
        .failure()
        .stderr_has("dirty at version 2")
        .stderr_has("nothing was recorded");
    assert_eq!(p.t.snapshot(), before);
    assert_eq!(PgProject::rows(&p.dev, "SELECT version, dirty FROM schema_migrations"), ["2|t"]);
    assert_eq!(PgProject::rows(&p.dev, "SELECT to_regclass('envdb_migrations') IS NULL"), ["t"], "no envdb table");

    let p = PgProject::new("sqlx", pgtest::Via::Tcp, |h| h);
    p.t.run(&["import", "--from", "sqlx", "old"]).success();
    p.t.run(&["adopt", "--from", "sqlx", "--env", "prod"])
        .failure()
        .stderr_has("PROTECTED ENVIRONMENT: prod")
        .stderr_has("--confirm prod");
    assert_eq!(PgProject::rows(&p.prod, "SELECT to_regclass('envdb_migrations') IS NULL"), ["t"]);
    p.t.run(&["adopt", "--from", "sqlx", "--env", "prod", "--confirm", "prod"]).success();
    assert_eq!(PgProject::rows(&p.prod, "SELECT version FROM envdb_migrations ORDER BY 1"), ["1", "2"]);
    let log = p.t.audit_log("xdg/app");
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let adopted = entries.iter().find(|e| e["command"].as_str().is_some_and(|c| c.contains("adopt --from sqlx")));
    let adopted = adopted.unwrap_or_else(|| panic!("no audit entry for adopt: {log}"));
    assert_eq!(
        (adopted["version_before"].as_u64(), adopted["version_after"].as_u64()),
        (Some(0), Some(2)),
        "{adopted}"
    );
    // Adopting twice is refused: the database has envdb's history now.
    p.t.run(&["adopt", "--from", "sqlx", "--env", "prod", "--confirm", "prod"])
        .failure()
        .stderr_has("already has a migration history");
}

/// Every file under `dir` of the project, by relative path, with its content.
fn tree(t: &Test, dir: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = t
        .snapshot()
        .into_iter()
        .filter(|(p, b)| p.starts_with(t.path(dir)) && b != common::DIRECTORY)
        .map(|(p, b)| (p.strip_prefix(t.path(dir)).unwrap().display().to_string(), String::from_utf8(b).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn export_writes_sqlx_and_dbmate_layouts_back_with_their_old_versions_and_bytes() {
    for tool in ["sqlx", "dbmate"] {
        let t = project(tool);
        t.run(&["import", "--from", tool, "old"]).success();
        t.run(&["export", "--to", tool, "back"]).success().stderr_has("Exported");
        assert_eq!(tree(&t, "back"), tree(&t, "old"), "{tool}: the same files, byte for byte");
        // A migration written after the switch follows the last old version, outside a
        // transaction in the tool's own words.
        t.run(&["new", "vacuum"]).success();
        t.write("migrations/0004_vacuum.sql", "-- envdb: no-transaction\nVACUUM;\n");
        t.run(&["hash"]).success();
        t.run(&["export", "--to", tool, "back2"]).success();
        let exported = t.read("back2/20240101000004_vacuum.sql");
        let expected = if tool == "sqlx" {
            "-- no-transaction\nVACUUM;\n"
        } else {
            "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\n"
        };
        assert_eq!(exported, expected, "{tool}");
        // A non-empty directory is refused, with nothing written.
        let before = t.snapshot();
        t.run(&["export", "--to", tool, "old"]).failure().stderr_has("is not empty").stderr_has("nothing was written");
        assert_eq!(t.snapshot(), before);
    }
}
