//! `Db`: the runtime on a SQLite file, with the application's shared lock held while it lives.
//!
//! A start with migrations to apply lets go of its shared lock, queues on the run lock (so that
//! instances starting together migrate one after the other), takes the application lock
//! exclusively (`InUse`: older instances still running are waited for, then refused), and only
//! then reads the history again and decides: what to apply, whether to back up (once per
//! version, pruned to `backup_keep`), with an audit line for a protected environment.

use super::{Error, Options, Policy, VersionInfo, startup, to_apply};
use crate::db::apply::{self, MigrateOptions, MigrateReport};
use crate::db::{self, DbError, OpenOptions, history, lock};
use crate::embedded::{Migration, Migrations};
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
    /// Opened read-only because it is behind (`Policy::ReadOnlyBehind`).
    behind: bool,
    /// None for an in-memory database, which no other process can see.
    _app_lock: Option<lock::Held>,
}

/// Applies the pending migrations to a connection the host opened itself (each atomic, drift
/// refused), without locks, backups or environments: for an in-memory database or a connection
/// the host manages. `Db::open` is the safe way to open a file.
pub fn migrate(conn: &mut Connection, migrations: &Migrations) -> Result<MigrateReport, Error> {
    let path = PathBuf::from(conn.path().filter(|p| !p.is_empty()).unwrap_or(":memory:"));
    let list = migrations.to_vec();
    let busy = Options::default().busy_timeout;
    let applied = history::read(conn).map_err(|e| DbError::sqlite(&path, e, busy))?;
    to_apply(&list, &applied, &path.display().to_string(), Policy::Migrate)?;
    Ok(apply::migrate(conn, &path, &list, &MigrateOptions::default(), busy, &mut |_| {})?)
}

fn is_memory(path: &Path) -> bool {
    path.as_os_str().is_empty() || path == Path::new(":memory:")
}

impl Db {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    /// `":memory:"` is a private in-memory database (no lock files).
    pub fn open(path: impl AsRef<Path>, migrations: &Migrations) -> Result<Db, Error> {
        Db::open_with(path, migrations, Options::default())
    }

