//! The PostgreSQL implementation of [`Database`] (feature `postgres`): a session over the
//! simple-query protocol only (so PgBouncer in transaction pooling mode works), envdb's tables in
//! a configurable schema, the runner, and the run lock's lease.
//!
//! - `connect`: the URL, the password (URL, PGPASSWORD, ~/.pgpass), TLS, the connect timeout;
//! - `history`: envdb's tables and the SQL that reads and writes them;
//! - `apply`: each migration and its history row in one transaction, one message;
//! - `lock`: the run lock (a lease row with a heartbeat);
//! - `pgpass`, `sql`, `error`: the password file, quoting, messages without secrets;
//! - `tools`, `dump`, `archive`, `restore`: backups with pg_dump, what an archive holds, restores;
//! - `copy`: a whole legacy database copied into an environment's (`migrate-to-envs`).

mod apply;
pub mod archive;
pub mod catalog;
pub mod connect;
pub mod copy;
pub mod dump;
mod error;
mod history;
mod lock;
pub mod pgpass;
mod replay;
pub mod restore;
pub mod row_counts;
pub mod scratch;
mod sql;
pub mod swap;
pub mod template;
pub mod tools;

pub use connect::Tls;
pub use error::PgError;
pub use lock::LeaseGuard;
pub use replay::replay;

use super::DbError;
use super::apply::{MigrateOptions, MigrateReport, Progress};
use super::backend::{Adopted, ColumnKind, Database, ForeignRows};
use super::schema::Object;
use crate::embedded::Migration;
use crate::plan::Applied;
use connect::Target;
use history::Tables;
use sql::{ident, literal, rows, value};
use std::time::Duration;

/// How a PostgreSQL database is reached and migrated.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The schema of envdb's tables (`history_schema`), created when missing.
    pub history_schema: String,
    /// For the whole connection: TCP, TLS and authentication (`connect_timeout` in the URL wins).
    pub connect_timeout: Duration,
    /// `SET LOCAL lock_timeout` in every migration's transaction.
    pub lock_timeout: Duration,
    /// `SET LOCAL statement_timeout` in every migration's transaction, when set.
    pub statement_timeout: Option<Duration>,
    /// How many times a migration that hit the lock timeout (55P03) is tried again.
    pub lock_retries: u32,
    /// How long the run lock's lease lasts without a heartbeat (a run that died is waited for
    /// that long, unless it died on this machine).
    pub lease_ttl: Duration,
    /// The sessions' `application_name` (else the URL's, else `cargo-envdb`): the runtime names
    /// an application's sessions `envdb-app:…` so that the tool can count them.
    pub application_name: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            history_schema: String::from("public"),
            connect_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_retries: 3,
            lease_ttl: Duration::from_secs(30),
            application_name: None,
        }
    }
}

impl From<&crate::environment::PgSettings> for PgOptions {
    /// An environment's settings from envdb.toml.
    fn from(pg: &crate::environment::PgSettings) -> PgOptions {
        PgOptions {
            history_schema: pg.history_schema.clone(),
            lock_timeout: pg.lock_timeout,
            statement_timeout: pg.statement_timeout,
            lock_retries: pg.lock_retries,
            ..Default::default()
        }
    }
}

/// The prefix of the `application_name` of every session the runtime opens for an application
/// (`envdb-app:<project>:<environment>`); `status` counts the sessions that carry it.
pub const APP_PREFIX: &str = "envdb-app:";

/// An open PostgreSQL database.
pub struct Postgres {
    client: ::postgres::Client,
    target: Target,
    label: String,
    opts: PgOptions,
    tables: Tables,
    /// Set once the history tables were seen (they are never dropped by envdb).
    history_seen: bool,
}

impl std::fmt::Debug for Postgres {
    // The configuration holds the password: only the label is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").field("label", &self.label).finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects to the database of `secret_url` (which may hold a password); `label` names it in
    /// every message (the URL without its password).
    pub fn connect(secret_url: &str, label: String, opts: PgOptions) -> Result<Postgres, DbError> {
        let mut target = connect::target(secret_url, &label, opts.connect_timeout)?;
        if let Some(name) = &opts.application_name {
            target.config.application_name(name);
        }
        let client = connect::connect(&target)?;
        let tables = Tables::new(&opts.history_schema);
        Ok(Postgres { client, target, label, opts, tables, history_seen: false })
    }

