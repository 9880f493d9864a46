//! The tables envdb keeps in every database it migrates:
//! `envdb_migrations` (one row per applied migration, written in the migration's own
//! transaction) and `envdb_meta` (key-value facts about the database). `PRAGMA user_version`
//! mirrors the latest applied version so that an up-to-date check costs one read.

use crate::plan::Applied;
use rusqlite::{Connection, OptionalExtension, params};

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS envdb_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    execution_ms INTEGER NOT NULL,
    tool_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS envdb_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);";

/// Creates the tables if missing, records `created_at` once, and the environment and project the
/// database belongs to when it has none yet.
pub fn ensure(conn: &Connection, environment: Option<&str>, project: Option<&str>) -> rusqlite::Result<()> {
    if !(exists(conn)? && has_meta(conn)?) {
        conn.execute_batch(CREATE)?;
        conn.execute("INSERT OR IGNORE INTO envdb_meta (key, value) VALUES ('created_at', ?1)", [now()])?;
    }
    for (key, value) in [("environment", environment), ("project", project)] {
        if let Some(value) = value {
            conn.execute("INSERT OR IGNORE INTO envdb_meta (key, value) VALUES (?1, ?2)", [key, value])?;
        }
    }
    Ok(())
}

// Existence is looked up in SQLite's parsed schema (a hash lookup), not by scanning
// `sqlite_schema`, which costs as much as the schema is large.
pub(crate) fn has_meta(conn: &Connection) -> rusqlite::Result<bool> {
    conn.table_exists(Some("main"), "envdb_meta")
}

/// Whether the history table exists (a database never migrated by envdb has none).
pub fn exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.table_exists(Some("main"), "envdb_migrations")
}

/// The applied migrations in version order (empty when the table does not exist).
pub fn read(conn: &Connection) -> rusqlite::Result<Vec<Applied>> {
    if !exists(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT version, name, checksum, applied_at, execution_ms, tool_version FROM envdb_migrations ORDER BY version",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Applied {
            version: r.get::<_, i64>(0)? as u64,
            name: r.get(1)?,
            checksum: r.get(2)?,
            applied_at: r.get(3)?,
            execution_ms: r.get::<_, i64>(4)? as u64,
            tool_version: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Whether `version` is recorded (read inside the migration's transaction).
pub fn is_applied(conn: &Connection, version: u64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM envdb_migrations WHERE version = ?1")?.exists([version as i64])
}

/// The latest recorded version, 0 when none.
pub fn latest(conn: &Connection) -> rusqlite::Result<u64> {
    if !exists(conn)? {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce(max(version), 0) FROM envdb_migrations", [], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
}

/// Records a migration and moves `schema_version`, `last_migration` and `user_version` along.
pub fn record(conn: &Connection, version: u64, name: &str, checksum: &str, execution_ms: u64) -> rusqlite::Result<()> {
    record_at(conn, version, name, checksum, execution_ms, &now())
}

/// [`record`] with the time it was applied (`adopt` keeps the other tool's).
pub fn record_at(
    conn: &Connection,
    version: u64,
    name: &str,
    checksum: &str,
    execution_ms: u64,
    applied_at: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO envdb_migrations (version, name, checksum, applied_at, execution_ms, tool_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![version as i64, name, checksum, applied_at, execution_ms as i64, crate::VERSION])?;
    set_version(conn, version, Some(name))
}

/// Removes a migration's row after its down file ran.
pub fn unrecord(conn: &Connection, version: u64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM envdb_migrations WHERE version = ?1", [version as i64])?;
    let (latest, name): (i64, Option<String>) = conn.query_row(
        "SELECT coalesce(max(version), 0), (SELECT name FROM envdb_migrations ORDER BY version DESC LIMIT 1) FROM envdb_migrations",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    set_version(conn, latest as u64, name.as_deref())
}

/// Replaces the recorded checksum of an applied migration (`repair`).
pub fn set_checksum(conn: &Connection, version: u64, checksum: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE envdb_migrations SET checksum = ?2 WHERE version = ?1", params![version as i64, checksum])?;
    Ok(())
}

fn set_version(conn: &Connection, version: u64, name: Option<&str>) -> rusqlite::Result<()> {
    set_meta(conn, "schema_version", &version.to_string())?;
    set_meta(conn, "last_migration", name.unwrap_or(""))?;
    conn.pragma_update(None, "user_version", version as i64)
}

/// The `envdb_meta` key holding, while a run has switched a rollback-journal database to WAL for
/// speed, the journal mode to return to: a run killed before switching back leaves it behind, and
/// the next run restores that mode.
pub const JOURNAL_MODE_TO_RESTORE: &str = "journal_mode_to_restore";

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO envdb_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

pub fn delete_meta(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM envdb_meta WHERE key = ?1", [key])?;
    Ok(())
}

pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    if !has_meta(conn)? {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM envdb_meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

/// The current UTC time as RFC 3339, to the second.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
