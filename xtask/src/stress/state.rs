//! What the stress runs check after every run: the history against the schema (the README's
//! "matches the schema exactly"), row counts, the journal mode, and files in the data directory
//! that nothing accounts for.

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A check that did not hold, and whether committed data is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub why: String,
    pub lost: bool,
}

fn broken(lost: bool) -> impl Fn(rusqlite::Error) -> Broken {
    move |e| Broken { why: e.to_string(), lost }
}

/// Opens a database to check it without changing it: no checkpoint when it closes, so a WAL that
/// a killed process left stays as it was for the next run. (A hot rollback journal is still
/// rolled back, as by any process that opens the database.)
pub fn open(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

pub fn lines(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA {pragma}"))?.query_map([], |r| r.get(0))?.collect()
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", [name], |r| r.get(0))
        .map(|n: i64| n > 0)
}

/// The database's journal mode (`delete`, `wal`, …).
pub fn journal_mode(db: &Path) -> Result<String, String> {
    open(db).and_then(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0))).map_err(|e| e.to_string())
}

/// The README's "the history matches the schema exactly", for migrations `N` that each create
/// a table `tN` holding `rows` rows: the database passes `integrity_check`; the recorded
/// versions are 1..n without holes; `user_version` and `envdb_meta.schema_version` equal n;
/// tables t1..tn exist with all their rows, and no table of an unrecorded migration exists.
/// Returns n.
pub fn history_matches_schema(db: &Path, rows: i64) -> Result<usize, Broken> {
    let conn = open(db).map_err(broken(true))?;
    let ok = lines(&conn, "integrity_check").map_err(broken(true))?;
    if ok != ["ok"] {
        return Err(Broken { why: format!("integrity_check: {}", ok.join("; ")), lost: true });
    }
    let fail = |why: String| Err(Broken { why, lost: false });
    let versions: Vec<i64> = if table_exists(&conn, "envdb_migrations").map_err(broken(false))? {
        conn.prepare("SELECT version FROM envdb_migrations ORDER BY version")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(broken(true))?
    } else {
        Vec::new()
    };
    let n = versions.len() as i64;
    if versions.iter().copied().ne(1..=n) {
        return fail(format!("the recorded versions are not 1..{n} without holes: {versions:?}"));
    }
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(broken(false))?;
    if user_version != n {
        return fail(format!("user_version is {user_version}, but {n} migrations are recorded"));
    }
    let schema_version: Option<String> = if table_exists(&conn, "envdb_meta").map_err(broken(false))? {
        conn.query_row("SELECT value FROM envdb_meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
            .map_err(broken(false))?
    } else {
        None
    };
    match schema_version {
        None if n == 0 => {}
        Some(s) if s == n.to_string() => {}
        other => return fail(format!("envdb_meta.schema_version is {other:?}, but {n} migrations are recorded")),
    }
    for v in 1..=n {
        let found: i64 = conn.query_row(&format!("SELECT count(*) FROM t{v}"), [], |r| r.get(0)).map_err(|_| {
            Broken { why: format!("migration {v} is recorded but its table t{v} is missing"), lost: true }
        })?;
        if found != rows {
            return Err(Broken { why: format!("migration {v} is recorded with {found} of {rows} rows"), lost: true });
        }
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 't[0-9]*'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(broken(false))?;
    if let Some(extra) = tables.iter().find(|t| t[1..].parse::<i64>().is_ok_and(|v| v > n)) {
        return fail(format!("table {extra} exists, but its migration is not recorded (half applied)"));
    }
    Ok(n as usize)
}

/// The rows of `blobs` in a database that passes `quick_check`.
pub fn count(db: &Path) -> Result<i64, String> {
    let conn = open(db).map_err(|e| e.to_string())?;
    let ok = lines(&conn, "quick_check").map_err(|e| e.to_string())?;
    if ok != ["ok"] {
        return Err(ok.join("; "));
    }
    conn.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).map_err(|e| e.to_string())
}

/// `<db><suffix>`.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The database's own files: SQLite's journal files and envdb's two lock files.
const OWN: [&str; 6] = ["", "-wal", "-shm", "-journal", ".lock", ".migrate.lock"];

pub fn remove_db(db: &Path) {
    for suffix in OWN {
        let _ = std::fs::remove_file(beside(db, suffix));
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

/// Files anywhere under the data directory of `db` that nothing accounts for: not the database,
/// SQLite's files beside it or envdb's lock files, and not listed by `cargo envdb backups`
/// (which lists verified backups, databases a restore replaced, and interrupted backups).
pub fn unlisted(bin: &Path, project: &Path, db: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out =
        Command::new(bin).args(["--format", "json", "backups", "--database"]).arg(db).current_dir(project).output()?;
    anyhow::ensure!(
        out.status.success(),
        "`backups --database {}` failed: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
    // A listed backup's checksum file goes with it.
    let mut known: HashSet<PathBuf> = listed
        .iter()
        .filter_map(|b| b["path"].as_str())
        .flat_map(|p| [canonical(&project.join(p)), canonical(&project.join(format!("{p}.sha256")))])
        .collect();
    let data = canonical(db.parent().unwrap_or(Path::new(".")));
    let name = db.file_name().unwrap_or_default();
    known.extend(OWN.iter().map(|s| beside(&data.join(name), s)));
    let mut found = Vec::new();
    let mut dirs = vec![data];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if !known.contains(&canonical(&path)) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with migrations `versions` recorded (each table `tN` with one row), then `sql`.
    fn database(dir: &Path, versions: &[i64], sql: &str) -> PathBuf {
        let db = dir.join(format!("db{}.db", versions.len()));
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE envdb_migrations (version INTEGER PRIMARY KEY);
             CREATE TABLE envdb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .unwrap();
        for v in versions {
            conn.execute_batch(&format!(
                "CREATE TABLE t{v} (id INTEGER PRIMARY KEY); INSERT INTO t{v} DEFAULT VALUES;
                 INSERT INTO envdb_migrations VALUES ({v});"
            ))
            .unwrap();
        }
        let n = versions.len();
        conn.execute_batch(&format!(
            "INSERT INTO envdb_meta VALUES ('schema_version', '{n}'); PRAGMA user_version = {n}; {sql}"
        ))
        .unwrap();
        db
    }

    fn why(dir: &Path, versions: &[i64], sql: &str) -> String {
        history_matches_schema(&database(dir, versions, sql), 1).unwrap_err().why
    }

    #[test]
    fn the_history_check_holds_for_a_sound_database_and_catches_each_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        let t = |name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            d
        };
        assert_eq!(history_matches_schema(&database(&t("sound"), &[1, 2], ""), 1), Ok(2));
        assert!(why(&t("hole"), &[1, 3], "").contains("without holes"));
        assert!(why(&t("user"), &[1, 2], "PRAGMA user_version = 1;").contains("user_version is 1"));
        assert!(
            why(&t("meta"), &[1, 2], "UPDATE envdb_meta SET value = '1';").contains("schema_version is Some(\"1\")")
        );
        assert!(why(&t("extra"), &[1, 2], "CREATE TABLE t3 (id INTEGER);").contains("t3 exists"));
        let gone = history_matches_schema(&database(&t("gone"), &[1, 2], "DROP TABLE t2;"), 1).unwrap_err();
        assert!(gone.lost && gone.why.contains("t2 is missing"), "{gone:?}");
    }
}