    /// Makes every later transaction of this session read-only (`default_transaction_read_only`).
    pub fn read_only_session(&mut self) -> Result<(), DbError> {
        let sql = "SET default_transaction_read_only = on";
        self.client.batch_execute(sql).map_err(|e| self.err(&e))
    }

    /// Names this session (`application_name`) from here on; behind PgBouncer the name follows
    /// the client to every server connection it uses.
    pub fn set_application_name(&mut self, name: &str) -> Result<(), DbError> {
        let sql = format!("SET application_name = {}", literal(name));
        self.client.batch_execute(&sql).map_err(|e| self.err(&e))
    }

    /// Sets (`Some`) or removes (`None`) one of envdb's own values in `envdb_meta`, outside any
    /// migration (the runtime's note of the backup a failed start took).
    pub fn set_meta(&mut self, key: &str, value: Option<&str>) -> Result<(), DbError> {
        self.ensure(None, None)?;
        let sql = match value {
            Some(v) => self.tables.set_meta(key, v),
            None => self.tables.delete_meta(key),
        };
        self.client.batch_execute(&sql).map_err(|e| self.err(&e))
    }

    /// The other sessions on this database whose `application_name` is `app`, each named (pid,
    /// role, client address), as `restore` names the sessions it refuses to swap under.
    pub fn sessions_named(&mut self, app: &str) -> Result<Vec<String>, DbError> {
        let sql = swap::sessions_sql("current_database()", &format!(" AND application_name = {}", literal(app)));
        let found = rows(&mut self.client, &sql).map_err(|e| self.err(&e))?;
        Ok(found.iter().map(|row| swap::describe_session(row).1).collect())
    }

    /// The session, for what only PostgreSQL has (the catalog queries).
    pub fn client(&mut self) -> &mut ::postgres::Client {
        &mut self.client
    }

    /// The session, given up (the runtime's `PgDb::into_client`).
    pub fn into_client(self) -> ::postgres::Client {
        self.client
    }

    pub fn options(&self) -> &PgOptions {
        &self.opts
    }

    fn err(&self, e: &::postgres::Error) -> DbError {
        PgError::server(&self.label, e).into()
    }

    /// Whether envdb's tables exist (looked up once they were seen).
    fn history_exists(&mut self) -> Result<bool, DbError> {
        if !self.history_seen {
            let probe = rows(&mut self.client, &self.tables.probe()).map_err(|e| self.err(&e))?;
            let row = probe.into_iter().next().unwrap_or_default();
            let yes = |i: usize| row.get(i).cloned().flatten().as_deref() == Some("t");
            self.history_seen = yes(1) && yes(2) && yes(3);
        }
        Ok(self.history_seen)
    }

    /// Creates envdb's schema and tables when missing, and records the environment and project
    /// when the database records none. A role that may not create them gets the GRANT to run.
    fn ensure(&mut self, environment: Option<&str>, project: Option<&str>) -> Result<(), DbError> {
        let probe = rows(&mut self.client, &self.tables.probe()).map_err(|e| self.err(&e))?;
        let row = probe.into_iter().next().unwrap_or_default();
        let yes = |i: usize| row.get(i).cloned().flatten().as_deref() == Some("t");
        let role = row.get(4).cloned().flatten().unwrap_or_default();
        let sql = if yes(1) && yes(2) && yes(3) {
            if !yes(5) {
                // A history from before digests gets its trigger and digest. Best effort: a role
                // that does not own the history migrates without them (the runtime then reads
                // the whole history at each start).
                if self.client.batch_execute(&self.sealing(&self.tables.seal_with_trigger())).is_err() {
                    let _ = self.client.batch_execute("ROLLBACK");
                }
            }
            if environment.is_none() && project.is_none() {
                self.history_seen = true;
                return Ok(());
            }
            self.tables.meta_defaults(environment, project)
        } else {
            self.tables.create(!yes(0), environment, project)
        };
        if let Err(e) = self.client.batch_execute(&sql) {
            let _ = self.client.batch_execute("ROLLBACK");
            if error::code(&e) == Some("42501") {
                let (label, schema) = (self.label.clone(), self.opts.history_schema.clone());
                return Err(PgError::HistorySchemaDenied { label, schema, role, message: error::describe(&e) }.into());
            }
            return Err(self.err(&e));
        }
        self.history_seen = true;
        Ok(())
    }
}

impl Postgres {
    /// `sql` in a transaction of its own under the history's lock.
    fn sealing(&self, sql: &str) -> String {
        format!("BEGIN;\n{}{sql}COMMIT;\n", self.tables.xact_lock())
    }

