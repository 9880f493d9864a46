//! A cache of `check`'s verdict on a migrations directory: a command that finds nothing changed
//! lists the directory and stats each entry instead of reading, hashing and lexing every file.
//!
//! Stored in `.envdb/check-cache.json` beside the dev and test databases, once that directory
//! exists (a command never makes it for the cache). It is trusted only when
//! it was made by this very binary (version, size and modification time of the executable), for
//! the same directory, display path and SQL dialect, and when every entry of the directory,
//! sum file included, has the size, modification time, change time and inode it had when the
//! files were read, and none was modified in or after the second the cache's reading began
//! (git's rule for racily clean index entries: such an edit could leave the stat unchanged).
//! Anything else, a missing, damaged or foreign cache included, reads every file as before and
//! writes the cache again. A failure to write it is ignored: it only costs speed.

use crate::check::check_as;
use crate::migration_dir::{MigrationDir, ScanError};
use crate::plan::Planned;
use crate::problem::{Problem, Report};
use crate::sql_lex::Dialect;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped when what is stored changes meaning.
const FORMAT: u32 = 1;

/// The cache file, under the project's root.
pub const FILE: &str = ".envdb/check-cache.json";

/// A migration as planning sees it: enough to compare with a history, not to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u64,
    pub name: String,
    pub checksum: String,
}

impl Planned for Header {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn checksum(&self) -> &str {
        &self.checksum
    }
}

/// A directory entry's identity: name, size, modification and change times, inode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry(String, u64, i64, i64, i64, i64, u64);

impl Entry {
    fn racy(&self, since: i64) -> bool {
        self.2 >= since || self.4 >= since
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    key: String,
    /// When reading began, in whole seconds since the epoch.
    since: i64,
    entries: Vec<Entry>,
    /// `check`'s findings, without `--strict`.
    problems: Vec<Problem>,
    migrations: Vec<Header>,
    ignored: Vec<String>,
}

/// The migrations directory, checked: from the cache, or read (and then cached).
pub struct Checked {
    /// `check`'s findings, without `--strict`.
    pub report: Report,
    /// The up migrations in version order.
    pub migrations: Vec<Header>,
    /// Entries that are not migrations (for `-v`).
    pub ignored: Vec<String>,
    /// The directory as read; `None` when the verdict came from the cache.
    pub dir: Option<MigrationDir>,
}

impl Checked {
    /// The verdict `report` on `dir`, as read.
    pub fn of(dir: MigrationDir, report: Report) -> Checked {
        Checked {
            report,
            migrations: dir
                .ups()
                .map(|f| Header { version: f.name.version, name: f.file_name.clone(), checksum: f.checksum.clone() })
                .collect(),
            ignored: dir.ignored.clone(),
            dir: Some(dir),
        }
    }
}

/// Where the cache of `root`'s migrations lives and what makes it valid.
struct Cache {
    path: PathBuf,
    key: String,
}

impl Cache {
    /// The cache for migrations read from `dir` (shown as `display`) as `dialect`, in
    /// `root/.envdb`; `None` when the running executable cannot be identified.
    fn new(root: &Path, dir: &Path, display: &Path, dialect: Dialect) -> Option<Cache> {
        let exe = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
        let (size, modified) = (exe.len(), exe.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?);
        let key = format!(
            "{} {size} {} {dialect:?} {} {}",
            crate::VERSION,
            modified.as_nanos(),
            dir.display(),
            display.display()
        );
        Some(Cache { path: root.join(FILE), key })
    }

    /// Whether a verdict can be stored: `.envdb/` is made for the dev database, never just for
    /// the cache.
    fn writable(&self) -> bool {
        self.path.parent().is_some_and(Path::is_dir)
    }

    /// The stored verdict, when it is still true of `dir`.
    fn lookup(&self, dir: &Path) -> Option<Checked> {
        let text = std::fs::read(&self.path).ok()?;
        let stored: Stored = serde_json::from_slice(&text).ok()?;
        if stored.format != FORMAT || stored.key != self.key {
            return None;
        }
        let entries = list(dir)?;
        if entries != stored.entries || entries.iter().any(|e| e.racy(stored.since)) {
            return None;
        }
        Some(Checked {
            report: Report { problems: stored.problems },
            migrations: stored.migrations,
            ignored: stored.ignored,
            dir: None,
        })
    }

