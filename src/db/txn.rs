//! The one transaction procedure of the runner: every write of `db::apply` goes through
//! `transaction` (`BEGIN IMMEDIATE` → body → foreign-key verdict naming the file that caused a
//! violation → `COMMIT`, or `ROLLBACK` on any failure), and `foreign_keys_off` is the one place
//! `foreign_keys` is saved, turned off and restored.

use super::DbError;
use super::apply::MigrationFailed;
use super::foreign_keys::{self, Violation};
use super::statements::Statement;
use crate::embedded::Migration;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// A connection, and the database and busy timeout its errors name.
pub(super) struct Run<'c> {
    pub conn: &'c Connection,
    pub path: &'c Path,
    pub busy: Duration,
}

impl Run<'_> {
    pub fn err(&self, e: rusqlite::Error) -> DbError {
        DbError::sqlite(self.path, e, self.busy)
    }

    pub fn exec(&self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    pub fn rollback(&self) {
        // Some errors (a full disk, an I/O error) already rolled back; a second ROLLBACK is harmless.
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

/// Where a file failed (a line, when one statement failed) and why.
pub(super) type Failure = (Option<usize>, String);

/// How many violations are noted after each file, and listed in an error.
const NOTED: usize = 20;

/// A SQLite message, with the line refined to the failing token when SQLite reports an offset.
fn describe(e: &rusqlite::Error, stmt: &Statement<'_>) -> Failure {
    match e {
        rusqlite::Error::SqlInputError { msg, offset, .. } if *offset >= 0 => {
            (Some(stmt.line_at(*offset as usize)), msg.clone())
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => (Some(stmt.line), msg.clone()),
        other => (Some(stmt.line), other.to_string()),
    }
}

/// A file's statements, one at a time as SQLite splits them.
pub(super) fn run_statements(run: &Run<'_>, stmts: &[Statement<'_>]) -> Result<(), Failure> {
    for s in stmts {
        if let Err(e) = run.conn.execute_batch(s.sql) {
            return Err(describe(&e, s));
        }
    }
    Ok(())
}

/// `PRAGMA foreign_key_check` now (after a `no-transaction` file): any violation is a failure.
pub(super) fn check_foreign_keys(run: &Run<'_>) -> Result<(), Failure> {
    let found = foreign_keys::check(run.conn, NOTED).map_err(check_failed)?;
    if found.is_empty() {
        return Ok(());
    }
    let described = foreign_keys::describe(run.conn, &found).map_err(check_failed)?;
    Err((None, violations(&described, false)))
}

fn check_failed(e: rusqlite::Error) -> Failure {
    (None, format!("checking foreign keys after it ran failed: {e}"))
}

fn violations(described: &[String], already: bool) -> String {
    let already = if already {
        "; the first was already in the database before it ran: correct those rows, then retry (`cargo envdb validate` lists them)"
    } else {
        ""
    };
    format!(
        "foreign key violations after it ran (PRAGMA foreign_key_check){already}:\n    {}",
        described.join("\n    ")
    )
}

/// Proof that `foreign_keys` is OFF on the connection: SQLite's procedure for schema changes,
/// and what makes the foreign-key check of a transaction meaningful.
pub(super) struct ForeignKeysOff(());

/// Turns `foreign_keys` OFF (outside any transaction: inside one it is a no-op) for `work`, and
/// puts it back as it was, whatever `work` returned. `work`'s error comes first.
pub(super) fn foreign_keys_off<T>(
    run: &Run<'_>,
    work: impl FnOnce(&ForeignKeysOff) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let before: bool = run.conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).map_err(|e| run.err(e))?;
    run.exec("PRAGMA foreign_keys = OFF")?;
    let result = work(&ForeignKeysOff(()));
    let restored = run.exec(if before { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" });
    let value = result?;
    restored?;
    Ok(value)
}

/// An open transaction, as its body sees it.
pub(super) struct Txn<'r, 'c> {
    run: &'r Run<'c>,
    check: bool,
    /// Each file run so far, with the first violations the database had after it.
    ledger: Vec<(String, Vec<Violation>)>,
}

impl Txn<'_, '_> {
    /// Runs a file's statements (errors name it as `m`) and, when the transaction checks foreign
    /// keys, notes the violations the database has after it, to name the file that caused one.
    pub fn run_file(&mut self, m: &Migration<'_>, stmts: &[Statement<'_>]) -> Result<(), DbError> {
        run_statements(self.run, stmts).map_err(|detail| MigrationFailed::bare(m.name, self.run.path, detail))?;
        if self.check {
            let found = foreign_keys::check(self.run.conn, NOTED)
                .map_err(|e| MigrationFailed::bare(m.name, self.run.path, check_failed(e)))?;
            self.ledger.push((m.name.to_owned(), found));
        }
        Ok(())
    }

    /// The violations the body left, and the file that caused them: only the final state counts
    /// (a violation a later file repairs is none), and the first violation listed is blamed on
    /// the file after which it appeared and stayed.
    fn blame(&self) -> Result<Option<Blame>, DbError> {
        let Some((last_file, last)) = self.ledger.last() else { return Ok(None) };
        let Some(first) = last.first() else { return Ok(None) };
        let from = self.ledger.iter().rposition(|(_, found)| !found.contains(first)).map_or(0, |i| i + 1);
        let file = self.ledger[from].0.clone();
        match foreign_keys::describe(self.run.conn, last) {
            Ok(described) => Ok(Some(Blame { file, first: first.clone(), described, throughout: from == 0 })),
            Err(e) => Err(MigrationFailed::bare(last_file, self.run.path, check_failed(e))),
        }
    }
}

/// Violations a transaction would have committed, and the file that caused them.
struct Blame {
    file: String,
    first: Violation,
    described: Vec<String>,
    /// The first violation was there after every file: maybe before the transaction too.
    throughout: bool,
}

impl Blame {
    /// The error, once the transaction is rolled back: a violation that was already in the
    /// database before it began is said to be so, not blamed on the file alone.
    fn error(self, run: &Run<'_>) -> DbError {
        let already =
            self.throughout && foreign_keys::check(run.conn, NOTED).is_ok_and(|before| before.contains(&self.first));
        MigrationFailed::bare(&self.file, run.path, (None, violations(&self.described, already)))
    }
}

/// The one transaction procedure: `BEGIN IMMEDIATE`, `body`, then, when `fk` says foreign keys
/// are off (and so unchecked by SQLite), the verdict on the violations the files left, naming
/// the file that caused them; `COMMIT`, or `ROLLBACK` on any failure, the commit's included.
pub(super) fn transaction<T>(
    run: &Run<'_>,
    fk: Option<&ForeignKeysOff>,
    body: impl FnOnce(&mut Txn<'_, '_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    run.exec("BEGIN IMMEDIATE")?;
    let mut tx = Txn { run, check: fk.is_some(), ledger: Vec::new() };
    match body(&mut tx).and_then(|value| Ok((value, tx.blame()?))) {
        Ok((value, None)) => run.exec("COMMIT").map(|()| value).inspect_err(|_| run.rollback()),
        Ok((_, Some(blame))) => {
            run.rollback();
            Err(blame.error(run))
        }
        Err(e) => {
            run.rollback();
            Err(e)
        }
    }
}