    /// The environment the database records and its history digest, in one round trip: what
    /// opening an up-to-date database reads. `(None, None)` without envdb's tables. When the
    /// digest is `digest` (up to date), the session is named `name` in that round trip too
    /// (`application_name`, reported to a pooler as `SET` would be).
    pub fn environment_and_digest(
        &mut self,
        digest: &str,
        name: &str,
    ) -> Result<(Option<String>, Option<String>), DbError> {
        match rows(&mut self.client, &self.tables.environment_and_digest(digest, name)) {
            Ok(found) => {
                let value = |key: &str| {
                    found
                        .iter()
                        .find(|row| row.first().and_then(Option::as_deref) == Some(key))
                        .and_then(|row| row.get(1).cloned().flatten())
                };
                Ok((value("environment"), value("history_digest")))
            }
            Err(e) if matches!(error::code(&e), Some("42P01" | "3F000")) => Ok((None, None)),
            Err(e) => Err(self.err(&e)),
        }
    }

    /// Stores the digest of the history as it is, with the trigger that deletes it on a hand
    /// edit when the trigger is missing: after the runtime found the history sound and up to
    /// date, so that the next open compares one value.
    pub fn seal(&mut self) -> Result<(), DbError> {
        let probe = rows(&mut self.client, &self.tables.probe()).map_err(|e| self.err(&e))?;
        let row = probe.into_iter().next().unwrap_or_default();
        let yes = |i: usize| row.get(i).cloned().flatten().as_deref() == Some("t");
        if !(yes(1) && yes(2)) {
            return Ok(());
        }
        let sql = self.sealing(&if yes(5) { self.tables.store_digest() } else { self.tables.seal_with_trigger() });
        if let Err(e) = self.client.batch_execute(&sql) {
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(self.err(&e));
        }
        Ok(())
    }
}

/// Creates the database of `secret_url` when it does not exist, connecting to the `postgres`
/// maintenance database (`template1` when there is none). Returns whether it created it. The
/// caller decides whether it may (a protected environment needs `--create`).
pub fn ensure_database(secret_url: &str, label: &str, opts: &PgOptions) -> Result<bool, DbError> {
    let target = connect::target(secret_url, label, opts.connect_timeout)?;
    let name = target.config.get_dbname().map_or_else(|| connect::user(&target.config), str::to_owned);
    let mut client = maintenance(&target, label)?;
    let server = |e: &::postgres::Error| DbError::from(PgError::server(label, e));
    let exists =
        value(&mut client, &format!("SELECT 1 FROM pg_catalog.pg_database WHERE datname = {}", literal(&name)))
            .map_err(|e| server(&e))?
            .is_some();
    if exists {
        return Ok(false);
    }
    match client.batch_execute(&format!("CREATE DATABASE {}", ident(&name))) {
        Ok(()) => Ok(true),
        // Created meanwhile by another run (a CREATE DATABASE still running when this one
        // began, such as a killed run's, loses the race as a unique violation in pg_database).
        Err(e) if matches!(error::code(&e), Some("42P04" | "23505")) => Ok(false),
        Err(e) if error::code(&e) == Some("42501") => Err(PgError::Server {
            label: label.to_owned(),
            message: format!(
                "the database `{name}` does not exist and the role `{}` may not create it ({})\n  help: create it as a role with CREATEDB: CREATE DATABASE \"{name}\";",
                connect::user(&target.config),
                error::describe(&e)
            ),
        }
        .into()),
        Err(e) => Err(server(&e)),
    }
}

