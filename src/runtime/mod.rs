//! What a host application calls: one call that opens its database up to date. `Db` (in
//! `sqlite`) opens a SQLite file with the application's shared lock held for as long as the
//! handle lives; `PgDb` (in `pg`, feature `postgres`) opens a database on a PostgreSQL server
//! through the same backend the command line drives, its sessions named `envdb-app:…`.
//!
//! ```ignore
//! static MIGRATIONS: envdb::Migrations = envdb::embedded!();
//!
//! let env = envdb::Environment::resolve(&MIGRATIONS, cli_env_flag)?; // same order as the CLI
//! let db = envdb::Db::open_env(&env, &MIGRATIONS)?;                  // migrated, lock held
//! db.conn().execute("INSERT INTO tasks (title) VALUES (?1)", ["write docs"])?;
//! println!("{}", db.version_info());                                 // for `myapp version -v`
//! ```

#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_start;
mod sqlite;
mod startup;

#[cfg(feature = "commands")]
pub(crate) use pg::session_name;
#[cfg(feature = "postgres")]
pub use pg::{APP_PREFIX, PgDb};
pub use sqlite::{Db, migrate};
pub use startup::app_name;

use crate::db::DbError;
use crate::embedded::Migration;
use crate::environment::{Environment, ResolveError};
use crate::plan::{self, Applied};
use std::fmt;
use std::time::Duration;

/// What `open` does when the database is behind the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Apply pending migrations (each atomic) before returning.
    #[default]
    Migrate,
    /// Return `Error::Behind` and change nothing (an operator runs `myapp db upgrade`).
    RefuseBehind,
    /// Open a database that is behind read-only (SQLite `query_only`, PostgreSQL
    /// `default_transaction_read_only`), warning once on stderr with the command to run: reads
    /// work, writes fail, and the host asks `is_behind()` to refuse its own write commands early.
    /// A database at version 0 (missing, empty) is migrated: it holds nothing to read yet.
    /// Drift is refused as always.
    ReadOnlyBehind,
}

/// Warns, once per process, that a database behind the code was opened read-only.
fn warn_read_only(database: &str, version: u64, code: u64) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "warning: the database {database} is at version {version}, behind this build ({code}): opened read-only, so reads work and writes fail\n  help: run `{} db upgrade` (it backs up first), then start the application again",
            app_name()
        );
    }
}

/// What a start that has migrations to apply does while other instances of the application hold
/// the database (SQLite: `<db>.lock`; PostgreSQL: sessions named `envdb-app:<project>:<env>`,
/// environments opened with `PgDb::open_env` only). They run the old code against the database:
/// migrating under them is what `cargo envdb upgrade` refuses without `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InUse {
    /// Refuse at once (`Error::InUse`), changing nothing.
    Refuse,
    /// Wait up to this long for them to stop (saying so once on stderr), then refuse. The
    /// default, 10 seconds: instances starting together queue behind one another, not this.
    Wait(Duration),
    /// Migrate beside them: for migrations the old code survives (expand, then contract).
    Proceed,
}

impl Default for InUse {
    fn default() -> Self {
        InUse::Wait(Duration::from_secs(10))
    }
}

/// When `open_env` backs the database up before applying migrations: a verified copy of the
/// file (SQLite), or a verified `pg_dump` archive (PostgreSQL), in the environment's backups
/// directory, once per version, pruned to `backup_keep`.
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
    /// How long a statement waits for another connection's write lock (SQLite).
    pub busy_timeout: Duration,
    /// How long to wait for another process that is migrating the same database, or (SQLite)
    /// for an upgrade or restore that holds it.
    pub lock_timeout: Duration,
    /// Migrating while other instances hold the database (see `InUse`).
    pub in_use: InUse,
    /// Apply the pending migrations in one transaction: a failure leaves the database at the
    /// version it had, which the binary that ran before can still open.
    pub all_or_nothing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: Policy::Migrate,
            backup: BackupPolicy::Protected,
            busy_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(60),
            in_use: InUse::default(),
            all_or_nothing: false,
        }
    }
}

