//! Backups: SQLite's online backup API (a consistent snapshot while the application writes,
//! WAL included) into a hidden partial file, verified, synced, made private (0600), and only then
//! renamed to `<data_dir>/backups/<db stem>.<env>.<UTC timestamp>.v<version>.db`, its SHA-256
//! recorded beside it first (`….db.sha256`). No file exists under a backup name unless it was
//! verified; restore, prune and `backup_keep` trust a backup only after re-reading its checksum.

mod catalog;
mod integrity;
pub mod options;

pub use catalog::{BackupFile, Kind, State, leftover_database, list, list_of, prune_plan, verify_newest};
#[cfg(feature = "postgres")]
pub(crate) use integrity::record;
pub use integrity::{check_backup, check_header, checksum_path, digest, matches, recorded};

use super::{DbError, OpenOptions, companion, history};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Pages copied per step of the backup API: 16 MiB at 4 KiB pages, so progress is visible.
const PAGES_PER_STEP: i32 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "cannot write the backup {} ({message}); nothing was kept and the database is untouched\n  help: check free space and permissions in {} and retry",
        .path.display(), .path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Write { path: PathBuf, message: String },
    /// The database about to be replaced could not be kept: what was made of the copy is removed.
    #[error(
        "cannot keep the database {} as {} ({message}); nothing was kept and the database is untouched\n  help: check free space and permissions in {}, and retry",
        .database.display(), .kept.display(), .kept.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Keep { database: PathBuf, kept: PathBuf, message: String },
    /// The database kept, the restored copy could not take its place.
    #[error("cannot replace the database {} ({message}); {}", .database.display(), replace_outcome(.kept.as_deref()))]
    Replace { database: PathBuf, kept: Option<PathBuf>, message: String },
    #[error("{} fails verification ({report}); nothing was changed", .path.display())]
    Verify { path: PathBuf, report: String },
    /// The check a backup makes found the database's pages damaged: no backup is written.
    #[error(
        "the database {} fails verification, so no backup was written ({how} reports: {report}); the database is untouched\n  help: its pages are damaged: restore a verified backup (`cargo envdb backups --verify` lists them), or salvage its rows with `sqlite3 {} .recover`",
        .database.display(), .database.display()
    )]
    Unsound { database: PathBuf, how: &'static str, report: String },
    #[error("{} already exists; nothing was written\n  help: choose another path, or remove it first", .0.display())]
    Exists(PathBuf),
    #[error("{} is damaged: {why}; nothing was changed", .path.display())]
    Damaged { path: PathBuf, why: String },
    /// A server database's dump, check or restore failed: the message names the database, the
    /// program and what was left.
    #[error("{0}")]
    Server(String),
    /// An option the database's backend has no use for (`--vacuum` on a server, `--format` on a
    /// file).
    #[error("{0}; nothing was written")]
    Unsupported(String),
    #[error("cannot create {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn replace_outcome(kept: Option<&Path>) -> String {
    match kept {
        None => {
            "nothing was kept and the database is untouched\n  help: check the permissions of its directory and retry"
                .into()
        }
        Some(kept) => format!(
            "the database as it was is kept, complete, as {}\n  help: fix the cause, then restore that file by name",
            kept.display()
        ),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// `YYYYMMDDTHHMMSSZ` for now, UTC.
pub fn timestamp() -> String {
    stamp(time::OffsetDateTime::now_utc())
}

/// `YYYYMMDDTHHMMSSZ` of a moment, in UTC.
fn stamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

/// The backups directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backups")
}

/// A free backup path: `<dir>/<stem>.<env>.<timestamp>.v<version>.db` (with `-2`, `-3`… appended
/// to the timestamp when two backups share a second).
pub fn path_for(dir: &Path, database: &Path, env: &str, version: u64) -> PathBuf {
    free_path(dir, database, env, version, "")
}

/// Where `restore` keeps the database it replaces: like a backup name, marked `.replaced` because
/// it is the database exactly as it was, not a verified copy (it may be why you are restoring).
pub fn replaced_path_for(dir: &Path, database: &Path, env: &str, version: u64) -> PathBuf {
    free_path(dir, database, env, version, ".replaced")
}

fn free_path(dir: &Path, database: &Path, env: &str, version: u64, marker: &str) -> PathBuf {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    free_name(dir, &stem, env, version, &format!("{marker}.db"))
}

/// A free backup path `<dir>/<stem>.<env>.<timestamp>.v<version><tail>` (`tail` is the marker and
/// extension: `.db`, `.replaced.db`, `.dump`…): a server database's backups are named by the
/// database (`<db>.<env>.<ts>.v<version>.dump`).
pub fn free_name(dir: &Path, stem: &str, env: &str, version: u64, tail: &str) -> PathBuf {
    let ts = timestamp();
    let mut n = 1;
    loop {
        let suffix = if n == 1 { String::new() } else { format!("-{n}") };
        let base = format!("{stem}.{env}.{ts}{suffix}.v{version}");
        // A checksum file left without its backup keeps its name taken too, and so does a backup
        // of another format in the same second: the suffix orders them as they were made.
        let taken = [".db", ".replaced.db", ".dump", ".sql", ".dir"].iter().any(|t| {
            let p = dir.join(format!("{base}{t}"));
            p.exists() || SIDECARS.iter().any(|s| super::companion(&p, s).exists())
        });
        if !taken {
            return dir.join(format!("{base}{tail}"));
        }
        n += 1;
    }
}

/// The hidden partial file a backup is written to before it is verified.
pub(crate) fn partial(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Puts a finished file at `dest` without ever replacing one that is there (two backups in the
/// same second, or `-o` naming an existing file): a hard link fails if the name is taken.
pub(crate) fn place(tmp: &Path, dest: &Path) -> Result<(), BackupError> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(BackupError::Exists(dest.to_owned())),
        // A filesystem without hard links: check, then rename.
        Err(_) if dest.exists() => Err(BackupError::Exists(dest.to_owned())),
        Err(_) => std::fs::rename(tmp, dest).map_err(|e| write_error(dest, e)),
    }
}

/// Verifies a database file with SQLite's `quick_check` (`db::quick_check`: every page, every
/// b-tree, every record's format), which proves a copy sound at a fraction of
/// `integrity_check`'s cost, because it skips the cross-check of every index entry against its
/// table row, which a page-for-page copy of a database cannot change. A writer queueing for the
/// lock makes it wait up to `busy`, as other reads do; past that it is `Busy`, not damage.
pub fn verify(path: &Path, busy: Duration) -> Result<(), BackupError> {
    let failed = |e: DbError| match e {
        DbError::Busy { .. } => BackupError::Db(DbError::Busy { path: path.to_owned(), timeout: busy }),
        // SQLite's report starts with a `*** in database main ***` line: one line reads better.
        DbError::Corrupt { report, .. } => {
            BackupError::Verify { path: path.to_owned(), report: report.replace('\n', " ") }
        }
        other => BackupError::Verify { path: path.to_owned(), report: other.to_string() },
    };
    let conn = super::open(path, OpenOptions { create: false, read_only: true, busy_timeout: busy }).map_err(failed)?;
    super::quick_check(&conn, path).map_err(failed)
}

/// How a backup was verified: what `backup` tells a person it checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// A rollback-journal database: the kernel copied the file while `quick_check` read the same
    /// snapshot (the shared lock held across both), and the SHA-256 was taken of it.
    Snapshot,
    /// A WAL database: SQLite's backup API copied the snapshot; `quick_check` read the copy.
    BackupApi,
    /// `--vacuum`: `VACUUM INTO` wrote a compact copy; `quick_check` read the copy.
    Vacuum,
    /// A server database: `pg_dump` wrote the archive; `pg_restore --list` read its table of
    /// contents and found every table of the database (a plain script: its `CREATE TABLE` and
    /// `COPY` lines, and its last line).
    Dump,
    /// `--verify-restore`: as `Dump`, and the archive restored into a scratch database has every
    /// table's row count the archive holds.
    DumpRestored,
}