    /// Writes the verdict on `dir` as read after `snapshot`; errors are ignored (the cache only
    /// saves time). A directory with unreadable entries is not cached. Called only with a
    /// snapshot, which is taken only where the cache is writable.
    fn store(&self, snapshot: Snapshot, checked: &Checked) {
        let Some(dir) = &checked.dir else { return };
        if !dir.unreadable.is_empty() {
            return;
        }
        let stored = Stored {
            format: FORMAT,
            key: self.key.clone(),
            since: snapshot.since,
            entries: snapshot.entries,
            problems: checked.report.problems.clone(),
            migrations: checked.migrations.clone(),
            ignored: checked.ignored.clone(),
        };
        let Ok(text) = serde_json::to_vec(&stored) else { return };
        // Written aside and renamed, so a concurrent run reads the old cache or the new one
        // (not synced: a cache a crash damaged does not parse, and is read past).
        let tmp = crate::fs_util::temp_beside(&self.path, "write");
        if std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &self.path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The directory's entries and the second their reading began, taken before the files are read.
struct Snapshot {
    since: i64,
    entries: Vec<Entry>,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Every entry of `dir` with its identity, sorted by name; `None` when one cannot be stat'ed or
/// is neither a file nor a directory (such a directory is never cached).
#[cfg(unix)]
fn list(dir: &Path) -> Option<Vec<Entry>> {
    use std::os::unix::fs::MetadataExt as _;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name().into_string().ok()?;
        let meta = if entry.file_type().ok()?.is_symlink() {
            std::fs::metadata(entry.path()).ok()?
        } else {
            entry.metadata().ok()?
        };
        if meta.is_dir() {
            entries.push(Entry(name, 0, 0, 0, 0, 0, 0));
        } else if meta.is_file() {
            let nanos = |s: i64, ns: i64| s.saturating_mul(1_000_000_000).saturating_add(ns);
            entries.push(Entry(
                name,
                meta.size(),
                meta.mtime(),
                nanos(meta.mtime(), meta.mtime_nsec()),
                meta.ctime(),
                nanos(meta.ctime(), meta.ctime_nsec()),
                meta.ino(),
            ));
        } else {
            return None;
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Some(entries)
}

#[cfg(not(unix))]
fn list(_dir: &Path) -> Option<Vec<Entry>> {
    None
}

/// Checks the migrations in `dir` (shown as `display`) as `dialect`, without `--strict`: with
/// `use_cache`, through the cache under `root` when it is still true, else by reading every file
/// (and caching the verdict).
pub fn checked(
    root: &Path,
    dir: &Path,
    display: &Path,
    dialect: Dialect,
    use_cache: bool,
) -> Result<Checked, ScanError> {
    let cache = use_cache.then(|| Cache::new(root, dir, display, dialect)).flatten();
    let cache = cache.as_ref();
    if let Some(hit) = cache.and_then(|c| c.lookup(dir)) {
        return Ok(hit);
    }
    // Only where the cache can be written: the listing stats every entry once more.
    let snapshot = cache.filter(|c| c.writable()).and_then(|_| {
        let since = now_secs();
        list(dir).map(|entries| Snapshot { since, entries })
    });
    let read = MigrationDir::read(dir, display)?;
    let report = check_as(&read, false, dialect);
    let checked = Checked::of(read, report);
    if let (Some(cache), Some(snapshot)) = (cache, snapshot) {
        cache.store(snapshot, &checked);
    }
    Ok(checked)
}

/// Whether this run may trust the cache: not with `--no-cache`, and not in CI (`CI` set, as
/// every CI service does), where every file is hashed.
pub fn allowed(no_cache: bool) -> bool {
    !no_cache && std::env::var_os("CI").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_modified_in_or_after_the_reading_second_is_racy() {
        let e = |m, c| Entry("0001_a.sql".into(), 1, m, 0, c, 0, 1);
        assert!(!e(99, 99).racy(100));
        assert!(e(100, 99).racy(100));
        assert!(e(99, 101).racy(100));
    }
}
