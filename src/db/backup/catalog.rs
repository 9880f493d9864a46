//! The backups of one database: what each file in its backups directory is (a backup, a
//! database a restore replaced, an interrupted copy, a checksum file left without its backup),
//! how far it can be trusted, and which files a pruning rule removes.

use super::integrity;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A finished backup, under a backup name.
    Backup,
    /// The database a restore replaced, kept as it was (never verified: it may be why you restored).
    Replaced,
    /// The hidden partial file of a backup being written, or interrupted.
    Partial,
    /// The partial copy a restore writes beside the database before it swaps it in.
    RestorePartial,
    /// A checksum or row counts file whose backup is not there (the backup was interrupted, or
    /// removed by hand).
    OrphanChecksum,
    /// A server database a restore replaced, kept on the server as `<db>__replaced_<ts>`.
    ReplacedDatabase,
    /// The half-built database of an interrupted restore, `<db>__restore_<ts>`.
    RestoreDatabase,
}

/// How far a file can be trusted, as far as this run looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Its checksum was re-read in this run and matches the one recorded when it was made.
    Verified,
    /// Its header agrees with its size and it has a checksum, not re-read in this run.
    Checked,
    /// No checksum was recorded (made before envdb recorded them, or copied without it): never
    /// counted as verified.
    Unverified,
    /// Fails a check; `problem` says which.
    Damaged,
    /// A database a restore replaced.
    Replaced,
    /// Left by a run that no longer runs: `prune` removes it.
    Interrupted,
    /// Its writer still runs: never pruned.
    InProgress,
}

/// One file of a database's backups and what is known about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupFile {
    pub path: PathBuf,
    pub kind: Kind,
    pub state: State,
    /// Why it is damaged, or cannot be verified.
    pub problem: Option<String>,
    pub environment: String,
    /// `YYYYMMDDTHHMMSSZ`, UTC; sorts like time. A restore's partial file has its file time.
    pub timestamp: String,
    /// The schema version its name records (none for a restore's partial file).
    pub version: Option<u64>,
    pub size: u64,
    /// The SHA-256 recorded beside it when it was made.
    pub checksum: Option<String>,
    /// False for partial files and checksum files without their backup.
    pub complete: bool,
    pub replaced: bool,
    pub in_progress: bool,
    /// When the file was written (what `--older-than` measures).
    #[serde(skip)]
    pub modified: Option<SystemTime>,
}

impl BackupFile {
    /// Verified in this run: the only backups `restore latest`, `prune` and `backup_keep` rely on.
    pub fn verified(&self) -> bool {
        self.state == State::Verified
    }

    /// Re-reads the file against its recorded checksum: `Verified`, or `Damaged` with why.
    pub fn verify(&mut self) {
        let Some(sum) = self.checksum.as_deref().filter(|_| self.state == State::Checked) else { return };
        match integrity::matches(&self.path, sum) {
            Ok(()) => self.state = State::Verified,
            Err(why) => {
                self.state = State::Damaged;
                self.problem = Some(why);
            }
        }
    }
}

/// Re-reads the checksums of the newest checked backups, newest first, until `want` of them
/// verify; those that do not are marked damaged. Older ones stay `Checked` (not read): the cost
/// is what the caller relies on, not the whole directory.
pub fn verify_newest(list: &mut [BackupFile], want: usize) {
    let mut found = 0;
    for b in list.iter_mut().rev() {
        if found >= want {
            break;
        }
        b.verify();
        found += usize::from(b.verified());
    }
}

/// What a backup file's name says.
struct Parsed {
    stem: String,
    env: String,
    timestamp: String,
    version: u64,
    /// The finished backup's file name (for a partial file, the name it will take).
    name: String,
    /// `None` for a finished file; the writer's process id for a partial one.
    partial_pid: Option<Option<u32>>,
    replaced: bool,
}

/// What is inside `.<inner>.partial`, or inside the `-wal`, `-shm` or `-journal` SQLite may have
/// left beside such a file (earlier versions switched a WAL copy's journal mode with SQLite, and a
/// kill in between left them): each is an interrupted file of its own, listed and pruned.
fn partial_inner(name: &str) -> Option<&str> {
    let name = name.strip_prefix('.')?;
    let name = crate::db::COMPANIONS.iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
    name.strip_suffix(".partial")
}