impl Verification {
    /// What was checked, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Verification::Snapshot => "kernel copy of a fixed snapshot; quick_check of that snapshot during the copy",
            Verification::BackupApi => "SQLite backup API copy of a fixed WAL snapshot; quick_check of the copy",
            Verification::Vacuum => "VACUUM INTO compact copy; quick_check of the copy",
            Verification::Dump => "pg_dump archive; its table of contents lists every table of the database",
            Verification::DumpRestored => {
                "pg_dump archive listing every table, restored into a scratch database with every table's row count"
            }
        }
    }

    /// What `quick_check` read, for an error.
    fn checked(self) -> &'static str {
        match self {
            Verification::Snapshot => "quick_check of the database's snapshot",
            Verification::BackupApi => "quick_check of its page-for-page copy",
            Verification::Vacuum => "quick_check of its VACUUM INTO copy",
            Verification::Dump | Verification::DumpRestored => "its pg_dump archive",
        }
    }
}

/// A finished backup: where it is, how it was verified, its SHA-256 (recorded beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub path: PathBuf,
    pub verification: Verification,
    pub sha256: String,
}

/// How to copy.
#[derive(Debug, Clone, Copy)]
pub struct BackupOptions {
    /// A compact copy with `VACUUM INTO` instead of a page-for-page copy.
    pub vacuum: bool,
    /// Record the copy's SHA-256 beside it (`<dest>.sha256`): every backup does; a staging copy
    /// that is renamed elsewhere does not.
    pub checksum_file: bool,
    /// How long to wait for a lock (`--busy-timeout`).
    pub busy_timeout: Duration,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions { vacuum: false, checksum_file: true, busy_timeout: Duration::from_secs(5) }
    }
}

