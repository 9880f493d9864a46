//! `PgDb`: the runtime on a PostgreSQL database (feature `postgres`). It opens the database up to
//! date through the backend the command line drives (`db::postgres`: the lease run lock, the
//! advisory-lock guard in each migration's transaction, the environment marker, the history),
//! so concurrent application starts apply each migration once, directly or through PgBouncer.
//! Its sessions carry `application_name = envdb-app:<project>:<environment>`, which is how
//! `cargo envdb status` counts the application's sessions.

use super::{Error, Options, VersionInfo, pg_start, to_apply};
use crate::db::DbError;
use crate::db::apply::{MigrateOptions, MigrateReport};
use crate::db::backend::Database as _;
use crate::db::location::Location;
use crate::db::postgres::{PgOptions, Postgres, ensure_database};
use crate::db_url::DbUrl;
use crate::embedded::Migrations;
use crate::environment::{Environment, ResolveError};

pub use crate::db::postgres::APP_PREFIX;

/// An open PostgreSQL database, up to date with the migrations the binary was built with.
///
/// Before migrating a protected environment (`BackupPolicy`) it backs the database up with
/// `pg_dump` into the environment's backups directory, once per version. It holds no lock while
/// it lives: the application's presence is its sessions' `application_name`, which older
/// instances are recognised by (`InUse`) before a migration.
pub struct PgDb {
    db: Postgres,
    label: String,
    environment: Option<Environment>,
    migrated: MigrateReport,
    code_version: u64,
    behind: bool,
    backup: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb").field("database", &self.label).finish_non_exhaustive()
    }
}

impl PgDb {
    /// Opens the database of `url` (`postgres://user[:password]@host:port/dbname?sslmode=…`,
    /// the password also from PGPASSWORD or ~/.pgpass), creating it when missing, and applies
    /// pending migrations. No environment is checked or recorded.
    pub fn open(url: &str, migrations: &Migrations) -> Result<PgDb, Error> {
        PgDb::open_with(url, migrations, Options::default())
    }

    pub fn open_with(url: &str, migrations: &Migrations, opts: Options) -> Result<PgDb, Error> {
        let url = DbUrl::parse(url)?;
        PgDb::open_inner(&url, PgOptions::default(), None, migrations, opts)
    }

    /// Opens the database of an environment that has a `url` in envdb.toml (its
    /// `history_schema`, `lock_timeout`, `statement_timeout` and `lock_retries` apply): refused
    /// when the database records another environment, and for a protected environment in a
    /// test process; the environment is recorded in a new database. A missing database is
    /// created for an unprotected environment only (a protected one: `cargo envdb migrate
    /// --create`).
    pub fn open_env(env: &Environment, migrations: &Migrations) -> Result<PgDb, Error> {
        PgDb::open_env_with(env, migrations, Options::default())
    }

    pub fn open_env_with(env: &Environment, migrations: &Migrations, opts: Options) -> Result<PgDb, Error> {
        super::refuse_in_test_run(env)?;
        if let Some(local) = env.spec.local.as_ref().filter(|l| l.running().is_none()) {
            let cluster = local.cluster.display().to_string();
            return Err(Error::LocalServerStopped { env: env.name().to_owned(), cluster });
        }
        let url = match &env.spec.url {
            Some(Ok(url)) => url,
            Some(Err(e)) => return Err(Error::Environment(ResolveError::Env(e.clone()))),
            None => return Err(Error::FileEnvironment { env: env.name().to_owned() }),
        };
        PgDb::open_inner(url, (&env.spec.postgres).into(), Some(env), migrations, opts)
    }