/// Why opening failed. `Debug` prints the message (help lines included), as `Display` does: a
/// host's `main() -> Result<(), Box<dyn Error>>` prints errors with `Debug`.
#[derive(thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Environment(#[from] ResolveError),
    #[error("backing up before migrating failed, so nothing was migrated: {0}")]
    Backup(#[from] crate::db::backup::BackupError),
    #[error(
        "the database {at} is at version {database} but this build expects {code} ({pending} pending)\n  help: upgrade it with `{} db upgrade` (it backs up first; from a source checkout, `cargo envdb upgrade`), then start the application again",
        app_name()
    )]
    Behind { at: String, database: u64, code: u64, pending: usize },
    /// `RefuseBehind` and the database does not exist.
    #[error(
        "the database {at} does not exist, and this build expects version {code}; nothing was created\n  help: create it with `{} db upgrade` (from a source checkout, `cargo envdb migrate --create`), or open with Policy::Migrate",
        app_name()
    )]
    Absent { at: String, code: u64 },
    /// The application lock or the run lock stayed taken for `Options::lock_timeout`.
    #[error(
        "the database {database} stayed locked{holders} for {waited:?} (an upgrade, a restore or another instance's migration); nothing was opened\n  help: start again once it finished, or raise Options::lock_timeout"
    )]
    Locked { database: String, waited: Duration, holders: String },
    /// Migrations to apply while other instances hold the database, and `InUse` refuses.
    #[error(
        "other instances of the application hold {database}{holders}, so the migrations to version {code} were not applied under them (waited {waited:?}); nothing was changed\n  help: stop the old instances, then start this one (or upgrade first with `{app} db upgrade`, then roll out); when every pending migration is backward compatible, open with InUse::Proceed"
    )]
    InUse { database: String, waited: Duration, code: u64, holders: String, app: String },
    /// A migration at start-up failed: where the database is now, and the way back.
    #[error("{source}\n  the database {database} is now at version {version}{}", way_back(.backup.as_deref(), .restore.as_deref()))]
    Failed {
        #[source]
        source: Box<DbError>,
        database: String,
        version: u64,
        /// The backup taken before migrating, if one was.
        backup: Option<std::path::PathBuf>,
        /// The command that puts the backup back.
        restore: Option<String>,
    },
    /// The audit line of a protected environment could not be written.
    #[error("cannot append to the audit log {}: {source}\n  help: check the permissions of the environment's data directory", .path.display())]
    Audit { path: std::path::PathBuf, source: std::io::Error },
    /// `Db` (SQLite) was given an environment whose database is on a PostgreSQL server.
    #[error(
        "the environment `{env}` is on PostgreSQL ({url}), and `Db` opens SQLite files only; nothing was opened\n  help: {}",
        if cfg!(feature = "postgres") {
            "open it with envdb::runtime::PgDb::open_env"
        } else {
            "enable envdb's `postgres` feature and open it with envdb::runtime::PgDb::open_env"
        }
    )]
    ServerEnvironment { env: String, url: String },
    /// `PgDb` was given an environment whose database is a SQLite file.
    #[error(
        "the environment `{env}` is on a SQLite file (it has no url in envdb.toml), and `PgDb` opens PostgreSQL databases only; nothing was opened\n  help: open it with envdb::Db::open_env, or give the environment a url"
    )]
    FileEnvironment { env: String },
    /// `PgDb` was given an environment whose local server (`server = "local"`) is not running:
    /// the application does not start servers.
    #[error(
        "the local PostgreSQL server of `{env}` ({cluster}) is not running; nothing was opened\n  help: start it with `cargo envdb server start --env {env}` (every cargo envdb command that opens `{env}` starts it too)"
    )]
    LocalServerStopped { env: String, cluster: String },
    #[error(transparent)]
    Url(#[from] crate::db_url::UrlError),
    /// `testing::fresh_pg` without a server to make its database on.
    #[error(
        "ENVDB_TEST_DATABASE_URL is not set, so envdb::testing::fresh_pg has no PostgreSQL server to create its test database on\n  help: set it to a URL whose role has CREATEDB, e.g. postgres://me@localhost:5432/postgres (the database named is not touched)"
    )]
    NoTestServer,
    /// `testing::fresh_pg` could not make (or drop) its database.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    TestDatabase(#[from] crate::db::postgres::scratch::ScratchError),
}

