//! `Db`: the runtime on a SQLite file, with the application's shared lock held while it lives.

use super::{BackupPolicy, Error, Options, Policy, VersionInfo, to_apply};
use crate::db::apply::{self, MigrateOptions, MigrateReport};
use crate::db::{self, DbError, OpenOptions, history, lock};
use crate::embedded::Migrations;
use crate::environment::Environment;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

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
    /// environment; the environment is recorded in a new database. An environment on a
    /// PostgreSQL server (with a `url`) is refused: `PgDb` opens those.
    pub fn open_env(env: &Environment, migrations: &Migrations) -> Result<Db, Error> {
        Db::open_env_with(env, migrations, Options::default())
    }

    pub fn open_env_with(env: &Environment, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        super::refuse_in_test_run(env)?;
        if let Some(url) = &env.spec.url {
            let url = url.as_ref().map_or_else(|_| String::from("its url cannot be resolved here"), |u| u.redacted());
            return Err(Error::ServerEnvironment { env: env.name().to_owned(), url });
        }
        Db::open_inner(env.database(), Some(env), migrations, opts)
    }

    pub fn open_with(path: impl AsRef<Path>, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        Db::open_inner(path.as_ref(), None, migrations, opts)
    }

    fn open_inner(path: &Path, env: Option<&Environment>, migrations: &Migrations, opts: Options) -> Result<Db, Error> {
        let list = migrations.to_vec();
        let code_version = migrations.latest();
        let at = path.display().to_string();
        let created = !path.exists();
        if created && opts.policy == Policy::RefuseBehind && code_version > 0 {
            // Nothing to open, and creating it would be migrating.
            return Err(Error::Behind { at, database: 0, code: code_version, pending: list.len() });
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
        let pending = to_apply(&list, &applied, &at, opts.policy)?;
        let mut migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
        let mut backup = None;
        if !pending.is_empty() {
            let _run = lock::run_lock(path, opts.lock_timeout, &mut |_| {}).map_err(DbError::from)?;
            if let Some(env) = env
                && wants_backup(env, opts.backup)
                && current > 0
            {
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
        let env = self.environment.as_ref();
        VersionInfo::new(self.code_version, database_version, self.path.display().to_string(), env)
    }
}

/// Whether `open_env` backs `env`'s database up before migrating it under `policy`.
fn wants_backup(env: &Environment, policy: BackupPolicy) -> bool {
    match policy {
        BackupPolicy::Always => true,
        BackupPolicy::Protected => env.protected(),
        BackupPolicy::Never => false,
    }
}
