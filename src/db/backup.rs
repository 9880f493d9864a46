//! Backups: SQLite's online backup API (a consistent snapshot while the application writes,
//! WAL included) into a hidden partial file, verified, synced, made private (0600), and only then
//! renamed to `<data_dir>/backups/<db stem>.<env>.<UTC timestamp>.v<version>.db`.
//! No file exists under a backup name unless it was verified.

use super::{DbError, history};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Pages copied per step: 16 MiB at 4 KiB pages, so progress is visible and memory stays flat.
const PAGES_PER_STEP: i32 = 4096;

/// One backup file and what its name says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupFile {
    pub path: PathBuf,
    pub environment: String,
    /// `YYYYMMDDTHHMMSSZ`, UTC; sorts like time.
    pub timestamp: String,
    pub version: u64,
    pub size: u64,
    /// False for a partial file left by an interrupted backup (never under a backup name).
    pub complete: bool,
    /// When the file was written (what `--older-than` measures).
    #[serde(skip)]
    pub modified: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "cannot write the backup {} ({message}); nothing was kept and the database is untouched\n  help: free disk space in {} and retry",
        .path.display(), .path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Write { path: PathBuf, message: String },
    #[error("the copy failed verification ({report}); it was removed and the database is untouched")]
    Verify { report: String },
    #[error("cannot create {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// `YYYYMMDDTHHMMSSZ` for now, UTC.
pub fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

/// The backups directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backups")
}

/// A free backup path: `<dir>/<stem>.<env>.<timestamp>.v<version>.db` (with `-2`, `-3`… appended
/// to the timestamp when two backups share a second).
pub fn path_for(dir: &Path, database: &Path, env: &str, version: u64) -> PathBuf {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    let ts = timestamp();
    let mut n = 1;
    loop {
        let suffix = if n == 1 { String::new() } else { format!("-{n}") };
        let p = dir.join(format!("{stem}.{env}.{ts}{suffix}.v{version}.db"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// The hidden partial file a backup is written to before it is verified.
fn partial(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.partial"))
}

/// Parses a backup file name; `None` for anything else.
fn parse(path: &Path) -> Option<(String, String, u64, bool)> {
    let name = path.file_name()?.to_str()?;
    let (name, complete) = match name.strip_prefix('.').and_then(|n| n.strip_suffix(".partial")) {
        Some(inner) => (inner, false),
        None => (name, true),
    };
    let rest = name.strip_suffix(".db")?;
    let (rest, version) = rest.rsplit_once(".v")?;
    let version = version.parse().ok()?;
    let (rest, ts) = rest.rsplit_once('.')?;
    let (_stem, env) = rest.rsplit_once('.')?;
    (ts.len() >= 16 && ts.ends_with(['Z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']))
        .then(|| (env.to_owned(), ts.to_owned(), version, complete))
}

/// The backups in `dir` for `env`, oldest first (partials included, marked incomplete).
pub fn list(dir: &Path, env: &str) -> std::io::Result<Vec<BackupFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if let Some((e, timestamp, version, complete)) = parse(&path)
            && e == env
        {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            out.push(BackupFile { path, environment: e, timestamp, version, size, complete, modified });
        }
    }
    out.sort_by(|a, b| (&a.timestamp, &a.path).cmp(&(&b.timestamp, &b.path)));
    Ok(out)
}

/// Verifies a database file: SQLite's `quick_check` (every page, every b-tree, every record's
/// format), which proves a copy sound at a fraction of `integrity_check`'s cost, because it skips
/// the cross-check of every index entry against its table row, which a page-for-page copy of a
/// sound database cannot break.
pub fn verify(path: &Path) -> Result<(), BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| BackupError::Verify { report: e.to_string() })?;
    let mut stmt = conn.prepare("PRAGMA quick_check").map_err(|e| BackupError::Verify { report: e.to_string() })?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| BackupError::Verify { report: e.to_string() })?;
    if lines != ["ok"] {
        return Err(BackupError::Verify { report: lines.join("; ") });
    }
    Ok(())
}

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    /// A compact copy with `VACUUM INTO` instead of a page-for-page copy.
    pub vacuum: bool,
}

