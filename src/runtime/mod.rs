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
mod sqlite;

#[cfg(feature = "postgres")]
pub use pg::{APP_PREFIX, PgDb};
pub use sqlite::Db;

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
    /// Return `Error::Behind` and change nothing (an operator runs `cargo envdb upgrade`).
    RefuseBehind,
}

/// When `open_env` backs the database up before applying migrations (SQLite only for now: a
/// PostgreSQL database is never backed up by the runtime, and `Always` is refused there).
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
        "the database {at} is at version {database} but this build expects {code} ({pending} pending)\n  help: run `cargo envdb upgrade` (it backs up first), then start the application again"
    )]
    Behind { at: String, database: u64, code: u64, pending: usize },
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
    /// `BackupPolicy::Always` on a PostgreSQL database: the runtime cannot back one up yet.
    #[error(
        "BackupPolicy::Always was asked for, but the runtime cannot back up the PostgreSQL database {database} (only SQLite files); nothing was migrated\n  help: back it up with pg_dump and open with BackupPolicy::Never, or let `cargo envdb migrate` run it"
    )]
    BackupUnsupported { database: String },
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
}

impl VersionInfo {
    fn new(code: u64, database_version: u64, database: String, env: Option<&Environment>) -> VersionInfo {
        VersionInfo {
            envdb_version: crate::VERSION,
            code_schema_version: code,
            database_schema_version: database_version,
            pending: code.saturating_sub(database_version),
            database,
            environment: env.map(|e| (e.name().to_owned(), e.chosen_by.to_string())),
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
        write!(f, "database:                {}", self.database)
    }
}