/// Copies the database `src` (open on `src_path`) to `dest`: partial file, copy, then verify,
/// hash and fsync side by side, mode 0600, the checksum file, rename, directory fsync.
/// `progress(done_pages, total_pages)` is called between steps. Returns how it was verified and
/// its SHA-256.
pub fn backup(
    src: &Connection,
    src_path: &Path,
    dest: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Verification, String), BackupError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    in_new_dirs(dir, || {
        if dest.exists() {
            return Err(BackupError::Exists(dest.to_owned()));
        }
        let tmp = partial(dest);
        let result = (|| {
            let (how, digest) = copy(src, src_path, &tmp, opts, progress)?;
            private(&tmp)?;
            // The checksum first, then the backup: a finished backup always has its checksum, and a
            // crash in between leaves a checksum file alone, which `prune` removes.
            if opts.checksum_file {
                integrity::record(dest, &digest)?;
            }
            place(&tmp, dest).inspect_err(|_| {
                if opts.checksum_file {
                    let _ = std::fs::remove_file(checksum_path(dest));
                }
            })?;
            Ok((how, digest))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        sync_dir(dir);
        result
    })
}

/// Runs `work` with `dir` created; when `work` fails, the directories this call created are
/// removed again (deepest first; only empty ones), so a failed backup leaves no new directory.
pub(crate) fn in_new_dirs<T>(dir: &Path, work: impl FnOnce() -> Result<T, BackupError>) -> Result<T, BackupError> {
    let created: Vec<PathBuf> =
        dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).map(Path::to_owned).collect();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let result = work();
    if result.is_err() {
        for d in &created {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

pub(crate) fn write_error(tmp: &Path, e: impl std::fmt::Display) -> BackupError {
    BackupError::Write { path: tmp.to_owned(), message: e.to_string() }
}

/// `quick_check` of `checked` on one thread and the SHA-256 of `hashed` on another while `work`
/// (copying, syncing) runs on this one: verifying and hashing cost CPU over the page cache,
/// copying and syncing cost disk time, so together they take about as long as the slowest.
/// Returns the digest of `hashed`.
fn verify_beside(
    checked: &Path,
    hashed: Option<&Path>,
    busy: Duration,
    work: impl FnOnce() -> Result<(), BackupError>,
) -> Result<Option<String>, BackupError> {
    let panicked = |path: &Path| BackupError::Verify { path: path.to_owned(), report: "the check panicked".into() };
    std::thread::scope(|s| {
        let check = s.spawn(|| verify(checked, busy));
        let hash = hashed.map(|path| {
            (
                path,
                s.spawn(move || integrity::digest(path).map_err(|e| write_error(path, format!("cannot read it: {e}")))),
            )
        });
        let done = work();
        let check = check.join().unwrap_or_else(|_| Err(panicked(checked)));
        let digest = hash.map(|(path, h)| h.join().unwrap_or_else(|_| Err(panicked(path))));
        done.and(check)?;
        digest.transpose()
    })
}

pub(crate) fn sync(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| write_error(path, e))
}

pub(crate) fn private(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| write_error(path, e))?;
    }
    let _ = path;
    Ok(())
}

