//! The SQLite side: opening a database safely, the history tables, locks, statement splitting,
//! the runner that applies and reverts migrations, and the schema as text.

pub mod apply;
pub mod audit;
pub mod backend;
pub mod backup;
pub mod foreign_keys;
pub mod history;
pub mod location;
pub mod lock;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod schema;
pub mod sqlite;
pub mod statements;
mod txn;

use crate::plan::PlanError;
use rusqlite::{Connection, OpenFlags, ffi::ErrorCode};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong on the database side, each naming the database or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{} is not a SQLite database\n  help: check the path; envdb will not overwrite a file it does not recognise", .0.display())]
    NotADatabase(PathBuf),
    #[error("{} is a directory, not a database file", .0.display())]
    IsADirectory(PathBuf),
    #[error("the database {} does not exist\n  help: check --env or --database; `cargo envdb migrate` creates it", .0.display())]
    Missing(PathBuf),
    #[error("the database {} fails SQLite's integrity check: {report}\n  help: restore a backup; envdb will not migrate a damaged database", .path.display())]
    Corrupt { path: PathBuf, report: String },
    #[error(
        "the database {} is locked by another connection that held its write lock longer than the busy timeout ({:?})\n  help: stop the other writer or retry; nothing was changed",
        .path.display(), .timeout
    )]
    Busy { path: PathBuf, timeout: Duration },
    #[error("the database {} is read-only ({message})\n  help: check the file's permissions and those of its directory", .path.display())]
    ReadOnly { path: PathBuf, message: String },
    #[error("{}: {error}", .path.display())]
    Sqlite { path: PathBuf, error: rusqlite::Error },
    #[error("cannot create the directory {}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("{database}: {error}")]
    Plan { database: String, error: PlanError },
    #[error(transparent)]
    Migration(#[from] Box<apply::MigrationFailed>),
    /// The file cannot run (`sql_rules`: the same reasons `check` reports).
    #[error(
        "{file} cannot run; nothing was run:\n  {}",
        .refusals.iter().map(|r| format!("{file} {r}")).collect::<Vec<_>>().join("\n  ")
    )]
    Refused { file: String, refusals: Vec<crate::sql_rules::Refusal> },
    #[error(
        "the database {database} belongs to the environment `{recorded}` but is being opened as `{requested}` (a copy of another environment's database?); nothing was changed\n  help: open it as `{recorded}` (--env {recorded}), or adopt it deliberately with `cargo envdb env --adopt --env {requested}`"
    )]
    WrongEnvironment { database: String, recorded: String, requested: String },
    #[error(
        "{file} runs outside a transaction (`-- envdb: no-transaction`), which --single-transaction cannot honour; nothing was run"
    )]
    NoTransactionInSingle { file: String },
    #[error(
        "{file} runs outside a transaction (`-- envdb: no-transaction`), so migration {version} cannot be redone atomically; nothing was changed\n  help: run `cargo envdb rollback`, then `cargo envdb migrate`, checking the database in between"
    )]
    RedoOutsideTransaction { file: String, version: u64 },
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(Box<postgres::PgError>),
}

impl DbError {
    /// Classifies a SQLite error on `path` into the error a user can act on.
    pub fn sqlite(path: &Path, source: rusqlite::Error, busy_timeout: Duration) -> DbError {
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => DbError::NotADatabase(path),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Busy { path, timeout: busy_timeout },
            Some(ErrorCode::ReadOnly) => DbError::ReadOnly { path, message: source.to_string() },
            Some(ErrorCode::DatabaseCorrupt) => DbError::Corrupt { path, report: source.to_string() },
            _ => DbError::Sqlite { path, error: source },
        }
    }
}

/// How to open a database.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Create the file (and its directory) when missing.
    pub create: bool,
    pub read_only: bool,
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { create: true, read_only: false, busy_timeout: Duration::from_secs(5) }
    }
}

