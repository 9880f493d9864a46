//! The SQLite implementation of [`Database`]: a connection to one database file, driving the
//! runner (`apply`), the history tables (`history`) and the schema text (`schema`).

use super::apply::{self, MigrateOptions, MigrateReport, Progress};
use super::backend::{Adopted, ColumnKind, Database, ForeignRows};
use super::schema::{self, Object};
use super::{DbError, history};
use crate::embedded::Migration;
use crate::plan::Applied;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An open SQLite database file.
pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    busy: Duration,
}

impl Sqlite {
    /// Opens the file at `path` (see [`super::open`]).
    pub fn open(path: &Path, opts: super::OpenOptions) -> Result<Sqlite, DbError> {
        let conn = super::open(path, opts)?;
        Ok(Sqlite { conn, path: path.to_owned(), busy: opts.busy_timeout })
    }

    /// The connection, for what only SQLite has (backups, `VACUUM INTO`).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> DbError {
        DbError::sqlite(&self.path, e, self.busy)
    }
}

impl Database for Sqlite {
    fn label(&self) -> String {
        self.path.display().to_string()
    }

    fn applied(&mut self) -> Result<Vec<Applied>, DbError> {
        history::read(&self.conn).map_err(|e| self.err(e))
    }

    fn latest(&mut self) -> Result<u64, DbError> {
        history::latest(&self.conn).map_err(|e| self.err(e))
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, DbError> {
        history::meta(&self.conn, key).map_err(|e| self.err(e))
    }

    fn adopt(&mut self, env: &str) -> Result<(), DbError> {
        let tx = self.conn.transaction().map_err(|e| DbError::sqlite(&self.path, e, self.busy))?;
        history::ensure(&tx, None, None)
            .and_then(|()| history::set_meta(&tx, "environment", env))
            .and_then(|()| tx.commit())
            .map_err(|e| DbError::sqlite(&self.path, e, self.busy))
    }

    fn migrate(
        &mut self,
        migrations: &[Migration<'_>],
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<MigrateReport, DbError> {
        apply::migrate(&self.conn, &self.path, migrations, opts, self.busy, progress)
    }

    fn rollback(&mut self, steps: &[&Migration<'_>]) -> Result<Vec<u64>, DbError> {
        apply::rollback(&self.conn, &self.path, steps, self.busy)
    }

    fn redo(&mut self, m: &Migration<'_>) -> Result<u64, DbError> {
        apply::redo(&self.conn, &self.path, m, self.busy)
    }

    fn baseline(&mut self, migrations: &[Migration<'_>], n: u64, environment: Option<&str>) -> Result<(), DbError> {
        apply::baseline(&self.conn, &self.path, migrations, n, environment, self.busy)
    }

    fn adopt_history(&mut self, a: &Adopted<'_>) -> Result<(), DbError> {
        let rows: Vec<_> = a.migrations.iter().zip(a.applied_at).map(|(m, at)| (m, at.as_str())).collect();
        let meta = Some(("adopted_from", a.from));
        apply::record_applied(&self.conn, &self.path, &rows, a.environment, meta, self.busy)
    }

    fn foreign_rows(&mut self, table: &str, columns: &[(&str, ColumnKind)], order_by: &str) -> ForeignRows {
        if !self.conn.table_exists(Some("main"), table).map_err(|e| self.err(e))? {
            return Ok(None);
        }
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        // Columns in brackets: a double-quoted name that matches no column is a string literal to
        // SQLite, so another tool's table (dbmate's `schema_migrations` has no `dirty`) would read
        // as rows of that text instead of failing.
        let column = |name: &str| format!("[{name}]");
        let select: Vec<String> = columns
            .iter()
            .map(|(name, kind)| {
                let c = column(name);
                match kind {
                    ColumnKind::Text | ColumnKind::Time => format!("CAST({c} AS TEXT)"),
                    ColumnKind::Bool => {
                        format!("CASE WHEN {c} IN (1, '1', 't', 'true', 'TRUE') THEN 'true' ELSE 'false' END")
                    }
                    ColumnKind::Bytes => format!("lower(hex({c}))"),
                }
            })
            .collect();
        let sql = format!("SELECT {} FROM main.{} ORDER BY {}", select.join(", "), quote(table), column(order_by));
        let read = || -> rusqlite::Result<Vec<Vec<Option<String>>>> {
            let mut stmt = self.conn.prepare(&sql)?;
            let rows = stmt.query_map([], |r| (0..columns.len()).map(|i| r.get::<_, Option<String>>(i)).collect())?;
            rows.collect()
        };
        read().map(Some).map_err(|e| self.err(e))
    }

    fn repair(&mut self, changes: &[(&Applied, &Migration<'_>)]) -> Result<(), DbError> {
        apply::repair(&self.conn, &self.path, changes, self.busy)
    }

    fn run_script(&mut self, name: &str, sql: &str) -> Result<(), DbError> {
        apply::run_script(&self.conn, &self.path, name, sql, self.busy)
    }

    fn schema(&mut self) -> Result<Vec<Object>, DbError> {
        schema::objects(&self.conn).map_err(|e| self.err(e))
    }

    fn problems(&mut self, limit: usize) -> Result<Vec<String>, DbError> {
        let integrity = super::pragma_lines(&self.conn, "integrity_check").map_err(|e| self.err(e))?;
        let mut problems = Vec::new();
        if integrity != ["ok"] {
            problems.push(format!("integrity_check: {}", integrity.join("; ")));
        }
        let fk = super::foreign_key_violations(&self.conn, limit).map_err(|e| self.err(e))?;
        problems.extend(fk.into_iter().map(|v| format!("foreign_key_check: {v}")));
        Ok(problems)
    }

    fn facts(&mut self) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        if let Ok(mode) = self.conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)) {
            facts.push(("journal mode", mode));
        }
        facts
    }

    fn size_bytes(&mut self) -> Result<u64, DbError> {
        // The file is open, so it exists; a metadata failure is no reason to fail `status`.
        Ok(std::fs::metadata(&self.path).map_or(0, |m| m.len()))
    }
}
