//! What the runtime does around migrating at start-up: the waits it announces on stderr, keeping
//! other instances out while it migrates (`InUse`; SQLite's locks here, PostgreSQL's sessions in
//! `pg_start`), the backup it takes once per version and prunes to `backup_keep`, the command
//! that restores it, and the audit line of a protected environment.

use super::{BackupPolicy, Error, InUse};
use crate::db::backup::{self, BackupFile};
use crate::db::{DbError, lock};
use crate::environment::Environment;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The application's name as an operator types it (the executable's file name).
pub fn app_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "myapp".into())
}

/// Says once on stderr what the start-up waits for.
fn say_waiting(what: &str) -> impl FnMut(&Path) + '_ {
    move |path| say_waiting_on(what, &path.display().to_string())
}

/// What the start-up waits for, on stderr, naming the database (a path, or a redacted URL).
pub fn say_waiting_on(what: &str, database: &str) {
    eprintln!("envdb: waiting for {what} ({database})");
}

/// What a start waits for while older instances hold the database (`InUse::Wait`).
pub const OLDER_INSTANCES: &str = "the other instances of the application to stop before migrating";

fn holders(db: &Path) -> String {
    match lock::app_holders(db) {
        h if h.is_empty() => String::new(),
        h => format!(" ({})", h.join(", ")),
    }
}

/// The shared application lock, waiting up to `timeout` for an upgrade or restore that holds it.
pub fn app_lock(db: &Path, timeout: Duration) -> Result<lock::Held, Error> {
    let mut say = say_waiting("an upgrade or restore that holds the database to finish");
    match lock::app_lock_within(db, false, timeout, &mut say).map_err(DbError::from)? {
        Some(held) => Ok(held),
        None => Err(Error::Locked { database: db.display().to_string(), waited: timeout, holders: holders(db) }),
    }
}

/// The run lock, waiting up to `timeout` for another instance's migration.
pub fn run_lock(db: &Path, timeout: Duration) -> Result<lock::Held, Error> {
    let mut say = say_waiting("another instance's migration to finish");
    lock::run_lock(db, timeout, &mut say).map_err(|e| match e {
        lock::LockError::Timeout { waited, .. } => {
            Error::Locked { database: db.display().to_string(), waited, holders: String::new() }
        }
        e => Error::Db(e.into()),
    })
}

/// The application lock while migrating: exclusive (other instances stopped) unless `in_use`
/// lets the migration run beside them.
pub fn migrating_lock(db: &Path, in_use: InUse, code: u64) -> Result<lock::Held, Error> {
    let wait = match in_use {
        InUse::Proceed => return Ok(lock::app_lock(db).map_err(DbError::from)?),
        InUse::Refuse => Duration::ZERO,
        InUse::Wait(wait) => wait,
    };
    let mut say = say_waiting(OLDER_INSTANCES);
    match lock::app_lock_within(db, true, wait, &mut say).map_err(DbError::from)? {
        Some(held) => Ok(held),
        None => {
            let database = db.display().to_string();
            Err(Error::InUse { database, waited: wait, code, holders: holders(db), app: app_name() })
        }
    }
}

/// Whether `open_env` backs `env`'s database up before migrating it under `policy`.
pub fn wants_backup(env: &Environment, policy: BackupPolicy) -> bool {
    match policy {
        BackupPolicy::Always => true,
        BackupPolicy::Protected => env.protected(),
        BackupPolicy::Never => false,
    }
}

/// The last modification of the database (its WAL included).
fn modified(db: &Path) -> Option<SystemTime> {
    let wal = crate::db::companion(db, "-wal");
    [db, wal.as_path()].iter().filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).max()
}

/// A backup of `env`'s database at `version` taken since the database last changed (an earlier
/// start whose migration failed): taking another would be the same copy again.
fn reusable(list: &[BackupFile], db: &Path, version: u64) -> Option<PathBuf> {
    let changed = modified(db)?;
    list.iter()
        .rev()
        .filter(|b| b.complete && !b.replaced && b.version == Some(version))
        .find(|b| b.modified.is_some_and(|m| m >= changed))
        .map(|b| b.path.clone())
}

/// The backup before migrating `env`'s database at `version`: one per version (a restart after a
/// failed migration reuses the copy it took), then pruned to `backup_keep`.
pub fn backup_before(env: &Environment, db: &Path, version: u64, busy: Duration) -> Result<PathBuf, Error> {
    let dir = backup::dir(&env.spec.data_dir);
    let list = backup::list(&dir, db, env.name()).unwrap_or_default();
    if let Some(existing) = reusable(&list, db, version) {
        return Ok(existing);
    }
    let copy = backup::BackupOptions::default();
    let made = backup::backup_database(db, env.name(), &dir, None, copy, busy, &mut |_, _| {})?;
    keep_newest(env, &|dir| backup::list(dir, db, env.name()), &made.path);
    Ok(made.path)
}

/// Prunes `env`'s backups (as `list` reads them from its backups directory) to `backup_keep`,
/// never removing `made`, the one just taken. Best effort: a backup that cannot be removed
/// stays, and `prune` reports it.
pub fn keep_newest(env: &Environment, list: &dyn Fn(&Path) -> std::io::Result<Vec<BackupFile>>, made: &Path) {
    let Some(keep) = env.spec.backup_keep else { return };
    let mut list = list(&backup::dir(&env.spec.data_dir)).unwrap_or_default();
    backup::verify_newest(&mut list, (keep as usize).max(1));
    for path in backup::prune_plan(&list, Some(keep as usize), None, SystemTime::now()) {
        if path != made {
            let _ = backup::remove_backup(&path);
        }
    }
}

/// The command that restores `backup` over `env`'s database: the application's own (`myapp db
/// restore`, feature `app-cli`), with the source checkout's as the alternative.
pub fn restore_command(env: &Environment, backup: &Path) -> String {
    let confirm = if env.protected() { format!(" --confirm {}", env.name()) } else { String::new() };
    let args = format!("restore {} --env {}{confirm}", backup.display(), env.name());
    format!("`{} db {args}` (from a source checkout: `cargo envdb {args}`)", app_name())
}

/// Runs `body` on `state` (a migration of `env`'s database from `before`); for a protected
/// environment, appends the outcome to its audit log, as the command line does, with the version
/// `after` reads from `state` once it ran.
pub fn audited<S, T>(
    env: Option<&Environment>,
    before: u64,
    state: &mut S,
    after: impl FnOnce(&mut S) -> u64,
    body: impl FnOnce(&mut S) -> Result<T, Error>,
) -> Result<T, Error> {
    let Some(env) = env.filter(|e| e.protected()) else { return body(state) };
    let result = body(state);
    let error = result.as_ref().err().map(ToString::to_string);
    crate::db::audit::append(env, before, after(state), error.as_deref())
        .map_err(|source| Error::Audit { path: crate::db::audit::path(env), source })?;
    result
}
