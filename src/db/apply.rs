//! The runner: applies and reverts migrations following SQLite's documented procedure for
//! schema changes, so that each migration (a table rebuild included) is atomic:
//!
//! 1. `PRAGMA foreign_keys=OFF`, outside any transaction (it is a no-op inside one);
//! 2. `BEGIN IMMEDIATE`, then the history is re-read inside the lock: a migration another
//!    runner applied meanwhile is skipped, so each is applied exactly once;
//! 3. the file's statements, one at a time as SQLite splits them;
//! 4. `PRAGMA foreign_key_check`: any violation rolls the migration back and is listed;
//! 5. the history row, `envdb_meta` and `user_version`, then `COMMIT`;
//! 6. `foreign_keys` restored.
//!
//! Speed: on a database in rollback-journal mode, a run switches to WAL with
//! `synchronous=NORMAL` (one fsync-free commit per migration), then checkpoints with a full
//! sync and returns to the original journal mode before reporting success: every migration is
//! still atomic, and everything is durable when the run returns.

use super::statements::Statement;
use super::{DbError, history};
use crate::config::JournalMode;
use crate::embedded::Migration;
use crate::plan::{self, Applied};
use crate::sql_text::Directives;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A migration that failed, with what had been applied before it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file} failed at line {line}: {message}\n  {outcome}",
    outcome = self.outcome()
)]
pub struct MigrationFailed {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// The database the run was against.
    pub database: PathBuf,
    /// Versions this run applied before the failure (and that stay applied).
    pub applied_before: Vec<u64>,
    /// The version the database is at now.
    pub version_now: u64,
    /// The file ran outside a transaction, so its earlier statements took effect.
    pub outside_transaction: bool,
    /// `--single-transaction`: everything this run did was rolled back.
    pub whole_run_rolled_back: bool,
}

