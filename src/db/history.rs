//! The tables envdb keeps in every database it migrates:
//! `envdb_migrations` (one row per applied migration, written in the migration's own
//! transaction) and `envdb_meta` (key-value facts about the database). `PRAGMA user_version`
//! mirrors the latest applied version; `envdb_meta.history_digest` (`crate::digest`) stands for
//! the whole history, written in the same transaction as each row, so that the runtime's
//! up-to-date check compares one value. Triggers delete that digest on any change of
//! `envdb_migrations` envdb does not follow with a new one (a hand edit): a missing digest makes
//! the runtime read the whole history again.

use crate::digest;
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

/// Any change of a history row deletes the digest; envdb's own writes store the new one after
/// the row, in the same transaction (`record_at`, `seal`).
const TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS envdb_migrations_inserted AFTER INSERT ON envdb_migrations
BEGIN DELETE FROM envdb_meta WHERE key = 'history_digest'; END;
CREATE TRIGGER IF NOT EXISTS envdb_migrations_updated AFTER UPDATE ON envdb_migrations
BEGIN DELETE FROM envdb_meta WHERE key = 'history_digest'; END;
CREATE TRIGGER IF NOT EXISTS envdb_migrations_deleted AFTER DELETE ON envdb_migrations
BEGIN DELETE FROM envdb_meta WHERE key = 'history_digest'; END;";

/// Creates the tables if missing, records `created_at` once, and the environment and project the
/// database belongs to when it has none yet; gives a history without a digest (a database
/// migrated before digests, or edited by hand) its digest and triggers (`seal`). Runs in the
/// caller's transaction.
pub fn ensure(conn: &Connection, environment: Option<&str>, project: Option<&str>) -> rusqlite::Result<()> {
    if !(exists(conn)? && has_meta(conn)?) {
        conn.execute_batch(CREATE)?;
        conn.execute("INSERT OR IGNORE INTO envdb_meta (key, value) VALUES ('created_at', ?1)", [now()])?;
    }
    if meta(conn, digest::META_KEY)?.is_none() {
        seal(conn)?;
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

/// What the runner reads first in a migration's transaction, in one statement: whether the
/// migration is recorded already (another runner applied it meanwhile), and the digest its
/// history row will chain from ([`record_after`]).
///
/// The chain follows the order envdb inserts rows, which is version order (`plan` applies in
/// order; one run at a time). Were it ever another order, the digest would differ from the
/// code's and the runtime would read the history and store its digest again: never a false
/// "up to date". Each statement here is prepared again after every migration that changes the
/// schema, so the read is kept to two lookups.
#[derive(Debug, Clone)]
pub struct Tail {
    pub applied: bool,
    digest: Option<String>,
}

pub fn tail(conn: &Connection, version: u64) -> rusqlite::Result<Tail> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM envdb_migrations WHERE version = ?1), \
         (SELECT value FROM envdb_meta WHERE key = 'history_digest')",
    )?
    .query_row([version as i64], |r| Ok(Tail { applied: r.get(0)?, digest: r.get(1)? }))
}

/// The digest of the rows as they are now, stored with the triggers that delete it on any change
/// envdb does not make; returns it. Run it in a transaction (it reads the rows it digests).
pub fn seal(conn: &Connection) -> rusqlite::Result<String> {
    conn.execute_batch(TRIGGERS)?;
    let mut stmt = conn.prepare_cached("SELECT version, checksum FROM envdb_migrations ORDER BY version")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)))?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let sealed = digest::of(rows.iter().map(|(v, c)| (*v, c.as_str())));
    set_meta(conn, digest::META_KEY, &sealed)?;
    Ok(sealed)
}

/// What opening an up-to-date database reads, in one statement: the environment the database
/// records and its history digest (`None` when missing: an older database, or a history edited
/// by hand).
pub fn environment_and_digest(conn: &Connection) -> rusqlite::Result<(Option<String>, Option<String>)> {
    if !has_meta(conn)? {
        return Ok((None, None));
    }
    conn.prepare_cached(
        "SELECT (SELECT value FROM envdb_meta WHERE key = 'environment'), (SELECT value FROM envdb_meta WHERE key = 'history_digest')",
    )?
    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// The latest recorded version, 0 when none.
pub fn latest(conn: &Connection) -> rusqlite::Result<u64> {
    if !exists(conn)? {
        return Ok(0);
    }
    conn.query_row("SELECT coalesce(max(version), 0) FROM envdb_migrations", [], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
}

/// Records a migration and moves `schema_version`, `last_migration`, the digest and
/// `user_version` along.
pub fn record(conn: &Connection, version: u64, name: &str, checksum: &str, execution_ms: u64) -> rusqlite::Result<()> {
    record_at(conn, version, name, checksum, execution_ms, &now())
}

/// [`record`] in a transaction that read `tail` (and wrote no history since).
pub fn record_after(
    conn: &Connection,
    tail: &Tail,
    version: u64,
    name: &str,
    checksum: &str,
    execution_ms: u64,
) -> rusqlite::Result<()> {
    insert(conn, tail, version, name, checksum, execution_ms, &now())
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
    insert(conn, &tail(conn, version)?, version, name, checksum, execution_ms, applied_at)
}

/// Inserts the row; with a digest (`tail`, read before the row) that is one step of the chain,
/// without one the rows are digested again.
fn insert(
    conn: &Connection,
    tail: &Tail,
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
    match tail.digest.as_deref().and_then(|d| digest::step(d, version, checksum)) {
        Some(after) => set_version(conn, version, Some(name), Some(&after)),
        None => {
            set_version(conn, version, Some(name), None)?;
            seal(conn).map(drop)
        }
    }
}

/// Removes a migration's row after its down file ran.
pub fn unrecord(conn: &Connection, version: u64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM envdb_migrations WHERE version = ?1", [version as i64])?;
    let (latest, name): (i64, Option<String>) = conn.query_row(
        "SELECT coalesce(max(version), 0), (SELECT name FROM envdb_migrations ORDER BY version DESC LIMIT 1) FROM envdb_migrations",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    set_version(conn, latest as u64, name.as_deref(), None)?;
    seal(conn).map(drop)
}

/// Replaces the recorded checksum of an applied migration (`repair`).
pub fn set_checksum(conn: &Connection, version: u64, checksum: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE envdb_migrations SET checksum = ?2 WHERE version = ?1", params![version as i64, checksum])?;
    seal(conn).map(drop)
}

/// Moves `schema_version`, `last_migration` (and the digest, when given) in one statement, and
/// `user_version`.
fn set_version(conn: &Connection, version: u64, name: Option<&str>, digest: Option<&str>) -> rusqlite::Result<()> {
    let (version_text, name) = (version.to_string(), name.unwrap_or(""));
    match digest {
        Some(digest) => conn
            .prepare_cached(
                "INSERT INTO envdb_meta (key, value) VALUES ('schema_version', ?1), ('last_migration', ?2), ('history_digest', ?3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([version_text.as_str(), name, digest])?,
        None => conn
            .prepare_cached(
                "INSERT INTO envdb_meta (key, value) VALUES ('schema_version', ?1), ('last_migration', ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([version_text.as_str(), name])?,
    };
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