/// Parses a backup file name; `None` for anything else.
fn parse(path: &Path) -> Option<Parsed> {
    let name = path.file_name()?.to_str()?;
    let (name, partial_pid) = match partial_inner(name) {
        // `.<name>.<pid>.partial`
        Some(inner) => match inner.rsplit_once('.').map(|(n, pid)| (n, pid.parse::<u32>())) {
            Some((n, Ok(pid))) => (n, Some(Some(pid))),
            _ => (inner, Some(None)),
        },
        None => (name, None),
    };
    // A SQLite file (`.db`), or a server database's pg_dump archive (`.dump`, `.sql`, `.dir`).
    let (rest, sqlite) = match name.strip_suffix(".db") {
        Some(rest) => (rest, true),
        None => (name.rsplit_once('.').filter(|(_, e)| super::options::Format::of_extension(e).is_some())?.0, false),
    };
    let (rest, replaced) = match rest.strip_suffix(".replaced").filter(|_| sqlite) {
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
        name: name.to_owned(),
        partial_pid,
        replaced,
    })
}

/// The writer of a restore's partial file beside `database`: `.<db name>.restore.<pid>.partial`.
fn restore_partial_pid(path: &Path, database: &Path) -> Option<Option<u32>> {
    let inner = partial_inner(path.file_name()?.to_str()?)?;
    let (rest, pid) = inner.rsplit_once('.')?;
    (rest.strip_suffix(".restore")? == database.file_name()?.to_str()?).then(|| pid.parse().ok())
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

fn entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(e) => e.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A file of the list, before its checks.
fn file(path: PathBuf, kind: Kind, environment: &str, timestamp: String, version: Option<u64>) -> BackupFile {
    let meta = std::fs::metadata(&path).ok();
    BackupFile {
        size: meta.as_ref().map_or(0, |m| m.len()),
        modified: meta.and_then(|m| m.modified().ok()),
        complete: matches!(kind, Kind::Backup | Kind::Replaced),
        replaced: kind == Kind::Replaced,
        in_progress: false,
        state: State::Interrupted,
        problem: None,
        checksum: None,
        path,
        kind,
        environment: environment.to_owned(),
        timestamp,
        version,
    }
}

/// A database a restore left on a server (`replaced`: the one it replaced; else the one an
/// interrupted restore was building), as a file of the list named by the database.
pub fn leftover_database(name: &str, replaced: bool, environment: &str) -> BackupFile {
    let timestamp = name.rsplit('_').next().unwrap_or_default().to_owned();
    let kind = if replaced { Kind::ReplacedDatabase } else { Kind::RestoreDatabase };
    BackupFile {
        path: PathBuf::from(name),
        kind,
        state: if replaced { State::Replaced } else { State::Interrupted },
        problem: None,
        environment: environment.to_owned(),
        modified: parse_stamp(&timestamp),
        timestamp,
        version: None,
        size: 0,
        checksum: None,
        complete: replaced,
        replaced,
        in_progress: false,
    }
}

/// The moment a `YYYYMMDDTHHMMSSZ` stamp names.
fn parse_stamp(ts: &str) -> Option<SystemTime> {
    let n = |r: std::ops::Range<usize>| ts.get(r)?.parse::<u32>().ok();
    let month = time::Month::try_from(n(4..6)? as u8).ok()?;
    let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8).ok()?;
    let at = time::Time::from_hms(n(9..11)? as u8, n(11..13)? as u8, n(13..15)? as u8).ok()?;
    Some(time::PrimitiveDateTime::new(date, at).assume_utc().into())
}

/// The cheap checks of a finished backup: its header against its size, its checksum file.
fn check(b: &mut BackupFile) {
    let outcome = integrity::check_backup(&b.path).and_then(|()| integrity::recorded(&b.path));
    (b.state, b.problem, b.checksum) = match outcome {
        Ok(Some(sum)) => (State::Checked, None, Some(sum)),
        Ok(None) => (
            State::Unverified,
            Some(
                "no checksum recorded: made before envdb recorded checksums, or copied without its .sha256 file".into(),
            ),
            None,
        ),
        Err(why) => (State::Damaged, Some(why), None),
    };
}

/// The files of `database`'s backups in `env`, oldest first, each with the cheap checks done
/// (header against size, checksum file present): finished backups, databases a restore replaced,
/// partial files of backups in `dir` and of restores beside the database, and checksum files
/// left without their backup. Other databases' backups in the same directory are left out.
pub fn list(dir: &Path, database: &Path, env: &str) -> std::io::Result<Vec<BackupFile>> {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    list_of(dir, &stem, Some(database), env)
}