/// A session on the server of `target` in its maintenance database: `postgres`, or
/// `template1` when there is none.
fn maintenance(target: &Target, label: &str) -> Result<::postgres::Client, DbError> {
    let mut last = None;
    for maintenance in ["postgres", "template1"] {
        let mut t = target.clone();
        t.config.dbname(maintenance);
        match connect::connect(&t) {
            Ok(c) => return Ok(c),
            Err(e @ PgError::MissingDatabase { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| PgError::Url { label: label.to_owned(), reason: String::new() }).into())
}

impl Database for Postgres {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn applied(&mut self) -> Result<Vec<Applied>, DbError> {
        if !self.history_exists()? {
            return Ok(Vec::new());
        }
        let found = rows(&mut self.client, &self.tables.read()).map_err(|e| self.err(&e))?;
        Ok(found.into_iter().filter_map(history::applied).collect())
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, DbError> {
        if !self.history_exists()? {
            return Ok(None);
        }
        value(&mut self.client, &self.tables.meta_value(key)).map_err(|e| self.err(&e))
    }

    fn adopt(&mut self, env: &str) -> Result<(), DbError> {
        self.ensure(None, None)?;
        let sql = self.tables.set_meta("environment", env);
        self.client.batch_execute(&sql).map_err(|e| self.err(&e))
    }

    fn migrate(
        &mut self,
        migrations: &[Migration<'_>],
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<MigrateReport, DbError> {
        self.migrate_inner(migrations, opts, progress)
    }

    fn rollback(&mut self, steps: &[&Migration<'_>]) -> Result<Vec<u64>, DbError> {
        self.rollback_inner(steps)
    }

    fn redo(&mut self, m: &Migration<'_>) -> Result<u64, DbError> {
        self.redo_inner(m)
    }

    fn baseline(&mut self, migrations: &[Migration<'_>], n: u64, environment: Option<&str>) -> Result<(), DbError> {
        self.baseline_inner(migrations, n, environment)
    }

    fn adopt_history(&mut self, adopted: &Adopted<'_>) -> Result<(), DbError> {
        self.adopt_inner(adopted)
    }

    fn foreign_rows(&mut self, table: &str, columns: &[(&str, ColumnKind)], order_by: &str) -> ForeignRows {
        // Where the other tool created it: the first schema of the search path that has it.
        let exists = value(&mut self.client, &format!("SELECT to_regclass({}) IS NOT NULL", literal(&ident(table))))
            .map_err(|e| self.err(&e))?;
        if exists.as_deref() != Some("t") {
            return Ok(None);
        }
        let select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| {
                let c = ident(name);
                match kind {
                    ColumnKind::Text => format!("{c}::text"),
                    ColumnKind::Bool => format!("CASE WHEN {c} THEN 'true' ELSE 'false' END"),
                    ColumnKind::Time => {
                        format!("to_char({c}::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')")
                    }
                    ColumnKind::Bytes => format!("encode({c}, 'hex')"),
                }
            })
            .collect();
        let sql = format!("SELECT {} FROM {} ORDER BY {}", select.join(", "), ident(table), ident(order_by));
        rows(&mut self.client, &sql).map(Some).map_err(|e| self.err(&e))
    }

    fn repair(&mut self, changes: &[(&Applied, &Migration<'_>)]) -> Result<(), DbError> {
        self.repair_inner(changes)
    }

    fn run_script(&mut self, name: &str, sql: &str) -> Result<(), DbError> {
        self.run_script_inner(name, sql)
    }

    fn schema(&mut self) -> Result<Vec<Object>, DbError> {
        catalog::objects(&mut self.client, &self.opts.history_schema).map_err(|e| self.err(&e))
    }

    fn problems(&mut self, limit: usize) -> Result<Vec<String>, DbError> {
        let invalid = catalog::invalid_indexes(&mut self.client).map_err(|e| self.err(&e))?;
        Ok(invalid
            .into_iter()
            .take(limit)
            .map(|(index, table)| {
                format!("index {index} on {table} is INVALID (a failed CREATE INDEX CONCURRENTLY?): DROP INDEX CONCURRENTLY IF EXISTS {index};")
            })
            .collect())
    }

    fn facts(&mut self) -> Vec<(&'static str, String)> {
        // The application's sessions: those the runtime named (behind PgBouncer, the server
        // connections an application's clients last used).
        let sql = format!(
            "SELECT current_setting('server_version'), \
             (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = current_database()), \
             (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = current_database() \
              AND starts_with(application_name, {}))",
            literal(APP_PREFIX)
        );
        let Ok(found) = rows(&mut self.client, &sql) else { return Vec::new() };
        let row = found.into_iter().next().unwrap_or_default();
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        vec![("server", format!("PostgreSQL {}", text(0))), ("connections", text(1)), ("app sessions", text(2))]
    }

    fn size_bytes(&mut self) -> Result<u64, DbError> {
        let sql = "SELECT pg_catalog.pg_database_size(current_database())";
        let found = rows(&mut self.client, sql).map_err(|e| self.err(&e))?;
        let size = found.into_iter().next().and_then(|r| r.into_iter().next().flatten());
        size.and_then(|s| s.parse().ok()).ok_or_else(|| {
            PgError::Server { label: self.label.clone(), message: "pg_database_size returned no number".into() }.into()
        })
    }
}