/// Copies the database `src` (open on `src_path`) to `dest`: partial file, copy, verify, fsync,
/// mode 0600, rename, directory fsync. `progress(done_pages, total_pages)` is called between steps.
pub fn backup(
    src: &Connection,
    src_path: &Path,
    dest: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = partial(dest);
    let _ = std::fs::remove_file(&tmp);
    let result =
        copy(src, src_path, &tmp, opts, progress).and_then(|()| verify(&tmp)).and_then(|()| finish(&tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(tmp.with_extension("partial-journal"));
    }
    result
}

fn write_error(tmp: &Path, e: impl std::fmt::Display) -> BackupError {
    BackupError::Write { path: tmp.to_owned(), message: e.to_string() }
}

fn copy(
    src: &Connection,
    src_path: &Path,
    tmp: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let busy = Duration::from_secs(5);
    if opts.vacuum {
        src.execute("VACUUM INTO ?1", [tmp.to_string_lossy()]).map_err(|e| match e.sqlite_error_code() {
            Some(
                rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure,
            ) => write_error(tmp, e),
            _ => DbError::sqlite(src_path, e, busy).into(),
        })?;
        return Ok(());
    }
    let mut dst = Connection::open(tmp).map_err(|e| write_error(tmp, e))?;
    // Holding a read transaction on the source across steps keeps the snapshot fixed: writers
    // (in WAL mode) go on, and the backup never restarts however busy they are.
    src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;").map_err(|e| DbError::sqlite(src_path, e, busy))?;
    let result = (|| -> Result<(), BackupError> {
        let backup = Backup::new(src, &mut dst).map_err(|e| write_error(tmp, e))?;
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
                StepResult::Done => return Ok(()),
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(5)),
                _ => {}
            }
        }
    })();
    let _ = src.execute_batch("COMMIT");
    result?;
    // The copy keeps the source's journal mode; a backup is a plain file.
    let _: String = dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).map_err(|e| write_error(tmp, e))?;
    dst.close().map_err(|(_, e)| write_error(tmp, e))?;
    Ok(())
}

fn finish(tmp: &Path, dest: &Path) -> Result<(), BackupError> {
    let file = std::fs::File::open(tmp).map_err(|e| write_error(tmp, e))?;
    file.sync_all().map_err(|e| write_error(tmp, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600)).map_err(|e| write_error(tmp, e))?;
    }
    std::fs::rename(tmp, dest).map_err(|e| write_error(dest, e))?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Makes a rename durable. Best effort: not every platform can open a directory.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens `database`, backs it up into its environment's backups directory, and returns the path.
pub fn backup_database(
    database: &Path,
    backups: &Path,
    env: &str,
    opts: BackupOptions,
    busy: Duration,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, BackupError> {
    let conn = super::open(database, super::OpenOptions { create: false, read_only: true, busy_timeout: busy })?;
    let version = history::latest(&conn).map_err(|e| DbError::sqlite(database, e, busy))?;
    let dest = path_for(backups, database, env, version);
    backup(&conn, database, &dest, opts, progress)?;
    Ok(dest)
}

/// What a database file says about itself: the facts restore checks before trusting it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub environment: Option<String>,
    pub project: Option<String>,
    pub history: Vec<crate::plan::Applied>,
}

/// Reads a (verified) database file's environment, project and history.
pub fn identity(path: &Path) -> Result<Identity, BackupError> {
    let opts = super::OpenOptions { create: false, read_only: true, busy_timeout: Duration::from_secs(5) };
    let conn = super::open(path, opts)?;
    let err = |e| BackupError::Db(DbError::sqlite(path, e, Duration::ZERO));
    Ok(Identity {
        environment: history::meta(&conn, "environment").map_err(err)?,
        project: history::meta(&conn, "project").map_err(err)?,
        history: history::read(&conn).map_err(err)?,
    })
}