/// Copies and verifies; returns how it verified and the copy's SHA-256.
fn copy(
    src: &Connection,
    src_path: &Path,
    tmp: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Verification, String), BackupError> {
    let busy = opts.busy_timeout;
    let sqlite = |e: rusqlite::Error| DbError::sqlite(src_path, e, busy);
    // A failed check names the database and what was checked: a page-for-page copy of sound pages
    // is sound, so damage found means the database's own pages are damaged.
    let verified = |how: Verification, d: Result<Option<String>, BackupError>| match d {
        Ok(Some(digest)) => Ok((how, digest)),
        Ok(None) => Err(write_error(tmp, "no checksum was computed")),
        Err(BackupError::Verify { report, .. }) => {
            Err(BackupError::Unsound { database: src_path.to_owned(), how: how.checked(), report })
        }
        Err(e) => Err(e),
    };
    if opts.vacuum {
        src.execute("VACUUM INTO ?1", [tmp.to_string_lossy()]).map_err(|e| match e.sqlite_error_code() {
            Some(
                rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure,
            ) => write_error(tmp, e),
            _ => sqlite(e).into(),
        })?;
        // A backup is a plain rollback-journal file, whatever the source's mode.
        integrity::set_wal_flag(tmp, false).map_err(|e| write_error(tmp, e))?;
        return verified(Verification::Vacuum, verify_beside(tmp, Some(tmp), busy, || sync(tmp)));
    }
    // A read transaction held across the whole copy keeps the snapshot fixed: writers (in WAL
    // mode) go on, and the copy never restarts however busy they are.
    src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;").map_err(sqlite)?;
    let result = (|| {
        let mode: String = src.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sqlite)?;
        if mode == "wal" {
            copy_pages(src, src_path, tmp, busy, progress)?;
            verified(Verification::BackupApi, verify_beside(tmp, Some(tmp), busy, || sync(tmp)))
        } else {
            // Under the shared lock the file is the snapshot and the copy is that file byte for
            // byte, so checking and hashing the snapshot checks and hashes the copy, while the
            // copy is made. (Reading the copy back would only read the page cache it was just
            // written from: no stronger proof.)
            let copied = || copy_file(src_path, tmp, progress).and_then(|()| sync(tmp));
            verified(Verification::Snapshot, verify_beside(src_path, Some(src_path), busy, copied))
        }
    })();
    let _ = src.execute_batch("COMMIT");
    result
}

/// A rollback-journal database under our shared lock cannot change: its file is the snapshot,
/// and the kernel copies it (`copy_file_range` where available) as fast as `cp`.
fn copy_file(src_path: &Path, tmp: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<(), BackupError> {
    let total = std::fs::metadata(src_path).map(|m| m.len()).map_err(|e| write_error(src_path, e))?;
    let copied = std::fs::copy(src_path, tmp).map_err(|e| write_error(tmp, e))?;
    if copied != total {
        return Err(write_error(tmp, format!("copied {copied} of {total} bytes")));
    }
    progress(total, total);
    Ok(())
}

/// A WAL database's snapshot is the file plus part of its WAL: SQLite's online backup API copies
/// exactly the pages of the snapshot, into a destination that needs no journal of its own. The
/// copy's header carries the source's WAL flag; it is cleared in the closed file (two bytes), not
/// by SQLite, which would first open a `-wal` and `-shm` beside the partial file and then write
/// a `-journal` to switch modes: files a kill would leave behind.
fn copy_pages(
    src: &Connection,
    src_path: &Path,
    tmp: &Path,
    busy: Duration,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let mut dst = Connection::open(tmp).map_err(|e| write_error(tmp, e))?;
    dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").map_err(|e| write_error(tmp, e))?;
    {
        let backup = Backup::new(src, &mut dst).map_err(|e| write_error(tmp, e))?;
        let mut waited = Duration::ZERO;
        loop {
            let step = backup.step(PAGES_PER_STEP).map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    BackupError::Db(DbError::sqlite(src_path, e, busy))
                }
                _ => write_error(tmp, e),
            })?;
            let p = backup.progress();
            progress((p.pagecount - p.remaining).max(0) as u64, p.pagecount.max(0) as u64);
            match step {
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked if waited >= busy => {
                    return Err(DbError::Busy { path: src_path.to_owned(), timeout: busy }.into());
                }
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(5));
                    waited += Duration::from_millis(5);
                }
                _ => {}
            }
        }
    }
    dst.close().map_err(|(_, e)| write_error(tmp, e))?;
    integrity::set_wal_flag(tmp, false).map_err(|e| write_error(tmp, e))
}