fn way_back(backup: Option<&std::path::Path>, restore: Option<&str>) -> String {
    match (backup, restore) {
        (Some(b), Some(cmd)) => {
            format!("\n  help: the backup taken before migrating is {}; to go back to it: {cmd}", b.display())
        }
        (Some(b), None) => format!("\n  help: the backup taken before migrating is {}", b.display()),
        _ => String::new(),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Refuses a protected environment in a test run. Resolving refuses it already; this catches
/// an environment resolved before the process was marked, or built by hand in a test.
fn refuse_in_test_run(env: &Environment) -> Result<(), Error> {
    if env.protected() && crate::environment::is_test_process() {
        let (env, database) = (env.name().to_owned(), env.spec.location(&|p| p.display().to_string()));
        return Err(Error::Environment(ResolveError::Env(crate::environment::EnvError::TestRun { env, database })));
    }
    Ok(())
}

/// The migrations to apply to a database whose history is `applied` (drift refused), or
/// `Error::Behind` when there are some and the policy refuses to apply them.
fn to_apply<'m, 'a>(
    list: &'m [Migration<'a>],
    applied: &[Applied],
    at: &str,
    policy: Policy,
) -> Result<Vec<&'m Migration<'a>>, Error> {
    let pending =
        plan::pending(list, applied, None).map_err(|error| DbError::Plan { database: at.to_owned(), error })?;
    if !pending.is_empty() && policy == Policy::RefuseBehind {
        let database = applied.last().map_or(0, |a| a.version);
        let code = list.last().map_or(0, |m| m.version);
        return Err(Error::Behind { at: at.to_owned(), database, code, pending: pending.len() });
    }
    Ok(pending)
}

/// Versions of the tool, of the schema the code expects, and of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub envdb_version: &'static str,
    pub code_schema_version: u64,
    pub database_schema_version: u64,
    pub pending: u64,
    /// The database: a file's path, or a server database's URL without its password.
    pub database: String,
    /// The environment's name and how it was chosen, when opened with `open_env`.
    pub environment: Option<(String, String)>,
    /// The envdb version that applied the database's latest migration (its history row).
    pub database_tool_version: Option<String>,
    /// The newest complete backup of the environment's database (SQLite, `open_env`).
    pub last_backup: Option<std::path::PathBuf>,
}

impl VersionInfo {
    /// From the history read now (empty if it could not be read: `fallback` is the version).
    pub(crate) fn new(
        code: u64,
        history: &[Applied],
        fallback: u64,
        database: String,
        env: Option<&Environment>,
    ) -> VersionInfo {
        let database_version = history.last().map_or(fallback, |a| a.version);
        VersionInfo {
            envdb_version: crate::VERSION,
            code_schema_version: code,
            database_schema_version: database_version,
            pending: code.saturating_sub(database_version),
            database,
            environment: env.map(|e| (e.name().to_owned(), e.chosen_by.to_string())),
            database_tool_version: history.last().map(|a| a.tool_version.clone()),
            last_backup: None,
        }
    }
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
        if let Some(tool) = &self.database_tool_version {
            writeln!(f, "database migrated by:    envdb {tool}")?;
        }
        if let Some(backup) = &self.last_backup {
            writeln!(f, "last backup:             {}", backup.display())?;
        }
        write!(f, "database:                {}", self.database)
    }
}