/// Replaces `database` with a copy of `file`, atomically: the copy is written beside the database
/// and synced; the old database is checkpointed so that no stale `-wal` can ever be replayed onto
/// the new file; its `-wal`, `-shm` and `-journal` are removed; then the copy is renamed over it.
/// The caller has already backed the old database up.
pub fn replace(file: &Path, database: &Path) -> Result<(), BackupError> {
    let dir = database.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = database.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.restore.partial"));
    let result = (|| {
        std::fs::copy(file, &tmp).map_err(|e| write_error(&tmp, e))?;
        // The restored file keeps the permissions of the database it replaces (a backup is 0600).
        let perms = std::fs::metadata(database).map(|m| m.permissions());
        if let Ok(perms) = perms {
            std::fs::set_permissions(&tmp, perms).map_err(|e| write_error(&tmp, e))?;
        }
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| write_error(&tmp, e))?;
        verify(&tmp)?;
        if database.exists() {
            let conn = Connection::open(database).map_err(|e| DbError::sqlite(database, e, Duration::ZERO))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| DbError::sqlite(database, e, Duration::ZERO))?;
            drop(conn);
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut p = database.as_os_str().to_owned();
                p.push(suffix);
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_error(Path::new(&p), e)),
                    _ => {}
                }
            }
        }
        std::fs::rename(&tmp, database).map_err(|e| write_error(database, e))?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Backups to delete: all but the newest `keep`, and/or those older than `older_than`; never the
/// newest complete one. Partial files (interrupted backups) are always removed.
pub fn prune_plan(
    list: &[BackupFile],
    keep: Option<usize>,
    older_than: Option<Duration>,
    now: SystemTime,
) -> Vec<PathBuf> {
    let complete: Vec<&BackupFile> = list.iter().filter(|b| b.complete).collect();
    let newest = complete.last().map(|b| b.path.clone());
    let mut out: Vec<PathBuf> = list.iter().filter(|b| !b.complete).map(|b| b.path.clone()).collect();
    let cutoff = older_than.and_then(|d| now.checked_sub(d));
    for (i, b) in complete.iter().enumerate() {
        let beyond_keep = keep.is_some_and(|k| complete.len() - i > k);
        let too_old = cutoff.is_some_and(|c| b.modified.is_some_and(|m| m <= c));
        if (beyond_keep || too_old) && Some(&b.path) != newest.as_ref() {
            out.push(b.path.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ts: &str, complete: bool) -> BackupFile {
        let name = format!("app.dev.{ts}.v1.db");
        let month: u64 = ts[4..6].parse().unwrap();
        BackupFile {
            path: PathBuf::from(if complete { name } else { format!(".{name}.partial") }),
            environment: "dev".into(),
            timestamp: ts.into(),
            version: 1,
            size: 0,
            complete,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + month * 2_600_000)),
        }
    }

    #[test]
    fn names_round_trip() {
        let p = Path::new("/d/backups/my.app.prod.20261122T101112Z.v12.db");
        assert_eq!(parse(p), Some(("prod".into(), "20261122T101112Z".into(), 12, true)));
        let p = Path::new("/d/backups/.app.dev.20261122T101112Z-2.v3.db.partial");
        assert_eq!(parse(p), Some(("dev".into(), "20261122T101112Z-2".into(), 3, false)));
        assert_eq!(parse(Path::new("/d/backups/notes.txt")), None);
        assert_eq!(parse(Path::new("/d/backups/app.db")), None);
    }

    #[test]
    fn prune_keeps_the_newest() {
        let list = vec![
            file("20260101T000000Z", true),
            file("20260201T000000Z", true),
            file("20260301T000000Z", false),
            file("20260401T000000Z", true),
        ];
        let names = |v: Vec<PathBuf>| v.into_iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            names(prune_plan(&list, Some(1), None, now)),
            [
                ".app.dev.20260301T000000Z.v1.db.partial",
                "app.dev.20260101T000000Z.v1.db",
                "app.dev.20260201T000000Z.v1.db"
            ]
        );
        // Older than a day: everything is, but the newest stays.
        let all_old = prune_plan(&list, None, Some(Duration::from_secs(86_400)), now);
        assert_eq!(all_old.len(), 3);
        assert!(!names(all_old).contains(&"app.dev.20260401T000000Z.v1.db".to_owned()));
        assert_eq!(prune_plan(&list, Some(0), None, now).len(), 3);
    }
}