/// What a backup writes beside itself: its checksum file and (PostgreSQL) its row counts.
pub const SIDECARS: [&str; 2] = [".sha256", ".rows"];

/// Removes a backup with what belongs to it: its checksum and row counts files, the `-wal` or
/// `-journal` a replaced database may have kept beside it (or SQLite left beside a partial file;
/// one already removed with its partial file is done). The first failure names its file.
pub fn remove_backup(path: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    let sidecars = SIDECARS.iter().map(|s| super::companion(path, s));
    for file in std::iter::once(path.to_owned()).chain(sidecars) {
        // A pg_dump directory archive (finished or partial) is a directory.
        let removed = if file.is_dir() { std::fs::remove_dir_all(&file) } else { std::fs::remove_file(&file) };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err((file, e)),
            _ => {}
        }
    }
    super::remove_database(path);
    Ok(())
}

/// Makes a rename durable. Best effort: not every platform can open a directory.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens an environment's `database` (refusing one that belongs to another environment), backs it
/// up to `dest` or a new name in `backups`, waiting up to `busy` for locks, and returns the
/// backup: its path, how it was verified, its SHA-256.
pub fn backup_database(
    database: &Path,
    env: &str,
    backups: &Path,
    dest: Option<&Path>,
    opts: BackupOptions,
    busy: Duration,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Made, BackupError> {
    let opts = BackupOptions { busy_timeout: busy, ..opts };
    let conn = super::open(database, OpenOptions { create: false, read_only: true, busy_timeout: busy })?;
    super::check_environment(&conn, database, env)?;
    let version = history::latest(&conn).map_err(|e| DbError::sqlite(database, e, busy))?;
    let made = |path: &Path, (verification, sha256)| Made { path: path.to_owned(), verification, sha256 };
    if let Some(dest) = dest {
        return backup(&conn, database, dest, opts, progress).map(|r| made(dest, r));
    }
    // An automatic name another backup took in the same second: take the next one.
    loop {
        let dest = path_for(backups, database, env, version);
        match backup(&conn, database, &dest, opts, progress) {
            Err(BackupError::Exists(_)) => continue,
            other => return other.map(|r| made(&dest, r)),
        }
    }
}

/// What a database file says about itself: the facts restore checks before trusting it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub environment: Option<String>,
    pub project: Option<String>,
    pub history: Vec<crate::plan::Applied>,
    /// The tables envdb keeps in every database it migrates that this file lacks (all of them
    /// for an empty file or another application's database).
    pub missing: Vec<&'static str>,
}

/// Reads a (verified) database file's environment, project and history, waiting up to `busy`
/// for a lock.
pub fn identity(path: &Path, busy: Duration) -> Result<Identity, BackupError> {
    let conn = super::open(path, OpenOptions { create: false, read_only: true, busy_timeout: busy })?;
    let err = |e| BackupError::Db(DbError::sqlite(path, e, busy));
    let mut missing = Vec::new();
    if !history::exists(&conn).map_err(err)? {
        missing.push("envdb_migrations");
    }
    if !history::has_meta(&conn).map_err(err)? {
        missing.push("envdb_meta");
    }
    Ok(Identity {
        environment: history::meta(&conn, "environment").map_err(err)?,
        project: history::meta(&conn, "project").map_err(err)?,
        history: history::read(&conn).map_err(err)?,
        missing,
    })
}