    fn open_inner(
        url: &DbUrl,
        mut pg: PgOptions,
        env: Option<&Environment>,
        migrations: &Migrations,
        opts: Options,
    ) -> Result<PgDb, Error> {
        let label = url.redacted();
        let code_version = migrations.latest();
        // Named as starting until open: a start queued behind another's migration is not an
        // older instance of the application.
        pg.application_name = Some(starting_name(env));
        let mut backup = None;
        let connect = |pg: &PgOptions| Postgres::connect(url.expose_secret(), label.clone(), pg.clone());
        let mut db = match connect(&pg) {
            Ok(db) => db,
            Err(DbError::Postgres(e)) if e.is_missing_database() => {
                // Nothing to open, and creating it would be migrating (or, for a protected
                // environment, is the operator's decision).
                if opts.policy == super::Policy::RefuseBehind && code_version > 0 {
                    return Err(Error::Absent { at: label, code: code_version });
                }
                if env.is_some_and(Environment::protected) {
                    return Err(DbError::Postgres(e).into());
                }
                ensure_database(url.expose_secret(), &label, &pg)?;
                connect(&pg)?
            }
            Err(e) => return Err(e.into()),
        };
        // Up to date is one value, as on SQLite (see `Db`): any other digest reads the history.
        // Up to date, the session is the application's from that same round trip on.
        let digest = migrations.digest();
        let (recorded, stored) = db.environment_and_digest(&digest, &session_name(env))?;
        if let Some(env) = env {
            crate::db::refuse_other_environment(recorded, env.name(), &label)?;
        }
        if stored.as_deref() == Some(&*digest) {
            let migrated = MigrateReport { before: code_version, after: code_version, applied: Vec::new() };
            return Ok(PgDb { db, label, environment: env.cloned(), migrated, code_version, behind: false, backup });
        }
        let list = migrations.to_vec();
        let applied = db.applied()?;
        let current = applied.last().map_or(0, |a| a.version);
        let pending = to_apply(&list, &applied, &label, opts.policy)?;
        if pending.is_empty() {
            // Sound and up to date: the digest goes in for the next open. Best effort (a role
            // that may not write the history keeps the full read).
            let found = crate::digest::of(applied.iter().map(|a| (a.version, a.checksum.as_str())));
            if stored.as_deref() != Some(found.as_str()) {
                let _ = db.seal();
            }
        }
        let mut migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
        let behind = !pending.is_empty() && opts.policy == super::Policy::ReadOnlyBehind && current > 0;
        if behind {
            // Every transaction of this session is read-only from here. (Behind PgBouncer in
            // transaction pooling mode a session setting does not follow the client: connect
            // directly for this policy.)
            db.read_only_session()?;
            super::warn_read_only(&label, current, code_version);
        } else if !pending.is_empty() {
            let _lease = db.run_lock(opts.lock_timeout, &mut |_| {}).map_err(|e| match e {
                // The application's words: it has no --lock-timeout.
                DbError::Postgres(pg) => match *pg {
                    crate::db::postgres::PgError::LockTimeout { label, holder, waited, .. } => {
                        Error::Locked { database: label, waited, holders: format!(" ({holder})") }
                    }
                    other => Error::Db(DbError::Postgres(Box::new(other))),
                },
                e => Error::Db(e),
            })?;
            // Decided under the lease: an instance that waited finds the work done.
            let applied = db.applied()?;
            let current = applied.last().map_or(0, |a| a.version);
            migrated = MigrateReport { before: current, after: current, applied: Vec::new() };
            if !to_apply(&list, &applied, &label, opts.policy)?.is_empty() {
                if let Some(env) = env {
                    pg_start::older_instances_gone(
                        &mut db,
                        &label,
                        &session_name(Some(env)),
                        opts.in_use,
                        code_version,
                    )?;
                }
                let at = Location::Server { url: Box::new(url.clone()), opts: pg.clone() };
                let after = |db: &mut Postgres| db.latest().unwrap_or(current);
                migrated = super::startup::audited(env, current, &mut db, after, |db| {
                    backup = match env {
                        Some(env) if current > 0 && super::startup::wants_backup(env, opts.backup) => {
                            let reuse = opts.in_use != super::InUse::Proceed;
                            Some(pg_start::backup_before(env, &at, db, current, reuse)?)
                        }
                        _ => None,
                    };
                    let run = MigrateOptions {
                        environment: env.map(|e| e.name().to_owned()),
                        project: env.map(|e| e.spec.project.clone()),
                        single_transaction: opts.all_or_nothing,
                        ..MigrateOptions::default()
                    };
                    match db.migrate(&list, &run, &mut |_| {}) {
                        Ok(report) => {
                            if backup.is_some() {
                                pg_start::migrated(db);
                            }
                            Ok(report)
                        }
                        Err(source) => Err(Error::Failed {
                            source: Box::new(source),
                            database: label.clone(),
                            version: db.latest().unwrap_or(current),
                            restore: env.zip(backup.as_deref()).map(|(e, b)| super::startup::restore_command(e, b)),
                            backup: backup.clone(),
                        }),
                    }
                })?;
            }
        }
        // Open: from here the session counts as the application's (`status`, `upgrade`, and the
        // next build's start wait for it).
        db.set_application_name(&session_name(env))?;
        Ok(PgDb { db, label, environment: env.cloned(), migrated, code_version, behind, backup })
    }

