//! The one interface the commands and the runtime drive: an open database, whichever backend
//! holds it. SQLite implements it in `db::sqlite`, PostgreSQL in `db::postgres`; nothing above
//! this trait knows which one it has.

use super::DbError;
use super::apply::{MigrateOptions, MigrateReport, Progress};
use super::schema::Object;
use crate::embedded::Migration;
use crate::plan::Applied;

/// How a column of another tool's history table is read as text: `Bool` as `true`/`false`,
/// `Time` as `YYYY-MM-DD HH:MM:SS` (UTC on PostgreSQL; as stored on SQLite), `Bytes` as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Bool,
    Time,
    Bytes,
}

/// What `adopt` records: `migrations` applied at `applied_at` (one RFC 3339 time each), in
/// `environment`, taken over from `from` (the tool and when, kept as `adopted_from`).
#[derive(Debug)]
pub struct Adopted<'a> {
    pub migrations: &'a [Migration<'a>],
    pub applied_at: &'a [String],
    pub environment: Option<&'a str>,
    pub from: &'a str,
}

/// What [`Database::foreign_rows`] returns.
pub type ForeignRows = Result<Option<Vec<Vec<Option<String>>>>, DbError>;

/// An open database of either backend, with the history tables envdb keeps in it.
///
/// Every method that writes is atomic on both backends (a transaction; `no-transaction` files
/// are the one documented exception) and leaves the database as it was when it fails.
pub trait Database {
    /// The database as messages name it: a path, or a URL without its password.
    fn label(&self) -> String;

    /// Refuses a database that records another environment than `env`.
    fn check_environment(&mut self, env: &str) -> Result<(), DbError> {
        let recorded = self.meta("environment")?;
        super::refuse_other_environment(recorded, env, &self.label())
    }

    /// The history, oldest first; empty when the database has none yet.
    fn applied(&mut self) -> Result<Vec<Applied>, DbError>;

    /// The schema version: the latest applied migration, 0 for none.
    fn latest(&mut self) -> Result<u64, DbError> {
        Ok(self.applied()?.last().map_or(0, |a| a.version))
    }

    /// A value of `envdb_meta`; `None` when unset or when there is no history yet.
    fn meta(&mut self, key: &str) -> Result<Option<String>, DbError>;

    /// Records `env` as the environment the database belongs to (creating the history tables
    /// when missing): `env --adopt`.
    fn adopt(&mut self, env: &str) -> Result<(), DbError>;

    /// Applies the pending migrations. The caller holds the run lock.
    fn migrate(
        &mut self,
        migrations: &[Migration<'_>],
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<MigrateReport, DbError>;

    /// Reverts `steps` (newest first) with their down files, each atomically.
    fn rollback(&mut self, steps: &[&Migration<'_>]) -> Result<Vec<u64>, DbError>;

    /// Reverts the latest migration `m` and applies it again, both in one transaction; returns
    /// the up step's milliseconds.
    fn redo(&mut self, m: &Migration<'_>) -> Result<u64, DbError>;

    /// Records versions `1..=n` as applied without running them.
    fn baseline(&mut self, migrations: &[Migration<'_>], n: u64, environment: Option<&str>) -> Result<(), DbError>;

    /// Records the adopted migrations as applied at their times without running them, in one
    /// transaction, with `adopted_from` in `envdb_meta` (`adopt`).
    fn adopt_history(&mut self, adopted: &Adopted<'_>) -> Result<(), DbError>;

    /// The rows of another tool's history table (unqualified: where that tool creates it), each
    /// column read as text by its kind, ordered by `order_by`; `None` when there is no such table.
    fn foreign_rows(&mut self, table: &str, columns: &[(&str, ColumnKind)], order_by: &str) -> ForeignRows;

    /// Replaces the recorded checksums of edited applied migrations.
    fn repair(&mut self, changes: &[(&Applied, &Migration<'_>)]) -> Result<(), DbError>;

    /// Runs a SQL script (a seed file) in one transaction.
    fn run_script(&mut self, name: &str, sql: &str) -> Result<(), DbError>;

    /// The user's schema objects in a stable order, without envdb's own tables.
    fn schema(&mut self) -> Result<Vec<Object>, DbError>;

    /// What is wrong in the database that its schema does not show (at most `limit` lines):
    /// SQLite's integrity and foreign-key checks; PostgreSQL's INVALID indexes.
    fn problems(&mut self, limit: usize) -> Result<Vec<String>, DbError>;

    /// Facts `status` shows about the database, as `(label, value)`.
    fn facts(&mut self) -> Vec<(&'static str, String)>;

    /// The database's size in bytes: SQLite's file; PostgreSQL's `pg_database_size`.
    fn size_bytes(&mut self) -> Result<u64, DbError>;
}
