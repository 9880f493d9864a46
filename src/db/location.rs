//! Where a database lives, and the one place that picks the backend for it: a SQLite file, or
//! (feature `postgres`) a database on a PostgreSQL server. Commands and the runtime hold a
//! `Location` and get a [`Database`] from it; they never look at which backend it is.

use super::backend::Database;
use super::backup::options::DumpOptions;
use super::backup::{BackupError, BackupOptions, Made};
use super::schema::{Object, ReplayError};
use super::sqlite::Sqlite;
use super::{DbError, OpenOptions, lock};
use crate::embedded::Migration;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database, by where it lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite database file.
    File(PathBuf),
    /// A database on a PostgreSQL server.
    #[cfg(feature = "postgres")]
    Server { url: Box<crate::db_url::DbUrl>, opts: super::postgres::PgOptions },
}

/// The exclusive run lock of a database, released on drop.
pub struct RunLock {
    _held: Box<dyn std::any::Any>,
}

impl Location {
    /// Where an environment's database lives: at its `url` (or `--database-url`), else in its file.
    pub fn of(env: &crate::environment::Environment) -> Location {
        Location::of_spec(&env.spec)
    }

    /// [`Location::of`] for an environment's definition; a `url` that cannot be resolved here
    /// (an unset `${VAR}`) is the caller's to report.
    pub fn of_spec(spec: &crate::environment::EnvSpec) -> Location {
        #[cfg(feature = "postgres")]
        if let Some(Ok(url)) = &spec.url {
            return Location::Server { url: Box::new(url.clone()), opts: (&spec.postgres).into() };
        }
        Location::File(spec.database.clone())
    }