impl MigrationFailed {
    fn outcome(&self) -> String {
        let state = format!("the database is at version {}", self.version_now);
        if self.outside_transaction {
            format!(
                "it ran outside a transaction (`-- envdb: no-transaction`): statements before line {} took effect; {state}; inspect it before retrying",
                self.line
            )
        } else if self.whole_run_rolled_back {
            format!("the whole run was rolled back; {state}")
        } else if self.applied_before.is_empty() {
            format!("it was rolled back completely; {state}")
        } else {
            format!(
                "it was rolled back completely; migrations {} of this run stay applied; {state}",
                self.applied_before.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// How a run applies migrations.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Stop at this version (default: the latest).
    pub target: Option<u64>,
    /// All pending migrations in one transaction: all or none.
    pub single_transaction: bool,
    /// Switch to WAL with `synchronous=NORMAL` for the run (see the module docs). Only safe when
    /// no application has the database open, which the caller checks.
    pub fast_journal: bool,
    /// A journal mode to leave the database in (envdb.toml's `journal_mode`).
    pub journal_mode: Option<JournalMode>,
    /// The environment the database belongs to: refused when it records another, recorded when
    /// it records none.
    pub environment: Option<String>,
    /// The project's name, recorded in a new database (restore refuses another project's backups).
    pub project: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrateReport {
    pub before: u64,
    pub after: u64,
    /// `(version, file, milliseconds)` for each migration applied.
    pub applied: Vec<(u64, String, u64)>,
}

/// Events a caller may show while a run progresses.
pub enum Progress<'a> {
    /// How many migrations the run is about to apply.
    Planned(usize),
    Applying(&'a Migration<'a>),
    Applied(&'a Migration<'a>, Duration),
}

struct Run<'c> {
    conn: &'c Connection,
    path: &'c Path,
    busy: Duration,
}

impl Run<'_> {
    fn err(&self, e: rusqlite::Error) -> DbError {
        DbError::sqlite(self.path, e, self.busy)
    }

    fn exec(&self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    fn rollback(&self) {
        // Some errors (a full disk, an I/O error) already rolled back; a second ROLLBACK is harmless.
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    fn fk_violations(&self) -> Result<Vec<String>, DbError> {
        super::foreign_key_violations(self.conn, 20).map_err(|e| self.err(e))
    }

    fn journal_mode(&self) -> Result<String, DbError> {
        self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    fn set_journal_mode(&self, mode: &str) -> Result<String, DbError> {
        self.conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0)).map_err(|e| self.err(e))
    }
}

/// The SQL of a migration split into statements, refusing it for the reasons `check` reports
/// (`sql_rules`: one function for both).
fn prepare<'a>(m: &'a Migration<'a>, single: bool) -> Result<(Directives, Vec<Statement<'a>>), DbError> {
    let reading = crate::sql_rules::read(m.up);
    if !reading.refusals.is_empty() {
        return Err(DbError::Refused { file: m.name.to_owned(), refusals: reading.refusals });
    }
    if single && reading.directives.no_transaction {
        return Err(DbError::NoTransactionInSingle { file: m.name.to_owned() });
    }
    Ok((reading.directives, reading.statements))
}

/// A SQLite message, with the line refined to the failing token when SQLite reports an offset.
fn describe(e: &rusqlite::Error, stmt: &Statement<'_>) -> (usize, String) {
    match e {
        rusqlite::Error::SqlInputError { msg, offset, .. } if *offset >= 0 => {
            (stmt.line_at(*offset as usize), msg.clone())
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => (stmt.line, msg.clone()),
        other => (stmt.line, other.to_string()),
    }
}

/// Applies the pending migrations. The caller holds the run lock.
pub fn migrate(
    conn: &Connection,
    path: &Path,
    migrations: &[Migration<'_>],
    opts: &MigrateOptions,
    busy: Duration,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<MigrateReport, DbError> {
    let run = Run { conn, path, busy };
    if let Some(env) = &opts.environment {
        super::check_environment(conn, path, env)?;
    }
    let applied = history::read(conn).map_err(|e| run.err(e))?;
    let before = applied.last().map_or(0, |a| a.version);
    let pending = plan::pending(migrations, &applied, opts.target)
        .map_err(|error| DbError::Plan { path: path.to_owned(), error })?;
    let mut report = MigrateReport { before, after: before, applied: Vec::new() };
    if pending.is_empty() {
        return Ok(report);
    }
    // Refuse before anything runs.
    let prepared = pending.iter().map(|m| prepare(m, opts.single_transaction)).collect::<Result<Vec<_>, _>>()?;
    super::quick_check(conn, path)?;
    progress(Progress::Planned(pending.len()));
    history::ensure(conn, opts.environment.as_deref(), opts.project.as_deref()).map_err(|e| run.err(e))?;

    let found_mode = run.journal_mode()?;
    let wanted_mode = opts.journal_mode.map(JournalMode::as_str);
    if let Some(mode) = wanted_mode {
        run.set_journal_mode(mode)?;
    }
    let fast = opts.fast_journal && run.journal_mode()? != "memory";
    if fast && run.set_journal_mode("wal")? == "wal" {
        run.exec("PRAGMA synchronous = NORMAL")?;
    }
    let fk_before: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).map_err(|e| run.err(e))?;
    run.exec("PRAGMA foreign_keys = OFF")?;

    let result = if opts.single_transaction {
        apply_all_in_one(&run, &pending, &prepared, &mut report, progress)
    } else {
        pending
            .iter()
            .zip(&prepared)
            .try_for_each(|(m, (d, stmts))| apply_one(&run, m, d, stmts, &mut report, progress))
    };

    // Put the connection back as it was, durably, whatever happened.
    let restore = (|| {
        run.exec(if fk_before { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" })?;
        if fast {
            run.exec("PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE);")?;
            let back = wanted_mode.unwrap_or(&found_mode);
            if back != "wal" {
                run.set_journal_mode(back)?;
            }
        }
        Ok::<(), DbError>(())
    })();
    result?;
    restore?;
    Ok(report)
}

fn run_statements(run: &Run<'_>, stmts: &[Statement<'_>]) -> Result<(), (usize, String)> {
    for s in stmts {
        if let Err(e) = run.conn.execute_batch(s.sql) {
            return Err(describe(&e, s));
        }
    }
    Ok(())
}

/// The statements, then `PRAGMA foreign_key_check`: a failure of either is the file's failure.
fn run_body(run: &Run<'_>, stmts: &[Statement<'_>]) -> Result<(), (usize, String)> {
    run_statements(run, stmts)?;
    match run.fk_violations() {
        Ok(v) if v.is_empty() => Ok(()),
        Ok(v) => Err(fk_failure(v)),
        Err(e) => Err((0, format!("checking foreign keys failed: {e}"))),
    }
}

/// The body of a `no-transaction` file, which must leave no transaction open: one left open (a
/// SAVEPOINT never released) is rolled back and is the file's failure, naming it.
fn run_outside(run: &Run<'_>, stmts: &[Statement<'_>]) -> Result<(), (usize, String)> {
    run_body(run, stmts)?;
    if run.conn.is_autocommit() {
        return Ok(());
    }
    run.rollback();
    let opened =
        |s: &&Statement<'_>| matches!(super::statements::keyword(s.sql).as_deref(), Some("BEGIN" | "SAVEPOINT"));
    let line = stmts.iter().rev().find(opened).map_or(0, |s| s.line);
    Err((
        line,
        "the file left a transaction open (a BEGIN or SAVEPOINT that nothing commits or releases); what ran inside it was rolled back".into(),
    ))
}

/// A failure of a `no-transaction` file: its earlier statements took effect.
fn failed_outside(run: &Run<'_>, m: &Migration<'_>, report: &MigrateReport, detail: (usize, String)) -> DbError {
    let mut e = failed(run, m, report, detail);
    if let DbError::Migration(f) = &mut e {
        f.outside_transaction = true;
    }
    e
}

fn failed(run: &Run<'_>, m: &Migration<'_>, report: &MigrateReport, (line, message): (usize, String)) -> DbError {
    let version_now = history::latest(run.conn).unwrap_or(report.after);
    DbError::Migration(Box::new(MigrationFailed {
        file: m.name.to_owned(),
        line,
        message,
        database: run.path.to_owned(),
        applied_before: report.applied.iter().map(|a| a.0).collect(),
        version_now,
        outside_transaction: false,
        whole_run_rolled_back: false,
    }))
}

fn fk_failure(violations: Vec<String>) -> (usize, String) {
    (0, format!("foreign key violations after the migration:\n    {}", violations.join("\n    ")))
}

fn apply_one(
    run: &Run<'_>,
    m: &Migration<'_>,
    directives: &Directives,
    stmts: &[Statement<'_>],
    report: &mut MigrateReport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DbError> {
    progress(Progress::Applying(m));
    let start = Instant::now();
    if directives.no_transaction {
        if history::is_applied(run.conn, m.version).map_err(|e| run.err(e))? {
            return Ok(());
        }
        if let Err(detail) = run_outside(run, stmts) {
            return Err(failed_outside(run, m, report, detail));
        }
        run.exec("BEGIN IMMEDIATE")?;
    } else {
        run.exec("BEGIN IMMEDIATE")?;
        // Re-read inside the write lock: another runner may have applied it meanwhile.
        if history::is_applied(run.conn, m.version).map_err(|e| run.err(e))? {
            run.rollback();
            return Ok(());
        }
        if let Err(detail) = run_body(run, stmts) {
            run.rollback();
            return Err(failed(run, m, report, detail));
        }
    }
    let ms = start.elapsed().as_millis() as u64;
    let recorded = history::record(run.conn, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e));
    if let Err(e) = recorded.and_then(|()| run.exec("COMMIT")) {
        run.rollback();
        return Err(e);
    }
    report.after = m.version;
    report.applied.push((m.version, m.name.to_owned(), ms));
    progress(Progress::Applied(m, start.elapsed()));
    Ok(())
}

fn apply_all_in_one(
    run: &Run<'_>,
    pending: &[&Migration<'_>],
    prepared: &[(Directives, Vec<Statement<'_>>)],
    report: &mut MigrateReport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DbError> {
    run.exec("BEGIN IMMEDIATE")?;
    let before = report.clone();
    let result = (|| {
        for (m, (_, stmts)) in pending.iter().zip(prepared) {
            if history::is_applied(run.conn, m.version).map_err(|e| run.err(e))? {
                continue;
            }
            progress(Progress::Applying(m));
            let start = Instant::now();
            run_statements(run, stmts).map_err(|detail| failed(run, m, report, detail))?;
            let ms = start.elapsed().as_millis() as u64;
            history::record(run.conn, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e))?;
            report.after = m.version;
            report.applied.push((m.version, m.name.to_owned(), ms));
            progress(Progress::Applied(m, start.elapsed()));
        }
        let violations = run.fk_violations()?;
        if let (false, Some(m)) = (violations.is_empty(), pending.last()) {
            return Err(failed(run, m, report, fk_failure(violations)));
        }
        run.exec("COMMIT")
    })();
    if let Err(mut e) = result {
        run.rollback();
        *report = before;
        if let DbError::Migration(f) = &mut e {
            f.whole_run_rolled_back = true;
            f.applied_before.clear();
            f.version_now = history::latest(run.conn).unwrap_or(report.before);
        }
        return Err(e);
    }
    Ok(())
}

/// Reverts `steps` (newest first) with their down files, each in its own transaction.
pub fn rollback(conn: &Connection, path: &Path, steps: &[&Migration<'_>], busy: Duration) -> Result<Vec<u64>, DbError> {
    let run = Run { conn, path, busy };
    let fk_before: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).map_err(|e| run.err(e))?;
    run.exec("PRAGMA foreign_keys = OFF")?;
    let mut done = Vec::new();
    let result = steps.iter().try_for_each(|m| {
        let down = m.down.expect("planned with a down file");
        let down_name = m.name.replace(".sql", ".down.sql");
        let as_migration = Migration { name: &down_name, up: down, ..**m };
        let (directives, stmts) = prepare(&as_migration, false)?;
        let report = MigrateReport::default();
        if directives.no_transaction {
            run_outside(&run, &stmts).map_err(|detail| failed_outside(&run, &as_migration, &report, detail))?;
            run.exec("BEGIN IMMEDIATE")?;
        } else {
            run.exec("BEGIN IMMEDIATE")?;
            if let Err(detail) = run_body(&run, &stmts) {
                run.rollback();
                return Err(failed(&run, &as_migration, &report, detail));
            }
        }
        if let Err(e) = history::unrecord(conn, m.version).map_err(|e| run.err(e)).and_then(|()| run.exec("COMMIT")) {
            run.rollback();
            return Err(e);
        }
        done.push(m.version);
        Ok(())
    });
    run.exec(if fk_before { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" })?;
    result.map(|()| done)
}

/// Records versions `1..=n` as applied without running them (`baseline`).
pub fn baseline(
    conn: &Connection,
    path: &Path,
    migrations: &[Migration<'_>],
    n: u64,
    environment: Option<&str>,
    busy: Duration,
) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    history::ensure(conn, environment, None).map_err(|e| run.err(e))?;
    run.exec("BEGIN IMMEDIATE")?;
    let result = migrations
        .iter()
        .take_while(|m| m.version <= n)
        .try_for_each(|m| history::record(conn, m.version, m.name, m.checksum, 0).map_err(|e| run.err(e)))
        .and_then(|()| run.exec("COMMIT"));
    if result.is_err() {
        run.rollback();
    }
    result
}

/// Replaces the recorded checksums of edited applied migrations (`repair`), in one transaction.
pub fn repair(
    conn: &Connection,
    path: &Path,
    changes: &[(&Applied, &Migration<'_>)],
    busy: Duration,
) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    run.exec("BEGIN IMMEDIATE")?;
    let result = changes
        .iter()
        .try_for_each(|(a, m)| history::set_checksum(conn, a.version, m.checksum).map_err(|e| run.err(e)))
        .and_then(|()| {
            let audit = changes
                .iter()
                .map(|(a, m)| {
                    format!("{}:{}->{}", a.version, &a.checksum[..12.min(a.checksum.len())], &m.checksum[..12])
                })
                .collect::<Vec<_>>()
                .join(",");
            history::set_meta(conn, "last_repair", &format!("{} {audit}", history::now())).map_err(|e| run.err(e))
        })
        .and_then(|()| run.exec("COMMIT"));
    if result.is_err() {
        run.rollback();
    }
    result
}

/// Runs a SQL script (a seed file) in one transaction: all of it or none, errors naming the file
/// and line like a migration's.
pub fn run_script(conn: &Connection, path: &Path, name: &str, sql: &str, busy: Duration) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    let as_migration = Migration { version: 0, name, up: sql, down: None, checksum: "" };
    let (_, stmts) = prepare(&as_migration, false)?;
    run.exec("BEGIN IMMEDIATE")?;
    if let Err(detail) = run_statements(&run, &stmts) {
        run.rollback();
        let mut e = failed(&run, &as_migration, &MigrateReport::default(), detail);
        if let DbError::Migration(f) = &mut e {
            f.whole_run_rolled_back = true;
        }
        return Err(e);
    }
    run.exec("COMMIT").inspect_err(|_| run.rollback())
}