/// [`list`] by the name backups of the database start with (a file's stem, a server database's
/// name); `database` is the file beside which a restore leaves its partial copy, if any.
pub fn list_of(dir: &Path, stem: &str, database: Option<&Path>, env: &str) -> std::io::Result<Vec<BackupFile>> {
    let mut out = Vec::new();
    let mut sidecars = Vec::new();
    let mut running = Vec::new();
    for path in entries(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(backup) = super::SIDECARS.iter().find_map(|s| name.strip_suffix(s)) {
            sidecars.push((path.clone(), backup.to_owned()));
        }
        let Some(p) = parse(&path).filter(|p| p.env == env && p.stem == stem) else { continue };
        let kind = match (p.partial_pid, p.replaced) {
            (Some(_), _) => Kind::Partial,
            (None, true) => Kind::Replaced,
            (None, false) => Kind::Backup,
        };
        let mut b = file(path, kind, env, p.timestamp, Some(p.version));
        match p.partial_pid {
            Some(pid) if writer_alive(pid, b.modified) => {
                (b.state, b.in_progress) = (State::InProgress, true);
                running.push(p.name);
            }
            Some(_) => {}
            None if p.replaced => b.state = State::Replaced,
            None => check(&mut b),
        }
        out.push(b);
    }
    for (path, backup) in sidecars {
        let Some(p) = parse(Path::new(&backup)).filter(|p| p.env == env && p.stem == stem && p.partial_pid.is_none())
        else {
            continue;
        };
        if dir.join(&backup).exists() {
            continue;
        }
        let mut b = file(path, Kind::OrphanChecksum, env, p.timestamp, Some(p.version));
        // A backup writes these files just before it puts the backup in place.
        if running.contains(&backup) {
            (b.state, b.in_progress) = (State::InProgress, true);
        }
        out.push(b);
    }
    // A killed restore leaves its partial copy beside the database.
    let database = database.unwrap_or(Path::new(""));
    for path in database.parent().filter(|d| !d.as_os_str().is_empty()).map(entries).transpose()?.unwrap_or_default() {
        let Some(pid) = restore_partial_pid(&path, database) else { continue };
        let mut b = file(path, Kind::RestorePartial, env, String::new(), None);
        b.timestamp = b.modified.map(|m| super::stamp(m.into())).unwrap_or_default();
        if writer_alive(pid, b.modified) {
            (b.state, b.in_progress) = (State::InProgress, true);
        }
        out.push(b);
    }
    out.sort_by(|a, b| (&a.timestamp, &a.path).cmp(&(&b.timestamp, &b.path)));
    Ok(out)
}

