//! Backups: SQLite's online backup API (a consistent snapshot while the application writes,
//! WAL included) into a hidden partial file, verified, synced, made private (0600), and only then
//! renamed to `<data_dir>/backups/<db stem>.<env>.<UTC timestamp>.v<version>.db`.
//! No file exists under a backup name unless it was verified.

use super::{DbError, history};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Pages copied per step of the backup API: 16 MiB at 4 KiB pages, so progress is visible.
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
    /// The database a restore replaced, kept as it was (not verified).
    pub replaced: bool,
    /// A partial file whose writer still runs: not stale, never pruned.
    pub in_progress: bool,
    /// When the file was written (what `--older-than` measures).
    #[serde(skip)]
    pub modified: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "cannot write the backup {} ({message}); nothing was kept and the database is untouched\n  help: check free space and permissions in {} and retry",
        .path.display(), .path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Write { path: PathBuf, message: String },
    #[error("{} fails verification ({report}); nothing was changed", .path.display())]
    Verify { path: PathBuf, report: String },
    #[error("{} already exists; nothing was written\n  help: choose another path, or remove it first", .0.display())]
    Exists(PathBuf),
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
    free_path(dir, database, env, version, "")
}

/// Where `restore` keeps the database it replaces: like a backup name, marked `.replaced` because
/// it is the database exactly as it was, not a verified copy (it may be why you are restoring).
pub fn replaced_path_for(dir: &Path, database: &Path, env: &str, version: u64) -> PathBuf {
    free_path(dir, database, env, version, ".replaced")
}