/// Makes a database file what SQLite shows of it, before it is kept or its version is read: a hot
/// rollback journal (a writer killed mid-transaction left half of it in the file) is rolled
/// back, a WAL is checkpointed. Returns the companions it could not fold in (a database too
/// damaged for SQLite, perhaps the reason for a restore): they must stay with the file.
fn settle(database: &Path, busy: Duration) -> Vec<&'static str> {
    let mut left = Vec::new();
    if !database.is_file() {
        return left;
    }
    let journal = companion(database, "-journal");
    if journal_has_header(&journal) {
        // SQLite rolls a hot journal back before the first read of a read-write connection.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let read = Connection::open_with_flags(database, flags).and_then(|c| {
            c.busy_timeout(busy)?;
            c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
        });
        if read.is_err() || journal_has_header(&journal) {
            left.push("-journal");
        }
    }
    let wal = companion(database, "-wal");
    let checkpointed = !wal.exists()
        || Connection::open(database)
            .and_then(|c| {
                c.busy_timeout(busy)?;
                // The first column is 1 when the checkpoint could not finish (a reader in the way).
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
            })
            .is_ok_and(|busy| busy == 0);
    if !checkpointed {
        left.push("-wal");
    }
    left
}

/// The files beside a database that hold part of it (a WAL with frames, a rollback journal with
/// a transaction): a copy of the database file alone is not the database SQLite shows.
pub fn unfolded(path: &Path) -> Vec<PathBuf> {
    let (journal, wal) = (companion(path, "-journal"), companion(path, "-wal"));
    let wal_used = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    [(journal_has_header(&journal), journal), (wal_used, wal)]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, p)| p)
        .collect()
}

/// A rollback journal that still holds a transaction: a committed one leaves none, an empty
/// one, or one whose header is zeroed.
fn journal_has_header(journal: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 8];
    std::fs::File::open(journal).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic != [0; 8]
}

