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
//! Steps 1 and 6 are `txn::foreign_keys_off`, steps 2 to 5 `txn::transaction`: every write here
//! goes through those two.
//!
//! Speed: on a database in rollback-journal mode, a run switches to WAL with
//! `synchronous=NORMAL` (one fsync-free commit per migration), then checkpoints with a full
//! sync and returns to the original journal mode before reporting success: every migration is
//! still atomic, and everything is durable when the run returns.

use super::statements::Statement;
use super::txn::{Failure, ForeignKeysOff, Run, check_foreign_keys, foreign_keys_off, run_statements, transaction};
use super::{DbError, history};
use crate::config::JournalMode;
use crate::embedded::Migration;
use crate::plan::{self, Applied};
use crate::sql_text::Directives;
use rusqlite::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

/// How many migrations a run applies between two releases of SQLite's clean cached pages.
const RELEASE_EVERY: usize = 16;

/// A migration that failed, with what had been applied before it.
#[derive(Debug, thiserror::Error)]
#[error("{failure}\n  {outcome}{left}{help}", failure = self.failure(), outcome = self.outcome(), left = self.left_behind(), help = self.help())]
pub struct MigrationFailed {
    pub file: String,
    /// The line of the failing statement; `None` when no single statement failed (violations
    /// found by the foreign-key check after the file ran, named by table and row instead).
    pub line: Option<usize>,
    pub message: String,
    /// The database the run was against (a path, or a URL without its password).
    pub database: String,
    /// Versions this run applied before the failure (and that stay applied).
    pub applied_before: Vec<u64>,
    /// The version the database is at now.
    pub version_now: u64,
    /// The file ran outside a transaction, so its earlier statements took effect.
    pub outside_transaction: bool,
    /// `--single-transaction`: everything this run did was rolled back.
    pub whole_run_rolled_back: bool,
    /// What the failed file left that must be undone by hand, each the exact SQL to run
    /// (PostgreSQL: the INVALID indexes a failed `no-transaction` file left).
    pub left_behind: Vec<String>,
    /// PostgreSQL: the connection to the server was lost while the file ran (a restart, a
    /// terminated session), so what committed is only known from the history.
    pub connection_lost: bool,
    /// What to do about it, when the caller knows more than the runner (the command line: the
    /// database holds another tool's history).
    pub help: Option<String>,
}

impl MigrationFailed {
    /// What failed, without what it left behind: `<file> failed at line N: <message>`.
    pub fn failure(&self) -> String {
        match self.line {
            Some(line) => format!("{} failed at line {line}: {}", self.file, self.message),
            None => format!("{} failed: {}", self.file, self.message),
        }
    }

    fn left_behind(&self) -> String {
        if self.left_behind.is_empty() {
            return String::new();
        }
        format!(
            "\n  it left INVALID indexes behind; drop them before retrying:\n    {}",
            self.left_behind.join("\n    ")
        )
    }

    fn help(&self) -> String {
        self.help.as_ref().map_or_else(String::new, |h| format!("\n  help: {h}"))
    }