fn free_path(dir: &Path, database: &Path, env: &str, version: u64, marker: &str) -> PathBuf {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    let ts = timestamp();
    let mut n = 1;
    loop {
        let suffix = if n == 1 { String::new() } else { format!("-{n}") };
        let p = dir.join(format!("{stem}.{env}.{ts}{suffix}.v{version}{marker}.db"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// The hidden partial file a backup is written to before it is verified.
fn partial(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Puts a finished file at `dest` without ever replacing one that is there (two backups in the
/// same second, or `-o` naming an existing file): a hard link fails if the name is taken.
fn place(tmp: &Path, dest: &Path) -> Result<(), BackupError> {
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

/// What a backup file's name says.
struct Parsed {
    stem: String,
    env: String,
    timestamp: String,
    version: u64,
    /// `None` for a finished file; the writer's process id for a partial one.
    partial_pid: Option<Option<u32>>,
    replaced: bool,
}

/// Parses a backup file name; `None` for anything else.
fn parse(path: &Path) -> Option<Parsed> {
    let name = path.file_name()?.to_str()?;
    let (name, partial_pid) = match name.strip_prefix('.').and_then(|n| n.strip_suffix(".partial")) {
        // `.<name>.<pid>.partial`
        Some(inner) => match inner.rsplit_once('.').map(|(n, pid)| (n, pid.parse::<u32>())) {
            Some((n, Ok(pid))) => (n, Some(Some(pid))),
            _ => (inner, Some(None)),
        },
        None => (name, None),
    };
    let rest = name.strip_suffix(".db")?;
    let (rest, replaced) = match rest.strip_suffix(".replaced") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (rest, version) = rest.rsplit_once(".v")?;
    let version = version.parse().ok()?;
    let (rest, ts) = rest.rsplit_once('.')?;
    let (stem, env) = rest.rsplit_once('.')?;
    (ts.len() >= 16 && ts.ends_with(['Z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])).then(|| Parsed {
        stem: stem.to_owned(),
        env: env.to_owned(),
        timestamp: ts.to_owned(),
        version,
        partial_pid,
        replaced,
    })
}

/// Whether the process that is writing a partial file still runs (then it is not stale).
fn writer_alive(pid: Option<u32>, modified: Option<SystemTime>) -> bool {
    match pid {
        Some(pid) if cfg!(target_os = "linux") => Path::new(&format!("/proc/{pid}")).exists(),
        // Elsewhere: a partial file touched in the last hour may still be written.
        Some(_) => modified.and_then(|m| m.elapsed().ok()).is_some_and(|age| age < Duration::from_secs(3600)),
        None => false,
    }
}

/// The backups of `database` in `env` found in `dir`, oldest first (partials included, marked
/// incomplete). Other databases' backups in the same directory are left out.
pub fn list(dir: &Path, database: &Path, env: &str) -> std::io::Result<Vec<BackupFile>> {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if let Some(p) = parse(&path)
            && p.env == env
            && p.stem == stem
        {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            let in_progress = p.partial_pid.is_some_and(|pid| writer_alive(pid, modified));
            out.push(BackupFile {
                path,
                environment: p.env,
                timestamp: p.timestamp,
                version: p.version,
                size,
                complete: p.partial_pid.is_none(),
                replaced: p.replaced,
                in_progress,
                modified,
            });
        }
    }
    out.sort_by(|a, b| (&a.timestamp, &a.path).cmp(&(&b.timestamp, &b.path)));
    Ok(out)
}

/// Verifies a database file: SQLite's `quick_check` (every page, every b-tree, every record's
/// format), which proves a copy sound at a fraction of `integrity_check`'s cost, because it skips
/// the cross-check of every index entry against its table row, which a page-for-page copy of a
/// database cannot change.
pub fn verify(path: &Path) -> Result<(), BackupError> {
    let failed = |report: String| BackupError::Verify { path: path.to_owned(), report };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| failed(e.to_string()))?;
    // A writer queueing for the lock must not make the check fail: wait as other reads do.
    conn.busy_timeout(Duration::from_secs(30)).map_err(|e| failed(e.to_string()))?;
    let lines = super::pragma_lines(&conn, "quick_check").map_err(|e| failed(e.to_string()))?;
    if lines != ["ok"] {
        return Err(failed(lines.join("; ")));
    }
    Ok(())
}

/// How to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    /// A compact copy with `VACUUM INTO` instead of a page-for-page copy.
    pub vacuum: bool,
}

/// Copies the database `src` (open on `src_path`) to `dest`: partial file, copy, then verify and
/// fsync side by side, mode 0600, rename, directory fsync. `progress(done_pages, total_pages)` is
/// called between steps.
pub fn backup(
    src: &Connection,
    src_path: &Path,
    dest: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let tmp = partial(dest);
    let result =
        copy(src, src_path, &tmp, opts, progress).and_then(|()| private(&tmp)).and_then(|()| place(&tmp, dest));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    sync_dir(dir);
    result
}

fn write_error(tmp: &Path, e: impl std::fmt::Display) -> BackupError {
    BackupError::Write { path: tmp.to_owned(), message: e.to_string() }
}

/// `quick_check` of `checked` on one thread while `work` (copying, syncing) runs on this one:
/// verification costs CPU over the page cache, copying and syncing cost disk time, so together
/// they take about as long as the slower of the two.
fn verify_beside(checked: &Path, work: impl FnOnce() -> Result<(), BackupError>) -> Result<(), BackupError> {
    std::thread::scope(|s| {
        let check = s.spawn(|| verify(checked));
        let done = work();
        let check = check.join().unwrap_or_else(|_| {
            Err(BackupError::Verify { path: checked.to_owned(), report: "the check panicked".into() })
        });
        done.and(check)
    })
}

fn sync(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| write_error(path, e))
}

fn private(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| write_error(path, e))?;
    }
    let _ = path;
    Ok(())
}

fn copy(
    src: &Connection,
    src_path: &Path,
    tmp: &Path,
    opts: BackupOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let busy = Duration::from_secs(5);
    let sqlite = |e: rusqlite::Error| DbError::sqlite(src_path, e, busy);
    if opts.vacuum {
        src.execute("VACUUM INTO ?1", [tmp.to_string_lossy()]).map_err(|e| match e.sqlite_error_code() {
            Some(
                rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure,
            ) => write_error(tmp, e),
            _ => sqlite(e).into(),
        })?;
        return verify_beside(tmp, || sync(tmp));
    }
    // A read transaction held across the whole copy keeps the snapshot fixed: writers (in WAL
    // mode) go on, and the copy never restarts however busy they are.
    src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;").map_err(sqlite)?;
    let result = (|| {
        let mode: String = src.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sqlite)?;
        if mode == "wal" {
            copy_pages(src, src_path, tmp, progress)?;
            verify_beside(tmp, || sync(tmp))
        } else {
            // Under the shared lock the file is the snapshot and the copy is that file byte for
            // byte, so checking the snapshot checks the copy, and it can run while the copy is
            // made. (Reading the copy back would only read the page cache it was just written
            // from: no stronger proof.)
            verify_beside(src_path, || copy_file(src_path, tmp, progress).and_then(|()| sync(tmp)))
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
/// exactly the pages of the snapshot, into a destination that needs no journal of its own.
fn copy_pages(
    src: &Connection,
    src_path: &Path,
    tmp: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackupError> {
    let busy = Duration::from_secs(5);
    let mut dst = Connection::open(tmp).map_err(|e| write_error(tmp, e))?;
    dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").map_err(|e| write_error(tmp, e))?;
    {
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
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(5)),
                _ => {}
            }
        }
    }
    // The copy carries the source's WAL flag in its header; a backup is a plain rollback-journal file.
    let _: String = dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).map_err(|e| write_error(tmp, e))?;
    dst.close().map_err(|(_, e)| write_error(tmp, e))?;
    Ok(())
}

/// Makes a rename durable. Best effort: not every platform can open a directory.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens `database`, backs it up into its environment's backups directory, and returns the path.
/// Opens an environment's `database` (refusing one that belongs to another environment), backs it
/// up to `dest` or a new name in `backups`, and returns the backup's path.
pub fn backup_database(
    database: &Path,
    env: &str,
    backups: &Path,
    dest: Option<&Path>,
    opts: BackupOptions,
    busy: Duration,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf, BackupError> {
    let conn = super::open(database, super::OpenOptions { create: false, read_only: true, busy_timeout: busy })?;
    super::check_environment(&conn, database, env)?;
    let version = history::latest(&conn).map_err(|e| DbError::sqlite(database, e, busy))?;
    if let Some(dest) = dest {
        backup(&conn, database, dest, opts, progress)?;
        return Ok(dest.to_owned());
    }
    // An automatic name another backup took in the same second: take the next one.
    loop {
        let dest = path_for(backups, database, env, version);
        match backup(&conn, database, &dest, opts, progress) {
            Err(BackupError::Exists(_)) => continue,
            other => return other.map(|()| dest),
        }
    }
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

/// Replaces `database` with a copy of `file`, atomically, keeping the database it replaces at
/// `keep_as`. The file is verified while it is copied beside the database and synced; the old
/// database is checkpointed (so no stale `-wal` can ever be replayed onto the new file), hard-linked
/// to `keep_as` (copied where links are impossible), its `-wal`, `-shm` and `-journal` removed;
/// then the copy is renamed over it. At every moment the database path holds the old file or the
/// new one, and the old one is never lost.
pub fn replace(file: &Path, database: &Path, keep_as: &Path) -> Result<(), BackupError> {
    let dir = database.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = database.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.restore.{}.partial", std::process::id()));
    let result = (|| {
        verify_beside(file, || std::fs::copy(file, &tmp).map_err(|e| write_error(&tmp, e)).and_then(|_| sync(&tmp)))?;
        if database.exists() {
            // The restored file keeps the permissions of the database it replaces (a backup is 0600).
            if let Ok(meta) = std::fs::metadata(database) {
                std::fs::set_permissions(&tmp, meta.permissions()).map_err(|e| write_error(&tmp, e))?;
            }
            let wal = companion(database, "-wal");
            // Fold a WAL into the database before it is kept. A database too damaged to checkpoint
            // (perhaps the reason for this restore) keeps its WAL beside its kept copy instead.
            let checkpointed = !wal.exists()
                || Connection::open(database)
                    // The first column is 1 when the checkpoint could not finish (a reader in the way).
                    .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)))
                    .is_ok_and(|busy| busy == 0);
            keep(database, keep_as)?;
            if !checkpointed {
                std::fs::rename(&wal, companion(keep_as, "-wal")).map_err(|e| write_error(&wal, e))?;
            }
            for suffix in super::COMPANIONS {
                let p = companion(database, suffix);
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_error(&p, e)),
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

/// `<path><suffix>`: a database's `-wal`, `-shm` or `-journal`.
fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Keeps the database about to be replaced at `keep_as`: a hard link costs nothing and survives
/// the rename; a copy where the filesystem cannot link.
fn keep(database: &Path, keep_as: &Path) -> Result<(), BackupError> {
    let dir = keep_as.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if let Err(e) = std::fs::hard_link(database, keep_as) {
        if e.kind() == std::io::ErrorKind::AlreadyExists || keep_as.exists() {
            return Err(BackupError::Exists(keep_as.to_owned()));
        }
        std::fs::copy(database, keep_as).map_err(|e| write_error(keep_as, e))?;
        std::fs::File::open(keep_as).and_then(|f| f.sync_all()).map_err(|e| write_error(keep_as, e))?;
    }
    private(keep_as)?;
    sync_dir(dir);
    Ok(())
}

/// Backups to delete: all verified backups but the newest `keep`, and/or those older than
/// `older_than`; never the newest verified one. Databases a restore replaced go with the verified
/// backups older than them; partial files (interrupted backups) always go.
pub fn prune_plan(
    list: &[BackupFile],
    keep: Option<usize>,
    older_than: Option<Duration>,
    now: SystemTime,
) -> Vec<PathBuf> {
    let verified: Vec<&BackupFile> = list.iter().filter(|b| b.complete && !b.replaced).collect();
    let newest = verified.last().map(|b| b.path.clone());
    let cutoff = older_than.and_then(|d| now.checked_sub(d));
    let too_old = |b: &BackupFile| cutoff.is_some_and(|c| b.modified.is_some_and(|m| m <= c));
    let mut out: Vec<PathBuf> = list.iter().filter(|b| !b.complete && !b.in_progress).map(|b| b.path.clone()).collect();
    let mut oldest_kept: Option<&str> = None;
    for (i, b) in verified.iter().enumerate() {
        let beyond_keep = keep.is_some_and(|k| verified.len() - i > k);
        if (beyond_keep || too_old(b)) && Some(&b.path) != newest.as_ref() {
            out.push(b.path.clone());
        } else if oldest_kept.is_none() {
            oldest_kept = Some(&b.timestamp);
        }
    }
    for b in list.iter().filter(|b| b.complete && b.replaced) {
        // With no verified backup at all, a replaced database may be the only copy: it stays.
        let older_than_kept = keep.is_some() && oldest_kept.is_some_and(|o| b.timestamp.as_str() < o);
        if older_than_kept || too_old(b) {
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
            replaced: false,
            in_progress: false,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + month * 2_600_000)),
        }
    }

    #[test]
    fn names_round_trip() {
        let f =
            |p: &str| parse(Path::new(p)).map(|p| (p.stem, p.env, p.timestamp, p.version, p.partial_pid, p.replaced));
        assert_eq!(
            f("/d/backups/my.app.prod.20261122T101112Z.v12.db"),
            Some(("my.app".into(), "prod".into(), "20261122T101112Z".into(), 12, None, false))
        );
        assert_eq!(
            f("/d/backups/.app.dev.20261122T101112Z-2.v3.db.4242.partial"),
            Some(("app".into(), "dev".into(), "20261122T101112Z-2".into(), 3, Some(Some(4242)), false))
        );
        assert_eq!(
            f("/d/backups/app.dev.20261122T101112Z.v3.replaced.db"),
            Some(("app".into(), "dev".into(), "20261122T101112Z".into(), 3, None, true))
        );
        assert!(parse(Path::new("/d/backups/notes.txt")).is_none());
        assert!(parse(Path::new("/d/backups/app.db")).is_none());
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