    /// Bounds the time a connection to a server may take (`env` lists every environment and
    /// must not wait ten seconds for each unreachable one).
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables, reason = "a file has no connect timeout"))]
    pub fn with_connect_timeout(self, timeout: Duration) -> Location {
        match self {
            #[cfg(feature = "postgres")]
            Location::Server { url, mut opts } => {
                opts.connect_timeout = timeout;
                Location::Server { url, opts }
            }
            other => other,
        }
    }

    /// The database as messages name it: its path, or its URL without the password.
    pub fn label(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
            #[cfg(feature = "postgres")]
            Location::Server { url, .. } => url.redacted(),
        }
    }

    /// The file, for what only a SQLite database has (file backups, the application lock file).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            #[cfg(feature = "postgres")]
            Location::Server { .. } => None,
        }
    }

    /// The name the database's backups start with: a file's stem, a server database's name.
    pub fn backup_stem(&self) -> String {
        match self {
            Location::File(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => {
                super::postgres::connect::target(url.expose_secret(), "", opts.connect_timeout)
                    .ok()
                    .and_then(|t| t.config.get_dbname().map(str::to_owned))
                    .unwrap_or_default()
            }
        }
    }

    /// Backs the database of environment `env` up, verified, to `dest` or a new name in
    /// `backups`: a SQLite file's copy (`opts`), or a server database's `pg_dump` archive
    /// (`dump`). An option of the other backend is refused before anything is written.
    pub fn backup(
        &self,
        env: &str,
        backups: &Path,
        dest: Option<&Path>,
        opts: BackupOptions,
        dump: DumpOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Made, BackupError> {
        match self {
            Location::File(path) => {
                if dump != DumpOptions::default() {
                    return Err(BackupError::Unsupported(format!(
                        "{} is a SQLite file: --dump-format, --schema-only, --data-only, --jobs and --verify-restore are for a PostgreSQL database (a SQLite backup is a verified copy of the whole file)",
                        path.display()
                    )));
                }
                super::backup::backup_database(path, env, backups, dest, opts, opts.busy_timeout, progress)
            }
            #[cfg(feature = "postgres")]
            Location::Server { url, opts: pg } => {
                if opts.vacuum {
                    return Err(BackupError::Unsupported(format!(
                        "{} is on PostgreSQL: --vacuum is for a SQLite file (pg_dump's custom format is compressed already)",
                        url.redacted()
                    )));
                }
                super::postgres::dump::backup(url, pg, env, backups, dest, dump)
            }
        }
    }

    /// The databases restores left beside this one on its server (replaced ones, interrupted
    /// builds), as entries of its backups list; none for a file (a restore keeps the replaced
    /// file in the backups directory, listed there).
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables, reason = "a file has none"))]
    pub fn restore_leftovers(&self, env: &str) -> Result<Vec<super::backup::BackupFile>, BackupError> {
        match self {
            Location::File(_) => Ok(Vec::new()),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => Ok(super::postgres::swap::leftovers(url, opts)?
                .into_iter()
                .map(|(name, replaced)| super::backup::leftover_database(&name, replaced, env))
                .collect()),
        }
    }

    /// What a server archive records about itself (environment, project, history), read
    /// before anything changes.
    #[cfg(feature = "postgres")]
    pub fn archive_identity(&self, file: &Path) -> Result<super::postgres::archive::Contents, BackupError> {
        use super::postgres::swap::Archive;
        let (Location::Server { url, opts }, Some(format)) = (self, Archive::format_of(file)) else {
            return Err(BackupError::Unsupported(format!(
                "{} is not a pg_dump archive (.dump, .sql or .dir) of a server database",
                file.display()
            )));
        };
        super::postgres::swap::identity(Archive { path: file, format }, &opts.history_schema, &url.redacted())
    }

    /// Restores a server archive: `--clean` (a new database, verified, swapped in) or `merge`.
    #[cfg(feature = "postgres")]
    pub fn restore_archive(
        &self,
        env: &str,
        file: &Path,
        merge: bool,
        force: bool,
        archive_version: u64,
        status: &mut dyn FnMut(&str, String),
    ) -> Result<super::postgres::swap::Restored, BackupError> {
        use super::postgres::swap::{self, Archive};
        let (Location::Server { url, opts }, Some(format)) = (self, Archive::format_of(file)) else {
            return Err(BackupError::Unsupported(format!("{} is not a pg_dump archive", file.display())));
        };
        let archive = Archive { path: file, format };
        if merge {
            swap::merge(url, opts, env, archive, archive_version)
        } else {
            swap::clean(url, opts, env, archive, force, status)
        }
    }

    /// The sessions of the application `app` (its `application_name`) on a server database,
    /// each named; none for a file (its application holds a lock file instead).
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables, reason = "a file has none"))]
    pub fn app_sessions(&self, app: &str) -> Result<Vec<String>, BackupError> {
        match self {
            Location::File(_) => Ok(Vec::new()),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => super::postgres::swap::app_sessions(url, opts, app),
        }
    }

    /// A new, empty database beside this one, for `reset` to build before it replaces this one:
    /// the file `<db>.reset.partial` (one a killed reset left is removed first), or the server
    /// database `<db>__reset_<ts>`.
    pub fn beside(&self) -> Result<Location, BackupError> {
        match self {
            Location::File(path) => {
                let built = lock::lock_path(path, "reset.partial");
                super::remove_database(&built);
                Ok(Location::File(built))
            }
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => Ok(Location::Server {
                url: Box::new(super::postgres::swap::create_beside(url, opts, "reset")?),
                opts: opts.clone(),
            }),
        }
    }

    /// Removes a database [`Location::beside`] made (best effort).
    pub fn discard(&self) {
        match self {
            Location::File(path) => super::remove_database(path),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => super::postgres::swap::discard(url, opts),
        }
    }

    /// Puts `built` (made by [`Location::beside`]) in place of this database, which is gone
    /// after: one rename of a file, or two renames of server databases in one transaction while
    /// no other session is connected (`force` ends them; returned, named). A failure changes
    /// neither.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables, reason = "a file has none"))]
    pub fn replace_with(&self, built: &Location, force: bool) -> Result<Vec<String>, BackupError> {
        match (self, built) {
            (Location::File(path), Location::File(built)) => {
                super::swap_in(built, path).map_err(|e| super::backup::write_error(path, e))?;
                Ok(Vec::new())
            }
            #[cfg(feature = "postgres")]
            (Location::Server { url, opts }, Location::Server { url: built, .. }) => {
                super::postgres::swap::replace_with(url, opts, built, force)
            }
            #[cfg(feature = "postgres")]
            _ => Err(BackupError::Unsupported(format!(
                "{} and {} are of different backends",
                self.label(),
                built.label()
            ))),
        }
    }

    /// Drops a database [`Location::restore_leftovers`] listed.
    pub fn drop_leftover(&self, name: &str) -> Result<(), BackupError> {
        match self {
            Location::File(path) => Err(BackupError::Unsupported(format!(
                "{} is a file: {name} is not a database on a server",
                path.display()
            ))),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => super::postgres::swap::drop_leftover(url, opts, name),
        }
    }

    /// Whether the database exists (a server that cannot be reached is taken to have it, so
    /// that opening it says what is wrong).
    pub fn exists(&self) -> bool {
        match self {
            Location::File(path) => path.exists(),
            #[cfg(feature = "postgres")]
            Location::Server { .. } => {
                !matches!(self.open_server(), Err(DbError::Postgres(e)) if e.is_missing_database())
            }
        }
    }

    /// Whether opening creates the database (a file does, in its data directory); a server
    /// database is created by [`Location::create`], which a protected environment must ask for.
    pub fn created_on_open(&self) -> bool {
        self.file().is_some()
    }

    /// Creates the database when missing; says whether it did.
    pub fn create(&self) -> Result<bool, DbError> {
        match self {
            Location::File(_) => Ok(false),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => {
                super::postgres::ensure_database(url.expose_secret(), &url.redacted(), opts)
            }
        }
    }

    /// Opens it; `opts.create` creates it when missing.
    pub fn open(&self, opts: OpenOptions) -> Result<Box<dyn Database>, DbError> {
        match self {
            Location::File(path) => Ok(Box::new(Sqlite::open(path, opts)?)),
            #[cfg(feature = "postgres")]
            // Created only when opening finds it missing: the usual case is one connection, not
            // one to a maintenance database first.
            Location::Server { .. } => match self.open_server() {
                Err(DbError::Postgres(e)) if opts.create && e.is_missing_database() => {
                    self.create()?;
                    Ok(Box::new(self.open_server()?))
                }
                opened => Ok(Box::new(opened?)),
            },
        }
    }

    /// Opens it when it exists (one connection on a server); `None` when it does not.
    pub fn open_existing(&self, opts: OpenOptions) -> Result<Option<Box<dyn Database>>, DbError> {
        let opts = OpenOptions { create: false, ..opts };
        match self.open(opts) {
            Ok(db) => Ok(Some(db)),
            Err(DbError::Missing(_)) => Ok(None),
            #[cfg(feature = "postgres")]
            Err(DbError::Postgres(e)) if e.is_missing_database() => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[cfg(feature = "postgres")]
    fn open_server(&self) -> Result<super::postgres::Postgres, DbError> {
        match self {
            Location::Server { url, opts } => {
                super::postgres::Postgres::connect(url.expose_secret(), url.redacted(), opts.clone())
            }
            Location::File(_) => unreachable!("open_server is called on server locations only"),
        }
    }

    /// Keeps applications out while the returned lock lives, when none holds a database file
    /// now (`None` when one does; always `None` on a server, whose sessions envdb does not lock).
    pub fn keep_apps_out(&self) -> Result<Option<lock::Held>, DbError> {
        match self.file() {
            Some(path) => Ok(lock::try_exclusive_app_lock(path)?),
            None => Ok(None),
        }
    }

    /// Whether an application holds a database file open (through the runtime's lock).
    pub fn app_running(&self) -> bool {
        self.file().is_some_and(lock::app_running)
    }

    /// `DATABASE_URL` for a child process (`run`, `test`): `sqlite://<path>`, or the server URL
    /// with its password, which only the child sees.
    pub fn child_url(&self) -> std::ffi::OsString {
        match self {
            Location::File(path) => {
                let mut url = std::ffi::OsString::from("sqlite://");
                url.push(path);
                url
            }
            #[cfg(feature = "postgres")]
            Location::Server { url, .. } => url.expose_secret().into(),
        }
    }

    /// Removes a database this run created and could not migrate past version 0 (best effort).
    /// A server database stays: dropping one takes rights the run may not have, and an empty
    /// database costs nothing.
    pub fn remove_created(&self) {
        match self {
            Location::File(path) => super::remove_database(path),
            #[cfg(feature = "postgres")]
            Location::Server { .. } => {}
        }
    }

    /// Takes the exclusive run lock, waiting up to `timeout`; `on_wait` is told once what it
    /// waits for.
    pub fn run_lock(&self, timeout: Duration, on_wait: &mut dyn FnMut(&str)) -> Result<RunLock, DbError> {
        match self {
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
                }
                let held = lock::run_lock(path, timeout, &mut |p| {
                    on_wait(&format!("another envdb run to release {}", p.display()))
                })?;
                Ok(RunLock { _held: Box::new(held) })
            }
            #[cfg(feature = "postgres")]
            Location::Server { .. } => {
                let held = self.open_server()?.into_run_lock(timeout, on_wait)?;
                Ok(RunLock { _held: Box::new(held) })
            }
        }
    }

    /// The schema `migrations` (up to `upto`) produce on an empty database of the same backend,
    /// never this one: SQLite's in-memory sandbox, or a scratch database on the same server,
    /// always dropped.
    pub fn replay(
        &self,
        migrations: &[Migration<'_>],
        upto: Option<u64>,
        progress: &mut dyn FnMut(super::apply::Progress<'_>),
    ) -> Result<Vec<Object>, ReplayError> {
        match self {
            Location::File(_) => super::schema::of_migrations(migrations, upto, progress),
            #[cfg(feature = "postgres")]
            Location::Server { url, opts } => super::postgres::replay(url, opts, migrations, upto, progress),
        }
    }

    /// What differs between two schemas of this backend, one readable line each.
    pub fn diff(&self, actual: &[Object], expected: &[Object]) -> Vec<String> {
        match self {
            Location::File(_) => super::schema::diff(actual, expected),
            #[cfg(feature = "postgres")]
            Location::Server { .. } => super::postgres::catalog::diff(actual, expected),
        }
    }
}