    /// Opens the database of an environment: refused when the file belongs to another
    /// environment, and for a protected environment in a test run; the environment is recorded
    /// in a new database. An environment on a PostgreSQL server (with a `url`) is refused:
    /// `PgDb` opens those.
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
        if is_memory(path) {
            let mut conn = Connection::open_in_memory().map_err(|e| DbError::sqlite(path, e, opts.busy_timeout))?;
            let migrated = migrate(&mut conn, migrations)?;
            let (path, environment, backup) = (PathBuf::from(":memory:"), None, None);
            let code_version = migrations.latest();
            return Ok(Db { conn, path, environment, migrated, backup, code_version, behind: false, _app_lock: None });
        }
        let created = !path.exists();
        if created && opts.policy == Policy::RefuseBehind && migrations.latest() > 0 {
            // Nothing to open, and creating it would be migrating.
            return Err(Error::Absent { at: path.display().to_string(), code: migrations.latest() });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
        }
        let lock_file = lock::lock_path(path, "lock");
        let lock_existed = lock_file.exists();
        let opened = Db::open_locked(path, created, env, migrations, opts);
        if opened.is_err() && !lock_existed && lock::try_exclusive_app_lock(path).is_ok_and(|h| h.is_some()) {
            // A failed open leaves no lock file it created behind (nobody else holds it).
            let _ = std::fs::remove_file(&lock_file);
        }
        opened
    }

    fn open_locked(
        path: &Path,
        created: bool,
        env: Option<&Environment>,
        migrations: &Migrations,
        opts: Options,
    ) -> Result<Db, Error> {
        let code_version = migrations.latest();
        let at = path.display().to_string();
        let app_lock = startup::app_lock(path, opts.lock_timeout)?;
        let conn = db::open(path, OpenOptions { busy_timeout: opts.busy_timeout, ..OpenOptions::default() })?;
        if created {
            protect_new_file(path, env);
        }
        let sqlite = |e| DbError::sqlite(path, e, opts.busy_timeout);
        let (recorded, stored) = history::environment_and_digest(&conn).map_err(sqlite)?;
        if let Some(env) = env {
            db::refuse_other_environment(recorded, env.name(), &at)?;
        }
        let mut db = Db {
            migrated: MigrateReport { before: code_version, after: code_version, applied: Vec::new() },
            conn,
            path: path.to_owned(),
            environment: env.cloned(),
            backup: None,
            code_version,
            behind: false,
            _app_lock: Some(app_lock),
        };
        // Up to date is one value: the history's digest equal to the one the build embedded. Any
        // other digest, or none (an older database, a history edited by hand), reads the whole
        // history and compares it with the embedded checksums: drift is refused even when the
        // versions agree.
        if stored.as_deref() == Some(&*migrations.digest()) {
            return Ok(db);
        }
        let list = migrations.to_vec();
        let read = |conn: &Connection| history::read(conn).map_err(sqlite);
        let applied = read(&db.conn)?;
        let current = applied.last().map_or(0, |a| a.version);
        db.migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
        if to_apply(&list, &applied, &at, opts.policy)?.is_empty() {
            reseal(&db.conn, &applied, stored.as_deref());
            return Ok(db);
        }
        if opts.policy == Policy::ReadOnlyBehind && current > 0 {
            db.conn.pragma_update(None, "query_only", true).map_err(|e| DbError::sqlite(path, e, opts.busy_timeout))?;
            super::warn_read_only(&at, current, code_version);
            db.behind = true;
            return Ok(db);
        }
        // Migrating: instances starting together queue on the run lock, without the shared lock
        // that would keep each other's exclusive one out.
        db._app_lock = None;
        let _run = startup::run_lock(path, opts.lock_timeout)?;
        let held = startup::migrating_lock(path, opts.in_use, code_version)?;
        // Decided under the locks: an instance that waited finds the work done.
        let applied = read(&db.conn)?;
        let current = applied.last().map_or(0, |a| a.version);
        db.migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
        if !to_apply(&list, &applied, &at, opts.policy)?.is_empty() {
            let journal = crate::config::Config::parse(migrations.config_text()).ok().and_then(|c| c.journal_mode);
            let after = |db: &mut Db| history::latest(&db.conn).unwrap_or(current);
            let result =
                startup::audited(env, current, &mut db, after, |db| db.apply(&list, env, current, journal, opts));
            if let Err(e) = result {
                // A database this call created and could not bring past version 0 goes again (no
                // other process can have it open: the application lock is exclusive, or tried).
                let exclusive = opts.in_use != super::InUse::Proceed || held.try_exclusive();
                if created && history::latest(&db.conn).unwrap_or(1) == 0 && exclusive {
                    drop(db);
                    db::remove_database(path);
                }
                return Err(e);
            }
        }
        held.to_shared()
            .map_err(|source| DbError::from(lock::LockError::Io { path: lock::lock_path(path, "lock"), source }))?;
        db._app_lock = Some(held);
        Ok(db)
    }

    /// Backs up (as `opts.backup` asks) and applies the pending migrations from `current`.
    /// `journal` is envdb.toml's `journal_mode`, left on the database as `cargo envdb migrate` does.
    fn apply(
        &mut self,
        list: &[Migration<'_>],
        env: Option<&Environment>,
        current: u64,
        journal: Option<crate::config::JournalMode>,
        opts: Options,
    ) -> Result<(), Error> {
        if let Some(env) = env
            && startup::wants_backup(env, opts.backup)
            && current > 0
        {
            self.backup = Some(startup::backup_before(env, &self.path, current, opts.busy_timeout)?);
        }
        let run_opts = MigrateOptions {
            environment: env.map(|e| e.name().to_owned()),
            project: env.map(|e| e.spec.project.clone()),
            single_transaction: opts.all_or_nothing,
            journal_mode: journal,
            ..MigrateOptions::default()
        };
        match apply::migrate(&self.conn, &self.path, list, &run_opts, opts.busy_timeout, &mut |_| {}) {
            Ok(report) => {
                self.migrated = report;
                Ok(())
            }
            Err(source) => {
                let version = history::latest(&self.conn).unwrap_or(current);
                let restore = match (env, &self.backup) {
                    (Some(env), Some(b)) => Some(startup::restore_command(env, b)),
                    _ => None,
                };
                let database = self.path.display().to_string();
                Err(Error::Failed { source: Box::new(source), database, version, backup: self.backup.clone(), restore })
            }
        }
    }

    /// Whether the database is behind the code and was opened read-only
    /// (`Policy::ReadOnlyBehind`): a host refuses its own write commands early with it.
    pub fn is_behind(&self) -> bool {
        self.behind
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

    /// The backup `open_env` took (or found, from a failed start at the same version) before
    /// migrating, if any.
    pub fn backup(&self) -> Option<&Path> {
        self.backup.as_deref()
    }

    /// What `open` applied (empty when the database was already up to date).
    pub fn migrated(&self) -> &MigrateReport {
        &self.migrated
    }

    /// The applied migrations, oldest first: version, name, applied at (UTC, RFC 3339),
    /// execution time, checksum and the envdb version that applied each.
    pub fn history(&self) -> Result<Vec<crate::plan::Applied>, Error> {
        Ok(history::read(&self.conn).map_err(|e| DbError::sqlite(&self.path, e, Options::default().busy_timeout))?)
    }

    /// The facts a host prints for `myapp version -v`: versions, environment, the envdb version
    /// that last migrated the database and its newest backup.
    pub fn version_info(&self) -> VersionInfo {
        let history = self.history().unwrap_or_default();
        let env = self.environment.as_ref();
        let mut info =
            VersionInfo::new(self.code_version, &history, self.migrated.after, self.path.display().to_string(), env);
        info.last_backup = env.and_then(|env| {
            let list = crate::db::backup::list(&crate::db::backup::dir(&env.spec.data_dir), &self.path, env.name());
            list.ok()?.into_iter().rev().find(|b| b.complete && !b.replaced).map(|b| b.path)
        });
        info
    }
}

/// Stores the digest of a history just found sound and up to date (unless it is stored already),
/// so that the next open compares one value. Best effort: a database that cannot be written
/// (a read-only file, a writer holding it past the busy timeout) keeps the full read.
fn reseal(conn: &Connection, applied: &[crate::plan::Applied], stored: Option<&str>) {
    let found = crate::digest::of(applied.iter().map(|a| (a.version, a.checksum.as_str())));
    if stored == Some(found.as_str()) || !history::exists(conn).unwrap_or(false) {
        return;
    }
    if let Ok(tx) = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate) {
        // The rows are digested again inside the write transaction: what is stored is what is there.
        let _ = history::seal(&tx).and_then(|_| tx.commit());
    }
}

/// A database a protected environment's start created is readable by its owner only, like its
/// backups.
fn protect_new_file(path: &Path, env: Option<&Environment>) {
    #[cfg(unix)]
    if env.is_some_and(Environment::protected) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = (path, env);
}