/// Replaces `database` with a copy of `file`, atomically, keeping the database it replaces where
/// `keep_as` says (asked once the old database is settled, so it can name its version). The file
/// is verified (and, given the checksum recorded for it, hashed) while it is copied beside the
/// database and synced; only then is the old database touched: settled (a hot journal rolled
/// back, a WAL checkpointed, so the kept file is the database as SQLite saw it and nothing stale
/// can ever be replayed onto the new file), hard-linked to its kept name with what could not be
/// folded in beside it (each copied and synced where links are impossible, e.g. a backups
/// directory on another filesystem), its `-wal`, `-shm` and `-journal` removed; then the copy is
/// renamed over it, and only then is the kept file made private (0600). A failure removes the
/// kept copy again while the database is still whole. The copy takes the journal mode (WAL or
/// rollback journal, the one mode a file records) and the permissions of the database it
/// replaces: an application that put its database in WAL finds it in WAL. At every moment the
/// database path holds the old file or the new one, and the old one is never lost. Locks are
/// waited for up to `busy`. Returns the kept name, if any.
pub fn replace(
    file: &Path,
    database: &Path,
    keep_as: impl FnOnce() -> PathBuf,
    checksum: Option<&str>,
    busy: Duration,
) -> Result<Option<PathBuf>, BackupError> {
    let dir = database.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = database.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.restore.{}.partial", std::process::id()));
    let result = (|| {
        // The mode of the database being replaced (none when there is none, or SQLite never
        // wrote its header): the copy gets it before it is synced.
        let wal = integrity::wal_flag(database).ok().flatten();
        let copied = || {
            std::fs::copy(file, &tmp).map_err(|e| write_error(&tmp, e))?;
            if let Some(wal) = wal {
                integrity::set_wal_flag(&tmp, wal).map_err(|e| write_error(&tmp, e))?;
            }
            sync(&tmp)
        };
        let digest = verify_beside(file, checksum.map(|_| file), busy, copied)?;
        if let (Some(recorded), Some(actual)) = (checksum, digest)
            && let Some(why) = integrity::mismatch(recorded, &actual)
        {
            return Err(BackupError::Damaged { path: file.to_owned(), why });
        }
        if !database.exists() {
            std::fs::rename(&tmp, database).map_err(|e| write_error(database, e))?;
            sync_dir(dir);
            return Ok(None);
        }
        // The restored file keeps the permissions of the database it replaces (a backup is 0600).
        if let Ok(meta) = std::fs::metadata(database) {
            std::fs::set_permissions(&tmp, meta.permissions()).map_err(|e| write_error(&tmp, e))?;
        }
        let left = settle(database, busy);
        let keep_as = keep_as();
        keep(database, &keep_as, &left)?;
        swap(&tmp, database, &keep_as, &left)?;
        sync_dir(dir);
        // Only now is the kept inode no longer the live database: it becomes private (a hard
        // link shares the live file's mode until the rename; chmod before would change the live
        // database's mode). Best effort: the restore is done.
        for suffix in std::iter::once("").chain(left) {
            let _ = private(&companion(&keep_as, suffix));
        }
        Ok(Some(keep_as))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Keeps the database about to be replaced at `keep_as`, with the companions `settle` could not
/// fold in (`left`) beside it: each hard-linked (costs nothing, survives the rename), or copied
/// and synced where the filesystem cannot link (the backups directory on another filesystem).
/// Nothing is moved away from the live database here, so on failure removing what was made
/// leaves everything as it was.
fn keep(database: &Path, keep_as: &Path, left: &[&str]) -> Result<(), BackupError> {
    let dir = keep_as.parent().unwrap_or(Path::new("."));
    let failed =
        |message: String| BackupError::Keep { database: database.to_owned(), kept: keep_as.to_owned(), message };
    std::fs::create_dir_all(dir).map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    if keep_as.exists() {
        return Err(BackupError::Exists(keep_as.to_owned()));
    }
    let result = std::iter::once("").chain(left.iter().copied()).try_for_each(|suffix| {
        let (from, to) = (companion(database, suffix), companion(keep_as, suffix));
        link_or_copy(&from, &to).map_err(|e| failed(format!("cannot keep {}: {e}", from.display())))
    });
    if result.is_err() {
        super::remove_database(keep_as);
    }
    sync_dir(dir);
    result
}

/// A hard link of `from` at `to`, or a synced copy where links are impossible; a copy that
/// fails is removed.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            let copied = std::fs::copy(from, to).and_then(|_| std::fs::File::open(to)?.sync_all());
            if copied.is_err() {
                let _ = std::fs::remove_file(to);
            }
            copied
        }
        other => other,
    }
}

/// Removes the replaced database's companions (those `settle` folded in first, so a failure
/// there loses nothing) and renames the restored copy `tmp` over it. On a failure while the
/// database is still whole, the kept copy is removed again; once a companion holding part of the
/// database is gone, the kept copy is the database as it was and stays.
fn swap(tmp: &Path, database: &Path, keep_as: &Path, left: &[&str]) -> Result<(), BackupError> {
    let mut whole = true;
    let order = super::COMPANIONS.iter().filter(|s| !left.contains(s)).chain(left);
    let result = order
        .map(|suffix| (left.contains(suffix), companion(database, suffix)))
        .try_for_each(|(part, p)| match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot remove {}: {e}", p.display())),
            _ => {
                whole &= !part;
                Ok(())
            }
        })
        .and_then(|()| std::fs::rename(tmp, database).map_err(|e| format!("cannot rename the restored copy: {e}")));
    result.map_err(|message| {
        if whole {
            super::remove_database(keep_as);
        }
        BackupError::Replace { database: database.to_owned(), kept: (!whole).then(|| keep_as.to_owned()), message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `verify` waits for a queued writer only as long as the busy timeout it is given, and
    /// reports that as the lock it is, not as damage.
    #[test]
    fn verify_waits_the_busy_timeout_and_says_busy() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        assert!(verify(&db, Duration::ZERO).is_ok());
        // An exclusive lock held: no reader gets in.
        conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);").unwrap();
        let started = std::time::Instant::now();
        let err = verify(&db, Duration::from_millis(300)).unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(&err, BackupError::Db(DbError::Busy { timeout, .. }) if *timeout == Duration::from_millis(300)),
            "{err:?}"
        );
        assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(5), "{waited:?}");
        conn.execute_batch("COMMIT").unwrap();
    }
}
