//! What a host application calls: one call that opens its database up to date, with the
//! application's shared lock held for as long as the handle lives.
//!
//! ```ignore
//! static MIGRATIONS: envdb::Migrations = envdb::embedded!();
//!
//! let env = envdb::Environment::resolve(&MIGRATIONS, cli_env_flag)?; // same order as the CLI
//! let db = envdb::Db::open_env(&env, &MIGRATIONS)?;                  // migrated, lock held
//! db.conn().execute("INSERT INTO tasks (title) VALUES (?1)", ["write docs"])?;
//! println!("{}", db.version_info());                                 // for `myapp version -v`
//! ```

use crate::db::apply::{self, MigrateOptions, MigrateReport};
use crate::db::{self, DbError, OpenOptions, history, lock};
use crate::embedded::Migrations;
use crate::environment::{Environment, ResolveError};
use crate::plan;
use rusqlite::Connection;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `open` does when the database is behind the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Apply pending migrations (each atomic) before returning.
    #[default]
    Migrate,
    /// Return `Error::Behind` and change nothing (an operator runs `cargo envdb upgrade`).
    RefuseBehind,
}

/// When `open_env` backs the database up before applying migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackupPolicy {
    /// Before migrating a protected environment (prod).
    #[default]
    Protected,
    /// Before migrating any environment.
    Always,
    Never,
}

/// How to open.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub policy: Policy,
    /// Backups before automatic migrations (`open_env` only).
    pub backup: BackupPolicy,
    /// How long a statement waits for another connection's write lock.
    pub busy_timeout: Duration,
    /// How long to wait for another process that is migrating the same database.
    pub lock_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: Policy::Migrate,
            backup: BackupPolicy::Protected,
            busy_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Environment(#[from] ResolveError),
    #[error("backing up before migrating failed, so nothing was migrated: {0}")]
    Backup(#[from] crate::db::backup::BackupError),
    #[error(
        "the database {} is at version {database} but this build expects {code} ({pending} pending)\n  help: run `cargo envdb upgrade` (it backs up first), then start the application again",
        .path.display()
    )]
    Behind { path: PathBuf, database: u64, code: u64, pending: usize },
}

/// An open database, up to date with the migrations the binary was built with.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    environment: Option<Environment>,
    migrated: MigrateReport,
    backup: Option<PathBuf>,
    code_version: u64,
    _app_lock: lock::Held,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>, migrations: &Migrations) -> Result<Db, Error> {
        Db::open_with(path, migrations, Options::default())
    }

    /// Opens the database of an environment: refused when the file belongs to another
    /// environment; the environment is recorded in a new database.
    pub fn open_env(env: &Environment, migrations: &Migrations) -> Result<Db, Error> {
        Db::open_env_with(env, migrations, Options::default())
    }

    pub fn open_env_with(env: &Environment, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        Db::open_inner(env.database(), Some(env), migrations, opts)
    }

    pub fn open_with(path: impl AsRef<Path>, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        Db::open_inner(path.as_ref(), None, migrations, opts)
    }

    fn open_inner(path: &Path, env: Option<&Environment>, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        let list = migrations.to_vec();
        let code_version = migrations.latest();
        let created = !path.exists();
        if created && opts.policy == Policy::RefuseBehind && code_version > 0 {
            // Nothing to open, and creating it would be migrating.
            let pending = list.len();
            return Err(Error::Behind { path: path.to_owned(), database: 0, code: code_version, pending });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
        }
        let app_lock = lock::app_lock(path).map_err(DbError::from)?;
        let conn = db::open(path, OpenOptions { busy_timeout: opts.busy_timeout, ..OpenOptions::default() })?;
        if let Some(env) = env {
            db::check_environment(&conn, path, env.name())?;
        }
        // Up to date is one read of the history, compared with the embedded checksums: any drift
        // is refused even when the versions agree.
        let applied = history::read(&conn).map_err(|e| DbError::sqlite(path, e, opts.busy_timeout))?;
        let current = applied.last().map_or(0, |a| a.version);
        let pending = plan::pending(&list, &applied, None)
            .map_err(|error| DbError::Plan { database: path.display().to_string(), error })?;
        let mut migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
        let mut backup = None;
        if !pending.is_empty() {
            if opts.policy == Policy::RefuseBehind {
                let pending = pending.len();
                return Err(Error::Behind { path: path.to_owned(), database: current, code: code_version, pending });
            }
            let _run = lock::run_lock(path, opts.lock_timeout, &mut |_| {}).map_err(DbError::from)?;
            if let Some(env) = env {
                let wanted = match opts.backup {
                    BackupPolicy::Always => true,
                    BackupPolicy::Protected => env.protected(),
                    BackupPolicy::Never => false,
                };
                if wanted && current > 0 {
                    let dir = crate::db::backup::dir(&env.spec.data_dir);
                    let copy = crate::db::backup::BackupOptions::default();
                    backup = Some(
                        crate::db::backup::backup_database(
                            path,
                            env.name(),
                            &dir,
                            None,
                            copy,
                            opts.busy_timeout,
                            &mut |_, _| {},
                        )?
                        .path,
                    );
                }
            }
            let run_opts = MigrateOptions {
                environment: env.map(|e| e.name().to_owned()),
                project: env.map(|e| e.spec.project.clone()),
                ..MigrateOptions::default()
            };
            match apply::migrate(&conn, path, &list, &run_opts, opts.busy_timeout, &mut |_| {}) {
                Ok(report) => migrated = report,
                Err(e) => {
                    // A database this call created and could not bring past version 0 goes again,
                    // but only when no other process of the application can have it open.
                    if created && history::latest(&conn).unwrap_or(1) == 0 && app_lock.try_exclusive() {
                        drop(conn);
                        db::remove_database(path);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(Db {
            conn,
            path: path.to_owned(),
            environment: env.cloned(),
            migrated,
            backup,
            code_version,
            _app_lock: app_lock,
        })
    }

    /// The connection. Keep the `Db` alive as long as you use it: it holds the application lock.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backup `open_env` took before migrating, if it took one.
    pub fn backup(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// What `open` applied (empty when the database was already up to date).
    pub fn migrated(&self) -> &MigrateReport {
        &self.migrated
    }

    /// The facts a host prints for `myapp version -v`.
    pub fn version_info(&self) -> VersionInfo {
        let database_version = history::latest(&self.conn).unwrap_or(self.migrated.after);
        VersionInfo {
            envdb_version: crate::VERSION,
            code_schema_version: self.code_version,
            database_schema_version: database_version,
            pending: self.code_version.saturating_sub(database_version),
            database: self.path.clone(),
            environment: self.environment.as_ref().map(|e| (e.name().to_owned(), e.chosen_by.to_string())),
        }
    }
}

/// Versions of the tool, of the schema the code expects, and of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub envdb_version: &'static str,
    pub code_schema_version: u64,
    pub database_schema_version: u64,
    pub pending: u64,
    pub database: PathBuf,
    /// The environment's name and how it was chosen, when opened with `open_env`.
    pub environment: Option<(String, String)>,
}

impl fmt::Display for VersionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "envdb:                   {}", self.envdb_version)?;
        if let Some((name, chosen_by)) = &self.environment {
            writeln!(f, "environment:             {name} (chosen by {chosen_by})")?;
        }
        writeln!(f, "schema version (code):   {}", self.code_schema_version)?;
        writeln!(f, "schema version (db):     {}", self.database_schema_version)?;
        writeln!(f, "pending migrations:      {}", self.pending)?;
        write!(f, "database:                {}", self.database.display())
    }
}