    fn outcome(&self) -> String {
        let state = format!("the database is at version {}", self.version_now);
        if self.connection_lost {
            let lost = format!("the connection to the server of {} was lost while it ran", self.database);
            let again = "run `cargo envdb migrate` again: it continues from what the history records";
            if self.outside_transaction {
                format!(
                    "{lost}; it runs outside a transaction (`-- envdb: no-transaction`), so some of its statements may have taken effect; inspect it, then {again}"
                )
            } else {
                format!("{lost}; it is applied fully (with its history row) or not at all; {again}")
            }
        } else if self.outside_transaction {
            let took_effect = match self.line {
                Some(line) => format!("statements before line {line} took effect"),
                None => String::from("its statements took effect"),
            };
            format!(
                "it ran outside a transaction (`-- envdb: no-transaction`): {took_effect}; {state}; inspect it before retrying"
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
    /// Each migration applied, in order.
    pub applied: Vec<AppliedNow>,
}

/// One migration a run applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedNow {
    pub version: u64,
    /// The up file's name.
    pub name: String,
    /// How long it took.
    pub ms: u64,
}

impl AppliedNow {
    pub fn new(m: &Migration<'_>, ms: u64) -> AppliedNow {
        AppliedNow { version: m.version, name: m.name.to_owned(), ms }
    }
}

/// Events a caller may show while a run progresses.
pub enum Progress<'a> {
    /// How many migrations the run is about to apply.
    Planned(usize),
    Applying(&'a Migration<'a>),
    Applied(&'a Migration<'a>, Duration),
    /// PostgreSQL: `file` hit the lock timeout (SQLSTATE 55P03) and was rolled back; attempt
    /// `attempt` of `attempts` starts after `wait`.
    Retrying {
        file: &'a str,
        attempt: u32,
        attempts: u32,
        wait: Duration,
        message: String,
    },
}

impl Run<'_> {
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

impl MigrationFailed {
    /// The failure of `file` alone; `settled` adds what the run left.
    pub(super) fn bare(file: &str, database: &Path, (line, message): Failure) -> DbError {
        DbError::Migration(Box::new(MigrationFailed {
            file: file.to_owned(),
            line,
            message,
            database: database.display().to_string(),
            applied_before: Vec::new(),
            version_now: 0,
            outside_transaction: false,
            whole_run_rolled_back: false,
            left_behind: Vec::new(),
            connection_lost: false,
            help: None,
        }))
    }
}

/// Completes a failed file's error with what the run left: the version the database is at now
/// (read back; `at` when it cannot be), then what `left` says.
fn settled(run: &Run<'_>, mut e: DbError, at: u64, left: impl FnOnce(&mut MigrationFailed)) -> DbError {
    if let DbError::Migration(f) = &mut e {
        f.version_now = history::latest(run.conn).unwrap_or(at);
        left(f);
    }
    e
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
    // A run killed while it had switched to WAL for speed left the mode to return to.
    let interrupted = history::meta(conn, history::JOURNAL_MODE_TO_RESTORE).map_err(|e| run.err(e))?;
    let wanted_mode = opts.journal_mode.map(JournalMode::as_str);
    let applied = history::read(conn).map_err(|e| run.err(e))?;
    let before = applied.last().map_or(0, |a| a.version);
    let pending = plan::pending(migrations, &applied, opts.target)
        .map_err(|error| DbError::Plan { database: path.display().to_string(), error })?;
    let mut report = MigrateReport { before, after: before, applied: Vec::new() };
    if pending.is_empty() {
        if let (Some(mode), true) = (&interrupted, opts.fast_journal) {
            leave_fast_journal(&run, wanted_mode.unwrap_or(mode), true)?;
        }
        return Ok(report);
    }
    // Refuse before anything runs.
    let prepared = pending.iter().map(|m| prepare(m, opts.single_transaction)).collect::<Result<Vec<_>, _>>()?;
    super::quick_check(conn, path)?;
    progress(Progress::Planned(pending.len()));

    let found_mode = match interrupted.clone() {
        Some(mode) => mode,
        None => run.journal_mode()?,
    };
    if let Some(mode) = wanted_mode {
        run.set_journal_mode(mode)?;
    }
    let back = wanted_mode.unwrap_or(&found_mode).to_owned();
    let fast = opts.fast_journal && run.journal_mode()? != "memory";
    // The mode to return to is recorded (durably, before the switch) so that a run killed in
    // WAL is put back by the next one.
    let record = fast && back != "wal" && interrupted.as_deref() != Some(back.as_str());
    transaction(&run, None, |_| {
        history::ensure(conn, opts.environment.as_deref(), opts.project.as_deref())
            .and_then(
                |()| if record { history::set_meta(conn, history::JOURNAL_MODE_TO_RESTORE, &back) } else { Ok(()) },
            )
            .map_err(|e| run.err(e))
    })?;
    if fast && run.set_journal_mode("wal")? == "wal" {
        run.exec("PRAGMA synchronous = NORMAL")?;
    }

    let result = foreign_keys_off(&run, |fk| {
        if opts.single_transaction {
            apply_all_in_one(&run, fk, &pending, &prepared, &mut report, progress)
        } else {
            pending.iter().zip(&prepared).enumerate().try_for_each(|(i, (m, (d, stmts)))| {
                apply_one(&run, fk, m, d, stmts, &mut report, progress)?;
                // The pages earlier migrations wrote stay cached, clean, and are rarely read
                // again: freeing them now and then keeps a long run's memory flat at no cost to
                // one migration's own work.
                if (i + 1) % RELEASE_EVERY == 0 {
                    run.conn.release_memory().map_err(|e| run.err(e))?;
                }
                Ok(())
            })
        }
    });

    // Put the connection back as it was, durably, whatever happened.
    let restore = if fast { leave_fast_journal(&run, &back, record || interrupted.is_some()) } else { Ok(()) };
    result?;
    restore?;
    Ok(report)
}

/// Leaves the fast journal: `synchronous=FULL`, a checkpoint that truncates the WAL, then the
/// journal `mode` to keep. The record of the mode to return to (`recorded`) is removed only once
/// the database is back in that mode, so a crash at any point leaves a state the next run repairs.
fn leave_fast_journal(run: &Run<'_>, mode: &str, recorded: bool) -> Result<(), DbError> {
    run.exec("PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE);")?;
    let now = if mode == "wal" { String::from("wal") } else { run.set_journal_mode(mode)? };
    if recorded && now == mode {
        history::delete_meta(run.conn, history::JOURNAL_MODE_TO_RESTORE).map_err(|e| run.err(e))?;
    }
    Ok(())
}

/// The body of a `no-transaction` file, then the foreign-key check; it must leave no transaction
/// open: one left open (a SAVEPOINT never released) is rolled back and is the file's failure,
/// naming it.
fn run_outside(run: &Run<'_>, stmts: &[Statement<'_>]) -> Result<(), Failure> {
    run_statements(run, stmts)?;
    check_foreign_keys(run)?;
    if run.conn.is_autocommit() {
        return Ok(());
    }
    run.rollback();
    let opened =
        |s: &&Statement<'_>| matches!(super::statements::keyword(s.sql).as_deref(), Some("BEGIN" | "SAVEPOINT"));
    let line = stmts.iter().rev().find(opened).map(|s| s.line);
    Err((
        line,
        "the file left a transaction open (a BEGIN or SAVEPOINT that nothing commits or releases); what ran inside it was rolled back".into(),
    ))
}

