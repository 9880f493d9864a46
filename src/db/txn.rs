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

/// How many violations a check reads: listed in an error, and looked for by a replay.
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
pub(super) struct Txn<'r, 'c, 's> {
    run: &'r Run<'c>,
    check: bool,
    /// The files run so far, in order, when foreign keys are checked: replayed to find the one
    /// that caused a violation.
    files: Vec<(&'s str, &'s [Statement<'s>])>,
}

impl<'s> Txn<'_, '_, 's> {
    /// Runs a file's statements; errors name it as `m`.
    pub fn run_file(&mut self, m: &'s Migration<'_>, stmts: &'s [Statement<'s>]) -> Result<(), DbError> {
        run_statements(self.run, stmts).map_err(|detail| MigrationFailed::bare(m.name, self.run.path, detail))?;
        if self.check {
            self.files.push((m.name, stmts));
        }
        Ok(())
    }

    /// `PRAGMA foreign_key_check` on the state the body left (only the final state counts: a
    /// violation a later file repairs is none): the violations found, described.
    fn verdict(&self) -> Result<Option<(Violation, Vec<String>)>, DbError> {
        let Some((last, _)) = self.files.last() else { return Ok(None) };
        let failed = |e| MigrationFailed::bare(last, self.run.path, check_failed(e));
        let found = foreign_keys::check(self.run.conn, NOTED).map_err(failed)?;
        let Some(first) = found.first() else { return Ok(None) };
        let described = foreign_keys::describe(self.run.conn, &found).map_err(failed)?;
        Ok(Some((first.clone(), described)))
    }

    /// Once the transaction is rolled back, the error naming the file that caused the first
    /// violation: the one file, or, of several, the file after which it appeared and stayed,
    /// found by replaying them. A violation that was already in the database before the
    /// transaction is said to be so.
    fn blame(&self, first: &Violation, described: &[String]) -> DbError {
        let (file, throughout) = match self.files.as_slice() {
            [(only, _)] => (*only, true),
            _ => self.replay(first),
        };
        let conn = self.run.conn;
        let already = throughout && foreign_keys::check(conn, NOTED).is_ok_and(|before| before.contains(first));
        MigrationFailed::bare(file, self.run.path, (None, violations(described, already)))
    }

    /// Runs the files again in a transaction of its own, rolled back, checking foreign keys after
    /// each: the file after which `first` appeared and stayed, and whether it was there after
    /// every one. A replay that does not end with `first` (SQL that reads the clock or a random
    /// number) blames the last file, as a check at the end alone would.
    fn replay(&self, first: &Violation) -> (&'s str, bool) {
        let last = self.files.last().map_or("", |(name, _)| *name);
        if self.run.exec("BEGIN IMMEDIATE").is_err() {
            return (last, false);
        }
        let mut from = None;
        for (i, (_, stmts)) in self.files.iter().enumerate() {
            let found =
                run_statements(self.run, stmts).ok().and_then(|()| foreign_keys::check(self.run.conn, NOTED).ok());
            match found {
                Some(found) if found.contains(first) => from = from.or(Some(i)),
                Some(_) => from = None,
                None => {
                    from = None;
                    break;
                }
            }
        }
        self.run.rollback();
        match from {
            Some(i) => (self.files[i].0, i == 0),
            None => (last, false),
        }
    }
}

/// The one transaction procedure: `BEGIN IMMEDIATE`, `body`, then, when `fk` says foreign keys
/// are off (and so unchecked by SQLite), one `PRAGMA foreign_key_check` on the state the files
/// left, whose violations roll everything back and are blamed on the file that caused them;
/// `COMMIT`, or `ROLLBACK` on any failure, the commit's included.
pub(super) fn transaction<'s, T>(
    run: &Run<'_>,
    fk: Option<&ForeignKeysOff>,
    body: impl FnOnce(&mut Txn<'_, '_, 's>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    run.exec("BEGIN IMMEDIATE")?;
    let mut tx = Txn { run, check: fk.is_some(), files: Vec::new() };
    match body(&mut tx).and_then(|value| Ok((value, tx.verdict()?))) {
        Ok((value, None)) => run.exec("COMMIT").map(|()| value).inspect_err(|_| run.rollback()),
        Ok((_, Some((first, described)))) => {
            run.rollback();
            Err(tx.blame(&first, &described))
        }
        Err(e) => {
            run.rollback();
            Err(e)
        }
    }
}