    /// Whether the database is behind the code and its session was made read-only
    /// (`Policy::ReadOnlyBehind`).
    pub fn is_behind(&self) -> bool {
        self.behind
    }

    /// The session (simple-query and unnamed statements only behind PgBouncer in transaction
    /// pooling mode: run parameterised queries in a transaction, or use `query_typed`).
    pub fn client(&mut self) -> &mut ::postgres::Client {
        self.db.client()
    }

    /// The session, keeping nothing else (the application's presence goes with it).
    pub fn into_client(self) -> ::postgres::Client {
        self.db.into_client()
    }

    /// The database as messages name it: its URL without the password.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The backup `open_env` took (or found, from a failed start at the same version) before
    /// migrating, if any.
    pub fn backup(&self) -> Option<&std::path::Path> {
        self.backup.as_deref()
    }

    /// What `open` applied (empty when the database was already up to date).
    pub fn migrated(&self) -> &MigrateReport {
        &self.migrated
    }

    /// The applied migrations, oldest first (see `Db::history`).
    pub fn history(&mut self) -> Result<Vec<crate::plan::Applied>, Error> {
        Ok(self.db.applied()?)
    }

    /// The facts a host prints for `myapp version -v` (the database's history read now, and
    /// the newest complete backup in the environment's backups directory).
    pub fn version_info(&mut self) -> VersionInfo {
        let history = self.history().unwrap_or_default();
        let env = self.environment.as_ref();
        let mut info = VersionInfo::new(self.code_version, &history, self.migrated.after, self.label.clone(), env);
        info.last_backup = env.and_then(|env| {
            let dir = crate::db::backup::dir(&env.spec.data_dir);
            let list = crate::db::backup::list_of(&dir, &Location::of(env).backup_stem(), None, env.name());
            list.ok()?.into_iter().rev().find(|b| b.complete && !b.replaced).map(|b| b.path)
        });
        info
    }
}

/// The `application_name` of an application's sessions: `envdb-app:<project>:<environment>`
/// (`envdb-app:` alone without an environment), cut to PostgreSQL's 63 bytes.
pub(crate) fn session_name(env: Option<&Environment>) -> String {
    named(APP_PREFIX, env)
}

/// The `application_name` of a start's sessions until it opened: `envdb-starting:…`, which
/// neither `status` nor another start counts as the application.
fn starting_name(env: Option<&Environment>) -> String {
    named("envdb-starting:", env)
}

fn named(prefix: &str, env: Option<&Environment>) -> String {
    let mut name = match env {
        Some(env) => format!("{prefix}{}:{}", env.spec.project, env.name()),
        None => prefix.to_owned(),
    };
    while name.len() > 63 {
        name.pop();
    }
    name
}
