//! File locks beside a database, with std's `File::lock` family (flock on Unix):
//! - `<db>.lock`, held shared by every running application (the runtime takes it), so that
//!   upgrade and restore can tell whether the application is running;
//! - `<db>.migrate.lock`, held exclusively for a whole migration run, so runs never interleave;
//! - `<data_dir>/<env>.test-run.lock`, held exclusively for a whole `cargo envdb test` on an
//!   ephemeral environment, whose every run replaces the database the other run's tests use.
//!
//! The kernel releases both when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `<db>.<suffix>`, beside the database.
pub fn lock_path(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".");
    name.push(suffix);
    db.with_file_name(name)
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another envdb run still holds {} after {:?}\n  help: wait for it to finish, or raise --lock-timeout",
        .path.display(), .waited
    )]
    Timeout { path: PathBuf, waited: Duration },
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

impl Held {
    /// Turns a shared lock into an exclusive one if no other process holds it (the same
    /// descriptor, so it never waits on itself). The runtime uses it before removing a database
    /// file that only it can have open.
    pub fn try_exclusive(&self) -> bool {
        self._file.try_lock().is_ok()
    }

    /// Turns an exclusive lock into a shared one (not atomically: flock drops, then takes).
    pub fn to_shared(&self) -> std::io::Result<()> {
        self._file.lock_shared()
    }
}

/// Polls `try` every 10 ms for up to `timeout`, calling `on_wait` once if it has to wait:
/// `Ok(true)` once it took the lock, `Ok(false)` at the timeout.
fn poll(
    file: &File,
    path: &Path,
    timeout: Duration,
    on_wait: &mut dyn FnMut(&Path),
    try_lock: fn(&File) -> Result<(), TryLockError>,
) -> Result<bool, LockError> {
    let start = Instant::now();
    let mut told = false;
    loop {
        match try_lock(file) {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path: path.to_owned(), source }),
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        if !told {
            on_wait(path);
            told = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Takes `<db>.lock`, waiting up to `timeout`: shared (as `app_lock`), past an exclusive holder
/// (an upgrade or restore); or `exclusive`, past the applications holding it. `None` at the timeout.
pub fn app_lock_within(
    db: &Path,
    exclusive: bool,
    timeout: Duration,
    on_wait: &mut dyn FnMut(&Path),
) -> Result<Option<Held>, LockError> {
    let path = lock_path(db, "lock");
    let file = open(&path).map_err(|source| LockError::Io { path: path.clone(), source })?;
    let try_lock = if exclusive { File::try_lock } else { File::try_lock_shared };
    Ok(poll(&file, &path, timeout, on_wait, try_lock)?.then_some(Held { _file: file }))
}

/// Takes the exclusive run lock, waiting up to `timeout`. `on_wait` is called once if it has to wait.
pub fn run_lock(db: &Path, timeout: Duration, on_wait: &mut dyn FnMut(&Path)) -> Result<Held, LockError> {
    let path = lock_path(db, "migrate.lock");
    let file = open(&path).map_err(|source| LockError::Io { path: path.clone(), source })?;
    match poll(&file, &path, timeout, on_wait, File::try_lock)? {
        true => Ok(Held { _file: file }),
        false => Err(LockError::Timeout { path, waited: timeout }),
    }
}

/// Takes `path` exclusively, waiting as long as the holder runs; `on_wait` is called first if it
/// has to wait.
pub fn turn_lock(path: &Path, on_wait: &mut dyn FnMut(&Path)) -> Result<Held, LockError> {
    let file = open(path).map_err(|source| LockError::Io { path: path.to_owned(), source })?;
    poll(&file, path, Duration::MAX, on_wait, File::try_lock)?;
    Ok(Held { _file: file })
}

/// Takes the application's shared lock (the runtime holds it while the application runs).
pub fn app_lock(db: &Path) -> Result<Held, LockError> {
    let path = lock_path(db, "lock");
    let file = open(&path).map_err(|source| LockError::Io { path: path.clone(), source })?;
    file.lock_shared().map_err(|source| LockError::Io { path, source })?;
    Ok(Held { _file: file })
}

/// Takes `<db>.lock` exclusively if no application holds it: while held, no application can
/// open the database (the runtime waits for its shared lock). `None` when an application has it.
pub fn try_exclusive_app_lock(db: &Path) -> Result<Option<Held>, LockError> {
    let path = lock_path(db, "lock");
    let file = open(&path).map_err(|source| LockError::Io { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Held { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
    }
}

/// Whether some application holds `<db>.lock` right now. Probes with a non-blocking exclusive
/// lock that is released at once; a missing lock file means nobody.
pub fn app_running(db: &Path) -> bool {
    let path = lock_path(db, "lock");
    let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

/// The processes holding `<db>.lock`, as `pid (command)`, where the system can tell (Linux's
/// `/proc/locks`); empty elsewhere.
pub fn app_holders(db: &Path) -> Vec<String> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(meta) = std::fs::metadata(lock_path(db, "lock")) else { return Vec::new() };
        let inode = meta.ino().to_string();
        let Ok(locks) = std::fs::read_to_string("/proc/locks") else { return Vec::new() };
        let mut out = Vec::new();
        for line in locks.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "1: FLOCK  ADVISORY  READ 1234 fd:01:5678 0 EOF"
            let Some(pos) = fields.iter().position(|f| *f == "READ" || *f == "WRITE") else { continue };
            let (Some(pid), Some(dev_inode)) = (fields.get(pos + 1), fields.get(pos + 2)) else { continue };
            if dev_inode.rsplit(':').next() == Some(inode.as_str()) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                out.push(format!("pid {pid} ({})", comm.trim()));
            }
        }
        out.sort();
        out.dedup();
        out
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = db;
        Vec::new()
    }
}
