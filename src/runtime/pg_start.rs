//! What `PgDb` does around migrating at start-up on PostgreSQL, under the run lock's lease: the
//! older instances it waits for (`InUse`: the sessions named as the application is, other than
//! starting ones), and the `pg_dump` backup it takes once per version and prunes to
//! `backup_keep`. Which backup a failed start took is noted in `envdb_meta` (`runtime_backup`),
//! so that the next start at the same version reuses it instead of taking another copy.

use super::startup::{self, OLDER_INSTANCES, app_name, say_waiting_on};
use super::{Error, InUse};
use crate::db::backend::Database as _;
use crate::db::backup::options::DumpOptions;
use crate::db::backup::{self, BackupOptions};
use crate::db::location::Location;
use crate::db::postgres::Postgres;
use crate::environment::Environment;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `envdb_meta` key naming the backup a start took before a migration that has not yet
/// succeeded: `v<version> <file name>`.
const BACKUP_KEY: &str = "runtime_backup";

/// How often the sessions of older instances are looked at again while waiting for them.
const POLL: Duration = Duration::from_millis(200);

/// Waits (as `in_use` says) until no other session is named `app`: the older instances of the
/// application. Refused with `Error::InUse`, naming them, when they stay.
pub fn older_instances_gone(db: &mut Postgres, label: &str, app: &str, in_use: InUse, code: u64) -> Result<(), Error> {
    let wait = match in_use {
        InUse::Proceed => return Ok(()),
        InUse::Refuse => Duration::ZERO,
        InUse::Wait(wait) => wait,
    };
    let start = Instant::now();
    let mut told = false;
    loop {
        let found = db.sessions_named(app)?;
        if found.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= wait {
            let holders = format!(" ({})", found.join("; "));
            return Err(Error::InUse { database: label.to_owned(), waited: wait, code, holders, app: app_name() });
        }
        if !told {
            say_waiting_on(OLDER_INSTANCES, label);
            told = true;
        }
        std::thread::sleep(POLL.min(wait.saturating_sub(start.elapsed())));
    }
}

/// The backup before migrating `env`'s database (`at`, open as `db`) from `version`: the one a
/// failed start at the same version took when `reuse` allows (its checksum re-read), else a new
/// verified `pg_dump` archive, then pruned to `backup_keep`. Noted in `envdb_meta` until
/// [`migrated`] clears it.
pub fn backup_before(
    env: &Environment,
    at: &Location,
    db: &mut Postgres,
    version: u64,
    reuse: bool,
) -> Result<PathBuf, Error> {
    let dir = backup::dir(&env.spec.data_dir);
    let stem = at.backup_stem();
    let list = |dir: &Path| backup::list_of(dir, &stem, None, env.name());
    let noted = db.meta(BACKUP_KEY)?;
    let reused = noted.filter(|_| reuse).and_then(|n| reusable(&n, &dir, version, &list));
    let path = match reused {
        Some(path) => path,
        None => {
            let (file, dump) = (BackupOptions::default(), DumpOptions::default());
            let made = at.backup(env.name(), &dir, None, file, dump, &mut |_, _| {})?;
            startup::keep_newest(env, &list, &made.path);
            made.path
        }
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    db.set_meta(BACKUP_KEY, Some(&format!("v{version} {name}")))?;
    Ok(path)
}

/// The backup `noted` names, when it is of `version`, complete and its checksum matches.
fn reusable(
    noted: &str,
    dir: &Path,
    version: u64,
    list: &dyn Fn(&Path) -> std::io::Result<Vec<backup::BackupFile>>,
) -> Option<PathBuf> {
    let (v, name) = noted.split_once(' ')?;
    if v != format!("v{version}") {
        return None;
    }
    let path = dir.join(name);
    let mut found = list(dir).ok()?;
    let b = found.iter_mut().find(|b| b.path == path && b.complete && !b.replaced && b.version == Some(version))?;
    b.verify();
    b.verified().then_some(path)
}

/// The migration succeeded: the next failure takes a backup of its own version. Best effort
/// (the note names another version from now on).
pub fn migrated(db: &mut Postgres) {
    let _ = db.set_meta(BACKUP_KEY, None);
}