/// Runs a `no-transaction` file; a failure says its earlier statements took effect.
fn apply_outside(
    run: &Run<'_>,
    m: &Migration<'_>,
    stmts: &[Statement<'_>],
    report: &MigrateReport,
) -> Result<(), DbError> {
    run_outside(run, stmts).map_err(|detail| {
        settled(run, MigrationFailed::bare(m.name, run.path, detail), report.after, |f| {
            f.outside_transaction = true;
            f.applied_before = report.applied.iter().map(|a| a.version).collect();
        })
    })
}

fn apply_one(
    run: &Run<'_>,
    fk: &ForeignKeysOff,
    m: &Migration<'_>,
    directives: &Directives,
    stmts: &[Statement<'_>],
    report: &mut MigrateReport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DbError> {
    progress(Progress::Applying(m));
    let start = Instant::now();
    let record = |ms| history::record(run.conn, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e));
    let record_after = |tail: &history::Tail, ms| {
        history::record_after(run.conn, tail, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e))
    };
    let ms = if directives.no_transaction {
        if history::is_applied(run.conn, m.version).map_err(|e| run.err(e))? {
            return Ok(());
        }
        apply_outside(run, m, stmts, report)?;
        let ms = start.elapsed().as_millis() as u64;
        transaction(run, None, |_| record(ms))?;
        ms
    } else {
        let done = transaction(run, Some(fk), |tx| {
            // Re-read inside the write lock: another runner may have applied it meanwhile.
            let tail = history::tail(run.conn, m.version).map_err(|e| run.err(e))?;
            if tail.applied {
                return Ok(None);
            }
            tx.run_file(m, stmts)?;
            let ms = start.elapsed().as_millis() as u64;
            record_after(&tail, ms).map(|()| Some(ms))
        })
        .map_err(|e| {
            settled(run, e, report.after, |f| f.applied_before = report.applied.iter().map(|a| a.version).collect())
        })?;
        match done {
            Some(ms) => ms,
            None => return Ok(()),
        }
    };
    report.after = m.version;
    report.applied.push(AppliedNow::new(m, ms));
    progress(Progress::Applied(m, start.elapsed()));
    Ok(())
}

fn apply_all_in_one(
    run: &Run<'_>,
    fk: &ForeignKeysOff,
    pending: &[&Migration<'_>],
    prepared: &[(Directives, Vec<Statement<'_>>)],
    report: &mut MigrateReport,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), DbError> {
    let before = report.clone();
    transaction(run, Some(fk), |tx| {
        for (m, (_, stmts)) in pending.iter().zip(prepared) {
            let tail = history::tail(run.conn, m.version).map_err(|e| run.err(e))?;
            if tail.applied {
                continue;
            }
            progress(Progress::Applying(m));
            let start = Instant::now();
            tx.run_file(m, stmts)?;
            let ms = start.elapsed().as_millis() as u64;
            history::record_after(run.conn, &tail, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e))?;
            report.after = m.version;
            report.applied.push(AppliedNow::new(m, ms));
            progress(Progress::Applied(m, start.elapsed()));
        }
        Ok(())
    })
    .map_err(|e| {
        *report = before;
        settled(run, e, report.before, |f| f.whole_run_rolled_back = true)
    })
}

/// A migration's down file as a migration of its own (its name, `NNNN_slug.down.sql`, is what
/// errors show).
pub(crate) fn down_file<'a>(m: &Migration<'a>, database: &str) -> Result<(String, &'a str), DbError> {
    let name = m.name.replace(".sql", ".down.sql");
    match m.down {
        Some(sql) => Ok((name, sql)),
        None => Err(DbError::Plan {
            database: database.to_owned(),
            error: plan::PlanError::NoDown { version: m.version, name: m.name.to_owned(), down: name },
        }),
    }
}

/// Reverts `steps` (newest first) with their down files, each in its own transaction.
pub fn rollback(conn: &Connection, path: &Path, steps: &[&Migration<'_>], busy: Duration) -> Result<Vec<u64>, DbError> {
    let run = Run { conn, path, busy };
    let mut done = Vec::new();
    foreign_keys_off(&run, |fk| {
        steps.iter().try_for_each(|m| {
            let (down_name, down) = down_file(m, &path.display().to_string())?;
            let as_migration = Migration { name: &down_name, up: down, ..**m };
            let (directives, stmts) = prepare(&as_migration, false)?;
            let unrecord = || history::unrecord(conn, m.version).map_err(|e| run.err(e));
            if directives.no_transaction {
                apply_outside(&run, &as_migration, &stmts, &MigrateReport::default())?;
                transaction(&run, None, |_| unrecord())?;
            } else {
                transaction(&run, Some(fk), |tx| {
                    tx.run_file(&as_migration, &stmts)?;
                    unrecord()
                })
                .map_err(|e| settled(&run, e, m.version, |_| {}))?;
            }
            done.push(m.version);
            Ok(())
        })
    })?;
    Ok(done)
}

/// Reverts the latest migration `m` with its down file and applies it again, both in one
/// transaction: when either fails, the database is exactly as it was. A migration that runs
/// outside a transaction (its up or its down file says `no-transaction`) cannot be redone
/// atomically and is refused before anything changes. Returns the up step's milliseconds.
pub fn redo(conn: &Connection, path: &Path, m: &Migration<'_>, busy: Duration) -> Result<u64, DbError> {
    let run = Run { conn, path, busy };
    let (down_name, down_sql) = down_file(m, &path.display().to_string())?;
    let down = Migration { name: &down_name, up: down_sql, ..*m };
    let (down_directives, down_stmts) = prepare(&down, false)?;
    let (up_directives, up_stmts) = prepare(m, false)?;
    for (directives, file) in [(&down_directives, down.name), (&up_directives, m.name)] {
        if directives.no_transaction {
            return Err(DbError::RedoOutsideTransaction { file: file.to_owned(), version: m.version });
        }
    }
    foreign_keys_off(&run, |fk| {
        transaction(&run, Some(fk), |tx| {
            tx.run_file(&down, &down_stmts)?;
            history::unrecord(conn, m.version).map_err(|e| run.err(e))?;
            let start = Instant::now();
            tx.run_file(m, &up_stmts)?;
            let ms = start.elapsed().as_millis() as u64;
            history::record(conn, m.version, m.name, m.checksum, ms).map_err(|e| run.err(e))?;
            Ok(ms)
        })
    })
    .map_err(|e| settled(&run, e, m.version, |f| f.whole_run_rolled_back = true))
}

/// Records versions `1..=n` as applied without running them (`baseline`), with the history
/// tables, in one transaction.
pub fn baseline(
    conn: &Connection,
    path: &Path,
    migrations: &[Migration<'_>],
    n: u64,
    environment: Option<&str>,
    busy: Duration,
) -> Result<(), DbError> {
    let now = history::now();
    let rows: Vec<_> = migrations.iter().take_while(|m| m.version <= n).map(|m| (m, now.as_str())).collect();
    record_applied(conn, path, &rows, environment, None, busy)
}

/// Records migrations as applied at the given times without running them (`baseline`, `adopt`),
/// with the history tables and an optional `envdb_meta` entry, in one transaction.
pub fn record_applied(
    conn: &Connection,
    path: &Path,
    rows: &[(&Migration<'_>, &str)],
    environment: Option<&str>,
    meta: Option<(&str, &str)>,
    busy: Duration,
) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    transaction(&run, None, |_| {
        history::ensure(conn, environment, None).map_err(|e| run.err(e))?;
        for (m, at) in rows {
            history::record_at(conn, m.version, m.name, m.checksum, 0, at).map_err(|e| run.err(e))?;
        }
        match meta {
            Some((key, value)) => history::set_meta(conn, key, value).map_err(|e| run.err(e)),
            None => Ok(()),
        }
    })
}

/// Replaces the recorded checksums of edited applied migrations (`repair`), in one transaction.
pub fn repair(
    conn: &Connection,
    path: &Path,
    changes: &[(&Applied, &Migration<'_>)],
    busy: Duration,
) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    transaction(&run, None, |_| {
        for (a, m) in changes {
            history::set_checksum(conn, a.version, m.checksum).map_err(|e| run.err(e))?;
        }
        history::set_meta(conn, "last_repair", &repair_record(changes)).map_err(|e| run.err(e))
    })
}

/// The `last_repair` meta value: when, and each version's checksum before and after.
pub(crate) fn repair_record(changes: &[(&Applied, &Migration<'_>)]) -> String {
    let audit = changes
        .iter()
        .map(|(a, m)| {
            format!("{}:{}->{}", a.version, plan::short_checksum(&a.checksum), plan::short_checksum(m.checksum))
        })
        .collect::<Vec<_>>()
        .join(",");
    format!("{} {audit}", history::now())
}

/// Runs a SQL script (a seed file) in one transaction: all of it or none, errors naming the file
/// and line like a migration's. Foreign keys are as the connection has them.
pub fn run_script(conn: &Connection, path: &Path, name: &str, sql: &str, busy: Duration) -> Result<(), DbError> {
    let run = Run { conn, path, busy };
    let as_migration = Migration { version: 0, name, up: sql, down: None, checksum: "" };
    let (_, stmts) = prepare(&as_migration, false)?;
    transaction(&run, None, |tx| tx.run_file(&as_migration, &stmts))
        .map_err(|e| settled(&run, e, 0, |f| f.whole_run_rolled_back = true))
}