/// Files to delete, in list order:
/// - verified backups beyond the newest `keep` of them, and/or older than `older_than`, never
///   the newest verified one;
/// - files that are not verified (not re-read, without a checksum, damaged, replaced by a
///   restore) only when a kept verified backup is newer: with `--keep`, once `keep` verified
///   backups are kept and they are older than all of them; with `--older-than`, when they are
///   older. Without a verified backup newer than it, such a file may be the only copy: it stays;
/// - partial files and orphan checksum files whose writer no longer runs.
pub fn prune_plan(
    list: &[BackupFile],
    keep: Option<usize>,
    older_than: Option<Duration>,
    now: SystemTime,
) -> Vec<PathBuf> {
    let cutoff = older_than.and_then(|d| now.checked_sub(d));
    let too_old = |b: &BackupFile| cutoff.is_some_and(|c| b.modified.is_some_and(|m| m <= c));
    let mut doomed = vec![false; list.len()];
    // Verified backups, newest first: the newest always stays.
    let mut kept: Vec<&str> = Vec::new();
    for (n, (i, b)) in list.iter().enumerate().rev().filter(|(_, b)| b.verified()).enumerate() {
        if n == 0 || (keep.is_none_or(|k| n < k) && !too_old(b)) {
            kept.push(&b.timestamp);
        } else {
            doomed[i] = true;
        }
    }
    let (newest_kept, oldest_kept) = (kept.first().copied(), kept.last().copied());
    let quota_full = keep.is_some_and(|k| kept.len() >= k);
    for (i, b) in list.iter().enumerate() {
        doomed[i] |= match b.state {
            State::Interrupted => true,
            State::Checked | State::Unverified | State::Damaged | State::Replaced => {
                let by_keep = quota_full && oldest_kept.is_some_and(|o| b.timestamp.as_str() < o);
                let by_age = too_old(b) && newest_kept.is_some_and(|n| b.timestamp.as_str() < n);
                by_keep || by_age
            }
            State::Verified | State::InProgress => false,
        };
    }
    list.iter().zip(doomed).filter(|(_, d)| *d).map(|(b, _)| b.path.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ts: &str, state: State) -> BackupFile {
        let name = format!("app.dev.{ts}.v1.db");
        let month: u64 = ts[4..6].parse().unwrap();
        let kind = match state {
            State::Interrupted | State::InProgress => Kind::Partial,
            State::Replaced => Kind::Replaced,
            _ => Kind::Backup,
        };
        BackupFile {
            path: PathBuf::from(if kind == Kind::Partial { format!(".{name}.partial") } else { name }),
            kind,
            state,
            problem: None,
            environment: "dev".into(),
            timestamp: ts.into(),
            version: Some(1),
            size: 0,
            checksum: None,
            complete: kind != Kind::Partial,
            replaced: kind == Kind::Replaced,
            in_progress: state == State::InProgress,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + month * 2_600_000)),
        }
    }

    fn names(v: Vec<PathBuf>) -> Vec<String> {
        v.into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    const NOW: Duration = Duration::from_secs(1_800_000_000);

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
        assert!(parse(Path::new("/d/backups/app.dev.20261122T101112Z.v3.db.sha256")).is_none());
        let db = Path::new("/d/app.db");
        assert_eq!(restore_partial_pid(Path::new("/d/.app.db.restore.77.partial"), db), Some(Some(77)));
        assert_eq!(restore_partial_pid(Path::new("/d/.other.db.restore.77.partial"), db), None);
        assert_eq!(restore_partial_pid(Path::new("/d/.app.db.77.partial"), db), None);
        // What SQLite left beside a partial file is a partial file too.
        for suffix in ["-wal", "-shm", "-journal"] {
            let stray = format!("/d/backups/.app.dev.20261122T101112Z.v3.db.4242.partial{suffix}");
            assert_eq!(f(&stray).map(|p| p.4), Some(Some(Some(4242))), "{stray}");
            let stray = format!("/d/.app.db.restore.77.partial{suffix}");
            assert_eq!(restore_partial_pid(Path::new(&stray), db), Some(Some(77)), "{stray}");
        }
        assert!(parse(Path::new("/d/backups/app.dev.20261122T101112Z.v3.db-wal")).is_none());
    }

    #[test]
    fn prune_keeps_the_newest_verified() {
        let list = vec![
            file("20260101T000000Z", State::Verified),
            file("20260201T000000Z", State::Verified),
            file("20260301T000000Z", State::Interrupted),
            file("20260401T000000Z", State::Verified),
        ];
        let now = SystemTime::UNIX_EPOCH + NOW;
        assert_eq!(
            names(prune_plan(&list, Some(1), None, now)),
            [
                "app.dev.20260101T000000Z.v1.db",
                "app.dev.20260201T000000Z.v1.db",
                ".app.dev.20260301T000000Z.v1.db.partial"
            ]
        );
        // Older than a day: everything is, but the newest stays.
        let all_old = prune_plan(&list, None, Some(Duration::from_secs(86_400)), now);
        assert_eq!(all_old.len(), 3);
        assert!(!names(all_old).contains(&"app.dev.20260401T000000Z.v1.db".to_owned()));
        assert_eq!(prune_plan(&list, Some(0), None, now).len(), 3);
    }

    #[test]
    fn prune_never_counts_or_trusts_what_did_not_verify() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        // The newest is damaged: it is not counted, the good one before it stays, and so does it.
        let list = vec![
            file("20260101T000000Z", State::Verified),
            file("20260201T000000Z", State::Verified),
            file("20260301T000000Z", State::Damaged),
        ];
        assert_eq!(names(prune_plan(&list, Some(1), None, now)), ["app.dev.20260101T000000Z.v1.db"]);
        assert_eq!(names(prune_plan(&list, Some(2), None, now)), Vec::<String>::new());
        // Nothing verified: nothing but interrupted files goes, whatever the rule.
        let list = vec![
            file("20260101T000000Z", State::Unverified),
            file("20260201T000000Z", State::Replaced),
            file("20260301T000000Z", State::Damaged),
            file("20260401T000000Z", State::Interrupted),
            file("20260501T000000Z", State::InProgress),
        ];
        let all_old = Some(Duration::from_secs(1));
        assert_eq!(names(prune_plan(&list, Some(0), all_old, now)), [".app.dev.20260401T000000Z.v1.db.partial"]);
        // Unverified files older than the kept verified ones go once the quota is met.
        let list = vec![
            file("20260101T000000Z", State::Unverified),
            file("20260201T000000Z", State::Verified),
            file("20260301T000000Z", State::Replaced),
            file("20260401T000000Z", State::Verified),
        ];
        assert_eq!(names(prune_plan(&list, Some(3), None, now)), Vec::<String>::new());
        assert_eq!(names(prune_plan(&list, Some(2), None, now)), ["app.dev.20260101T000000Z.v1.db"]);
        assert_eq!(
            names(prune_plan(&list, Some(1), None, now)),
            ["app.dev.20260101T000000Z.v1.db", "app.dev.20260201T000000Z.v1.db", "app.dev.20260301T000000Z.v1.db"]
        );
    }
}