/// Opens a database file, refusing directories and files that are not SQLite databases.
pub fn open(path: &Path, opts: OpenOptions) -> Result<Connection, DbError> {
    if path.is_dir() {
        return Err(DbError::IsADirectory(path.to_owned()));
    }
    if !path.exists() {
        if !opts.create {
            return Err(DbError::Missing(path.to_owned()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
        }
    }
    let flags = if opts.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let err = |e| DbError::sqlite(path, e, opts.busy_timeout);
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    // SQLite counts the busy timeout in milliseconds in a C `int`; longer waits are that long.
    conn.busy_timeout(opts.busy_timeout.min(Duration::from_millis(i32::MAX as u64))).map_err(err)?;
    // Loading the schema is what reveals a file that is not a database.
    conn.table_exists(Some("main"), "sqlite_schema").map_err(err)?;
    Ok(conn)
}

/// Refuses a database that records another environment than `env`.
pub fn check_environment(conn: &Connection, path: &Path, env: &str) -> Result<(), DbError> {
    let recorded = history::meta(conn, "environment").map_err(|e| DbError::sqlite(path, e, Duration::ZERO))?;
    refuse_other_environment(recorded, env, &path.display().to_string())
}

/// Refuses `recorded`, the environment the database `database` records, when it is not `env`.
pub fn refuse_other_environment(recorded: Option<String>, env: &str, database: &str) -> Result<(), DbError> {
    match recorded {
        Some(recorded) if recorded != env => {
            Err(DbError::WrongEnvironment { database: database.to_owned(), recorded, requested: env.to_owned() })
        }
        _ => Ok(()),
    }
}

/// The files SQLite keeps beside a database, by suffix.
pub const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `<path><suffix>`: a database's `-wal`, `-shm` or `-journal`, a backup's `.sha256`.
pub fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Removes a database file and its companions (best effort: what is not there is fine).
pub fn remove_database(path: &Path) {
    for suffix in std::iter::once("").chain(COMPANIONS) {
        let _ = std::fs::remove_file(companion(path, suffix));
    }
}

/// Puts the finished, closed database file `built` (in the same directory) at `database` with one
/// rename, replacing the database there, whose content the caller has kept (`reset` backs it up).
/// The replaced database is checkpointed and its `-wal`, `-shm` and `-journal` removed before the
/// rename, so that no stale WAL or journal can ever be replayed onto the new file. The new file
/// takes the permissions of the one it replaces.
pub fn swap_in(built: &Path, database: &Path) -> std::io::Result<()> {
    if let Some(left) = COMPANIONS.iter().map(|s| companion(built, s)).find(|p| p.exists()) {
        let why = format!("{} is still beside the new database: it is not closed", left.display());
        return Err(std::io::Error::other(why));
    }
    if let Ok(meta) = std::fs::metadata(database) {
        std::fs::set_permissions(built, meta.permissions())?;
        if companion(database, "-wal").exists() {
            // Best effort: the content is kept elsewhere; this only keeps the old file whole.
            let _ = Connection::open(database).and_then(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"));
        }
        for suffix in COMPANIONS {
            match std::fs::remove_file(companion(database, suffix)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    std::fs::rename(built, database)?;
    backup::sync_dir(database.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    Ok(())
}

/// The one-column rows of a check pragma (`quick_check`, `integrity_check`).
pub fn pragma_lines(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA {pragma}"))?.query_map([], |r| r.get(0))?.collect()
}

/// `PRAGMA foreign_key_check`, described: at most `limit` violations, each naming the table, the
/// offending rowid and the key's columns, e.g.
/// `child row 1 references a missing row in parent (child.parent_id → parent.id)`.
pub fn foreign_key_violations(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<String>> {
    foreign_keys::describe(conn, &foreign_keys::check(conn, limit)?)
}

/// `PRAGMA quick_check`; `Err(Corrupt)` unless it says ok.
pub fn quick_check(conn: &Connection, path: &Path) -> Result<(), DbError> {
    let lines = pragma_lines(conn, "quick_check").map_err(|e| DbError::sqlite(path, e, Duration::ZERO))?;
    if lines == ["ok"] {
        return Ok(());
    }
    Err(DbError::Corrupt { path: path.to_owned(), report: lines.join("; ") })
}
