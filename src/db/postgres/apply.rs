//! The PostgreSQL runner. Each migration and its history row are one transaction sent as one
//! simple-query message (one round trip):
//!
//! `BEGIN; SET LOCAL envdb.history_write = on; <history row: the claim>; SET LOCAL
//! lock_timeout…; <the file>; COMMIT;`
//!
//! The run's last migration also carries the run's settle: every execution time measured and
//! `envdb_meta` moved to the history's newest row (one statement per run, not per migration).
//! A transaction that writes the digest (the run's first, which marks it `applying`, and its
//! last) takes the history's advisory lock first instead of only marking itself as envdb's.
//! A migration another runner applied meanwhile makes the claim a primary-key violation before
//! the file runs, and is skipped; a lock timeout
//! (55P03) is rolled back and retried with backoff. A failure is mapped back to its file and line:
//! from the server's error position through the message's layout, or, for an error without a
//! position in a file of several statements, by replaying the files statement by statement in a
//! transaction that is rolled back. `no-transaction` files run one statement at a time (split by
//! `pg_lex`), then their history row in a transaction of its own.

use super::Postgres;
use super::error::{code, describe};
use super::history::{Tables, is_already_applied};
use super::sql::{ident, rows};
use crate::db::DbError;
use crate::db::apply::{
    AppliedNow, MigrateOptions, MigrateReport, MigrationFailed, Progress, down_file, repair_record,
};
use crate::db::backend::Adopted;
use crate::embedded::Migration;
use crate::plan::{self, Applied};
use crate::sql_lex::{Dialect, Kind, Statement};
use crate::sql_text::Directives;
use std::time::{Duration, Instant};

/// A failure is replayed to find its statement only when it came this fast (a replay costs as
/// much again).
const REPLAY_LIMIT: Duration = Duration::from_secs(10);

/// One file in a transaction's message, with the history SQL before it (a claim) and after it.
pub(super) struct Unit<'a> {
    pub file: &'a str,
    pub sql: &'a str,
    pub statements: Vec<Statement<'a>>,
    pub head: String,
    pub tail: String,
    /// Marks the digest `applying` before the head ([`Tables::unseal`]).
    pub unseal: bool,
}

impl<'a> Unit<'a> {
    fn new(file: &'a str, sql: &'a str, statements: Vec<Statement<'a>>, head: String, tail: String) -> Unit<'a> {
        Unit { file, sql, statements, head, tail, unseal: false }
    }

    /// History SQL only, naming `file` in errors.
    fn history(file: &'a str, head: String, tail: String) -> Unit<'a> {
        Unit::new(file, "", Vec::new(), head, tail)
    }

    /// Whether it writes the history digest: marks it `applying`, or settles, reseals or
    /// unrecords in its tail (a claim alone leaves it to the run's first and last transactions).
    fn writes_digest(&self) -> bool {
        self.unseal || !self.tail.is_empty()
    }
}

/// What a run has written and not settled yet: execution times measured, and whether it marked
/// the digest `applying`.
#[derive(Default)]
pub(super) struct Unsettled {
    times: Vec<(u64, Option<u64>)>,
    unsealed: bool,
}

/// Why a transaction did not commit.
pub(super) enum TxError {
    /// A claim found the migration applied (by another runner): rolled back, nothing done.
    AlreadyApplied,
    Failed(Failure),
}

/// A failed transaction or statement: which unit, which line, the server's words.
pub(super) struct Failure {
    pub unit: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
    pub code: Option<String>,
}

/// The SQL of a file read for PostgreSQL, refused before anything runs for the reasons `check`
/// gives, and for quoted text or a comment that never closes (it would swallow what follows it
/// in the message).
fn prepare<'a>(file: &str, sql: &'a str, single: bool) -> Result<(Directives, Vec<Statement<'a>>), DbError> {
    let reading = crate::sql_rules::read_as(sql, Dialect::Postgres);
    if !reading.refusals.is_empty() {
        return Err(DbError::Refused { file: file.to_owned(), refusals: reading.refusals });
    }
    if single && reading.directives.no_transaction {
        return Err(DbError::NoTransactionInSingle { file: file.to_owned() });
    }
    if let Some(t) = reading.tokens.iter().find(|t| t.kind == Kind::Unterminated) {
        let message = String::from(
            "quoted text or a comment starts here and never ends (a missing closing quote, dollar quote or */); nothing was run",
        );
        return Err(DbError::Migration(Box::new(bare(file, "", Some(t.line), message))));
    }
    Ok((reading.directives, reading.statements))
}

fn bare(file: &str, database: &str, line: Option<usize>, message: String) -> MigrationFailed {
    MigrationFailed {
        file: file.to_owned(),
        line,
        message,
        database: database.to_owned(),
        applied_before: Vec::new(),
        version_now: 0,
        outside_transaction: false,
        whole_run_rolled_back: false,
        left_behind: Vec::new(),
        connection_lost: false,
        help: None,
    }
}

/// The file's line of the 1-based character `position` of `sql`.
fn line_of(sql: &str, statements: &[Statement<'_>], position: usize) -> usize {
    let offset = sql.char_indices().nth(position.saturating_sub(1)).map_or(sql.len(), |(i, _)| i);
    let start = |s: &Statement<'_>| s.sql.as_ptr() as usize - sql.as_ptr() as usize;
    match statements.iter().rev().find(|s| start(s) <= offset) {
        Some(s) => s.line_at(offset - start(s)),
        None => Statement { sql, line: 1, start_line: 1 }.line_at(offset),
    }
}

/// The message of a transaction and where each unit's file sits in it (in characters, as the
/// server counts error positions).
struct Message {
    text: String,
    chars: usize,
    files: Vec<(usize, usize)>,
}

impl Message {
    fn push(&mut self, sql: &str) {
        self.text.push_str(sql);
        self.chars += sql.chars().count();
    }

    /// A unit's file, its place recorded (each file's characters counted once).
    fn push_file(&mut self, sql: &str) {
        let chars = sql.chars().count();
        self.files.push((self.chars, chars));
        self.text.push_str(sql);
        self.chars += chars;
    }
}

fn exponential(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(4).saturating_sub(1))
}

impl Postgres {
    /// `SET LOCAL` of the timeouts migrations run under.
    fn timeouts(&self) -> String {
        let mut sql = format!("SET LOCAL lock_timeout = '{}ms';\n", self.opts.lock_timeout.as_millis());
        if let Some(t) = self.opts.statement_timeout {
            sql += &format!("SET LOCAL statement_timeout = '{}ms';\n", t.as_millis());
        }
        sql
    }

    /// `BEGIN`, envdb's mark (under the history's lock when a unit writes the digest), each
    /// unit's head, file and tail, `COMMIT`. The timeouts come after the first head, so a claim
    /// that waits for another runner's uncommitted claim of the same migration is not a lock
    /// timeout (it then fails as already applied, or goes through when that one rolls back).
    fn message(&self, units: &[Unit<'_>]) -> Message {
        let mut m = Message { text: String::new(), chars: 0, files: Vec::new() };
        m.push("BEGIN;\n");
        if units.iter().any(Unit::writes_digest) {
            m.push(&self.tables.xact_lock());
        } else {
            m.push(Tables::MARK);
        }
        for (i, u) in units.iter().enumerate() {
            if u.unseal {
                m.push(&self.tables.unseal());
            }
            m.push(&u.head);
            if i == 0 {
                m.push(&self.timeouts());
            }
            m.push_file(u.sql);
            m.push("\n;\n");
            m.push(&u.tail);
        }
        m.push("COMMIT;");
        m
    }

    /// Runs `units` in one transaction, one message; rolls back on any failure.
    pub(super) fn transact(&mut self, units: &[Unit<'_>]) -> Result<(), TxError> {
        let message = self.message(units);
        let start = Instant::now();
        let Err(e) = self.client.batch_execute(&message.text) else { return Ok(()) };
        // After an error the transaction is aborted (or was never begun): end it.
        let _ = self.client.batch_execute("ROLLBACK");
        if is_already_applied(&e, &self.tables.schema) {
            return Err(TxError::AlreadyApplied);
        }
        let code = code(&e).map(str::to_owned);
        let mut failure = Failure { unit: (units.len() == 1).then_some(0), line: None, message: describe(&e), code };
        let position = e.as_db_error().and_then(|db| match db.position() {
            Some(::postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
            _ => None,
        });
        if let Some(p) = position
            && let Some(i) = message.files.iter().position(|&(at, len)| at < p && p <= at + len)
        {
            let u = &units[i];
            failure.unit = Some(i);
            failure.line = Some(line_of(u.sql, &u.statements, p - message.files[i].0));
            return Err(TxError::Failed(failure));
        }
        match units {
            [only] if only.statements.len() == 1 => failure.line = Some(only.statements[0].line),
            _ if replayable(failure.code.as_deref()) && start.elapsed() <= REPLAY_LIMIT => {
                if let Some((unit, line)) = self.locate(units) {
                    (failure.unit, failure.line) = (Some(unit), Some(line));
                }
            }
            _ => {}
        }
        Err(TxError::Failed(failure))
    }

    /// Replays the files statement by statement in a transaction that is rolled back: the unit
    /// and line of the first statement that fails, if one does.
    fn locate(&mut self, units: &[Unit<'_>]) -> Option<(usize, usize)> {
        let begin = format!("BEGIN;\n{}", self.timeouts());
        self.client.batch_execute(&begin).ok()?;
        let mut found = None;
        'units: for (i, u) in units.iter().enumerate() {
            for s in &u.statements {
                if let Err(e) = self.client.batch_execute(s.sql) {
                    found = Some((i, statement_line(s, &e)));
                    break 'units;
                }
            }
        }
        let _ = self.client.batch_execute("ROLLBACK");
        found
    }

    /// [`Postgres::transact`], retried with backoff on a lock timeout (55P03) up to
    /// `lock_retries` times, each retry told to `progress`.
    pub(super) fn transact_retrying(
        &mut self,
        units: &[Unit<'_>],
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<(), TxError> {
        let attempts = self.opts.lock_retries + 1;
        for attempt in 1.. {
            match self.transact(units) {
                Err(TxError::Failed(f)) if f.code.as_deref() == Some("55P03") && attempt < attempts => {
                    let wait = exponential(attempt);
                    let file = f.unit.map_or(units[0].file, |i| units[i].file);
                    progress(Progress::Retrying { file, attempt: attempt + 1, attempts, wait, message: f.message });
                    std::thread::sleep(wait);
                }
                Err(TxError::Failed(mut f)) if f.code.as_deref() == Some("55P03") => {
                    f.message = format!(
                        "{} ({attempt} attempts, each waiting up to lock_timeout = {:?} for a lock another session holds)\n  help: find the session holding it (pg_stat_activity, pg_locks) or raise lock_timeout or lock_retries",
                        f.message, self.opts.lock_timeout
                    );
                    return Err(TxError::Failed(f));
                }
                other => return other,
            }
        }
        Ok(())
    }

    /// A failure as the error a user reads.
    fn failed(&mut self, units: &[Unit<'_>], f: Failure, at: u64, fill: impl FnOnce(&mut MigrationFailed)) -> DbError {
        let file = match f.unit {
            Some(i) => units[i].file.to_owned(),
            None => match units {
                [first, .., last] => format!("one of {} … {}", first.file, last.file),
                [only] => only.file.to_owned(),
                [] => String::new(),
            },
        };
        let mut e = bare(&file, &self.label, f.line, f.message);
        e.connection_lost = self.client.is_closed() || f.code.as_deref().is_some_and(lost);
        e.version_now = self.history_latest().unwrap_or(at);
        fill(&mut e);
        DbError::Migration(Box::new(e))
    }

    fn history_latest(&mut self) -> Option<u64> {
        use crate::db::backend::Database as _;
        self.latest().ok()
    }

    pub(super) fn migrate_inner(
        &mut self,
        migrations: &[Migration<'_>],
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<MigrateReport, DbError> {
        use crate::db::backend::Database as _;
        if let Some(env) = &opts.environment {
            self.check_environment(env)?;
        }
        let applied = self.applied()?;
        let before = applied.last().map_or(0, |a| a.version);
        let pending = plan::pending(migrations, &applied, opts.target)
            .map_err(|error| DbError::Plan { database: self.label.clone(), error })?;
        let mut report = MigrateReport { before, after: before, applied: Vec::new() };
        if pending.is_empty() {
            return Ok(report);
        }
        let prepared = pending
            .iter()
            .map(|m| prepare(m.name, m.up, opts.single_transaction))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.labelled(e))?;
        progress(Progress::Planned(pending.len()));
        self.ensure(opts.environment.as_deref(), opts.project.as_deref())?;
        if opts.single_transaction {
            let mut units: Vec<Unit<'_>> =
                pending.iter().zip(prepared).map(|(m, (_, statements))| self.unit(m, statements)).collect();
            if let Some(last) = units.last_mut() {
                last.tail = self.tables.settle(&[]);
            }
            pending.iter().for_each(|m| progress(Progress::Applying(m)));
            let start = Instant::now();
            return match self.transact_retrying(&units, progress) {
                Ok(()) => {
                    // One transaction has one time: each migration records its share (its claim
                    // recorded 0, and the transaction's own settle moved the rest already).
                    let ms = start.elapsed().as_millis() as u64 / pending.len().max(1) as u64;
                    if ms > 0 {
                        let times = pending.iter().map(|m| (m.version, Some(ms))).collect();
                        self.settle_run(&Unsettled { times, unsealed: false });
                    }
                    for m in &pending {
                        report.after = m.version;
                        report.applied.push(AppliedNow::new(m, ms));
                        progress(Progress::Applied(m, Duration::from_millis(ms)));
                    }
                    Ok(report)
                }
                // Another runner applied some meanwhile: plan again from what is recorded now.
                Err(TxError::AlreadyApplied) => self.migrate_inner(migrations, opts, progress),
                Err(TxError::Failed(f)) => Err(self.failed(&units, f, before, |e| e.whole_run_rolled_back = true)),
            };
        }
        let mut run = Unsettled::default();
        let outcome = self.apply_each(&pending, prepared, &mut report, &mut run, progress);
        self.settle_run(&run);
        outcome.map(|()| report)
    }

    /// Applies `pending` one transaction each: the first one that is not the last also marks
    /// the digest `applying`, the last one carries the run's settle.
    fn apply_each<'a>(
        &mut self,
        pending: &[&Migration<'a>],
        prepared: Vec<(Directives, Vec<Statement<'a>>)>,
        report: &mut MigrateReport,
        run: &mut Unsettled,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<(), DbError> {
        let last = pending.len() - 1;
        for (i, (m, (directives, statements))) in pending.iter().zip(prepared).enumerate() {
            progress(Progress::Applying(m));
            let start = Instant::now();
            let done = if directives.no_transaction {
                // Its history row comes with a settle of its own.
                let done = self.apply_outside(m, &statements, report)?;
                run.unsealed &= !done;
                done
            } else {
                let mut unit = self.unit(m, statements);
                if i == last {
                    unit.tail = self.tables.settle(&[&run.times[..], &[(m.version, None)]].concat());
                } else {
                    unit.unseal = !run.unsealed;
                }
                match self.transact_retrying(std::slice::from_ref(&unit), progress) {
                    Ok(()) if i == last => {
                        *run = Unsettled::default();
                        true
                    }
                    Ok(()) => {
                        run.unsealed = true;
                        run.times.push((m.version, Some(start.elapsed().as_millis() as u64)));
                        true
                    }
                    Err(TxError::AlreadyApplied) => false,
                    Err(TxError::Failed(f)) => {
                        let before: Vec<u64> = report.applied.iter().map(|a| a.version).collect();
                        return Err(self.failed(&[unit], f, report.after, |e| e.applied_before = before));
                    }
                }
            };
            if done {
                report.after = m.version;
                report.applied.push(AppliedNow::new(m, start.elapsed().as_millis() as u64));
                progress(Progress::Applied(m, start.elapsed()));
            }
        }
        Ok(())
    }

    /// Settles what a run left unsettled (its last migration was applied by another runner, or
    /// one failed), best effort, in a transaction of envdb's own (so the history's trigger leaves
    /// the digest to it): what it leaves undone, the next run or open does.
    fn settle_run(&mut self, run: &Unsettled) {
        if run.unsealed || !run.times.is_empty() {
            let unit = Unit::history("the run's settle", String::new(), self.tables.settle(&run.times));
            let _ = self.transact(&[unit]);
        }
    }

    /// Migration `m` as a unit: claimed, then its file.
    fn unit<'a>(&self, m: &Migration<'a>, statements: Vec<Statement<'a>>) -> Unit<'a> {
        Unit::new(m.name, m.up, statements, self.tables.claim(m.version, m.name, m.checksum, None), String::new())
    }

    /// The refusal errors of `prepare` name no database; a failure there gets this one's label.
    fn labelled(&self, mut e: DbError) -> DbError {
        if let DbError::Migration(f) = &mut e {
            f.database = self.label.clone();
        }
        e
    }

    /// Whether `version` is recorded.
    fn is_applied(&mut self, version: u64) -> Result<bool, DbError> {
        let sql = format!("SELECT 1 FROM {} WHERE version = {version}", self.tables.migrations);
        rows(&mut self.client, &sql).map(|r| !r.is_empty()).map_err(|e| self.err(&e))
    }

    /// `(schema, name)` of every INVALID index.
    fn invalid_indexes(&mut self) -> Result<Vec<(String, String)>, DbError> {
        let sql = "SELECT n.nspname, c.relname FROM pg_catalog.pg_index i \
                   JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                   WHERE NOT i.indisvalid ORDER BY 1, 2";
        let found = rows(&mut self.client, sql).map_err(|e| self.err(&e))?;
        Ok(found.into_iter().map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default())).collect())
    }

    /// Runs a `no-transaction` file one statement at a time, then records it in a transaction
    /// of its own. `Ok(false)`: it was applied already. A failure lists the INVALID indexes it
    /// left, each with the `DROP INDEX` to run.
    fn apply_outside(
        &mut self,
        m: &Migration<'_>,
        statements: &[Statement<'_>],
        report: &MigrateReport,
    ) -> Result<bool, DbError> {
        if self.is_applied(m.version)? {
            return Ok(false);
        }
        let invalid_before = self.invalid_indexes()?;
        let start = Instant::now();
        if let Err(f) = self.run_outside(statements) {
            let left_behind = self
                .invalid_indexes()
                .unwrap_or_default()
                .into_iter()
                .filter(|i| !invalid_before.contains(i))
                .map(|(schema, name)| format!("DROP INDEX CONCURRENTLY IF EXISTS {}.{};", ident(&schema), ident(&name)))
                .collect();
            let before: Vec<u64> = report.applied.iter().map(|a| a.version).collect();
            return Err(self.failed(&[record_unit(m)], f, report.after, |e| {
                e.outside_transaction = true;
                e.applied_before = before;
                e.left_behind = left_behind;
            }));
        }
        let ms = start.elapsed().as_millis() as u64;
        let record =
            Unit::history(m.name, self.tables.claim(m.version, m.name, m.checksum, Some(ms)), self.tables.settle(&[]));
        match self.transact(&[record]) {
            Ok(()) => Ok(true),
            Err(TxError::AlreadyApplied) => Ok(false),
            Err(TxError::Failed(f)) => Err(self.failed(&[record_unit(m)], f, report.after, |_| {})),
        }
    }

    /// Each statement on its own (no transaction around them).
    fn run_outside(&mut self, statements: &[Statement<'_>]) -> Result<(), Failure> {
        for s in statements {
            if let Err(e) = self.client.batch_execute(s.sql) {
                return Err(Failure {
                    unit: Some(0),
                    line: Some(statement_line(s, &e)),
                    message: describe(&e),
                    code: code(&e).map(str::to_owned),
                });
            }
        }
        Ok(())
    }

    pub(super) fn rollback_inner(&mut self, steps: &[&Migration<'_>]) -> Result<Vec<u64>, DbError> {
        let mut done = Vec::new();
        for m in steps {
            let (down_name, down) = down_file(m, &self.label)?;
            let (directives, statements) = prepare(&down_name, down, false).map_err(|e| self.labelled(e))?;
            let unrecord = self.tables.unrecord(m.version);
            if directives.no_transaction {
                let as_migration = Migration { name: &down_name, up: down, ..**m };
                if let Err(f) = self.run_outside(&statements) {
                    let unit = record_unit(&as_migration);
                    return Err(self.failed(&[unit], f, m.version, |e| e.outside_transaction = true));
                }
                let unit = Unit::history(&down_name, String::new(), unrecord);
                if let Err(TxError::Failed(f)) = self.transact(std::slice::from_ref(&unit)) {
                    return Err(self.failed(&[unit], f, m.version, |_| {}));
                }
            } else {
                let unit = Unit::new(&down_name, down, statements, String::new(), unrecord);
                if let Err(TxError::Failed(f)) = self.transact_retrying(std::slice::from_ref(&unit), &mut |_| {}) {
                    return Err(self.failed(&[unit], f, m.version, |_| {}));
                }
            }
            done.push(m.version);
        }
        Ok(done)
    }

    pub(super) fn redo_inner(&mut self, m: &Migration<'_>) -> Result<u64, DbError> {
        let (down_name, down_sql) = down_file(m, &self.label)?;
        let (down_directives, down_statements) = prepare(&down_name, down_sql, false).map_err(|e| self.labelled(e))?;
        let (up_directives, up_statements) = prepare(m.name, m.up, false).map_err(|e| self.labelled(e))?;
        for (directives, file) in [(&down_directives, down_name.as_str()), (&up_directives, m.name)] {
            if directives.no_transaction {
                return Err(DbError::RedoOutsideTransaction { file: file.to_owned(), version: m.version });
            }
        }
        let units = [
            Unit::new(&down_name, down_sql, down_statements, String::new(), self.tables.unrecord(m.version)),
            Unit { tail: self.tables.settle(&[(m.version, None)]), ..self.unit(m, up_statements) },
        ];
        let start = Instant::now();
        match self.transact_retrying(&units, &mut |_| {}) {
            Ok(()) | Err(TxError::AlreadyApplied) => Ok(start.elapsed().as_millis() as u64),
            Err(TxError::Failed(f)) => Err(self.failed(&units, f, m.version, |e| e.whole_run_rolled_back = true)),
        }
    }

    /// Runs `tail` (history SQL only) in a transaction under the history's lock.
    fn write_history(&mut self, what: &str, tail: String) -> Result<(), DbError> {
        let unit = Unit::history(what, String::new(), tail);
        let message = match self.transact(std::slice::from_ref(&unit)) {
            Ok(()) => return Ok(()),
            Err(TxError::AlreadyApplied) => {
                format!("{what}: another run recorded a migration meanwhile; nothing was written (run `status`)")
            }
            Err(TxError::Failed(f)) => f.message,
        };
        Err(DbError::from(super::PgError::Server { label: self.label.clone(), message }))
    }

    pub(super) fn baseline_inner(
        &mut self,
        migrations: &[Migration<'_>],
        n: u64,
        environment: Option<&str>,
    ) -> Result<(), DbError> {
        self.ensure(environment, None)?;
        let recorded: Vec<_> = migrations.iter().take_while(|m| m.version <= n).collect();
        let mut tail: String =
            recorded.iter().map(|m| self.tables.claim(m.version, m.name, m.checksum, Some(0))).collect();
        tail += &self.tables.settle(&[]);
        self.write_history("baseline", tail)
    }

    pub(super) fn adopt_inner(&mut self, a: &Adopted<'_>) -> Result<(), DbError> {
        self.ensure(a.environment, None)?;
        let mut tail: String = a
            .migrations
            .iter()
            .zip(a.applied_at)
            .map(|(m, at)| self.tables.claim_at(m.version, m.name, m.checksum, Some(0), Some(at)))
            .collect();
        tail += &self.tables.settle(&[]);
        tail += &self.tables.set_meta("adopted_from", a.from);
        self.write_history("adopt", tail)
    }

    pub(super) fn repair_inner(&mut self, changes: &[(&Applied, &Migration<'_>)]) -> Result<(), DbError> {
        let mut tail: String = changes.iter().map(|(a, m)| self.tables.set_checksum(a.version, m.checksum)).collect();
        tail += &self.tables.reseal();
        tail += &self.tables.set_meta("last_repair", &repair_record(changes));
        self.write_history("repair", tail)
    }

    pub(super) fn run_script_inner(&mut self, name: &str, sql: &str) -> Result<(), DbError> {
        let (_, statements) = prepare(name, sql, false).map_err(|e| self.labelled(e))?;
        let unit = Unit::new(name, sql, statements, String::new(), String::new());
        match self.transact_retrying(std::slice::from_ref(&unit), &mut |_| {}) {
            Ok(()) | Err(TxError::AlreadyApplied) => Ok(()),
            Err(TxError::Failed(f)) => Err(self.failed(&[unit], f, 0, |e| e.whole_run_rolled_back = true)),
        }
    }
}

/// The line of statement `s` its error points at (the statement's first line without a position).
fn statement_line(s: &Statement<'_>, e: &::postgres::Error) -> usize {
    match e.as_db_error().and_then(|db| db.position()) {
        Some(::postgres::error::ErrorPosition::Original(p)) => s.line_at_char(*p as usize),
        _ => s.line,
    }
}

/// A unit naming `m`'s file only (for errors of what surrounds it).
fn record_unit<'a>(m: &Migration<'a>) -> Unit<'a> {
    Unit::history(m.name, String::new(), String::new())
}

/// Whether a SQLSTATE says the session is gone: a connection exception (08) or the server
/// shutting down or terminating it (57P01…57P05).
fn lost(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P")
}

/// Whether an error is worth a replay to find its statement: a server error that a replay
/// would meet again, not a lock or statement timeout, a lost connection or a shutdown.
fn replayable(code: Option<&str>) -> bool {
    match code {
        Some(c) => !(c == "55P03" || c == "57014" || lost(c)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_maps_to_the_file_line() {
        let sql = "-- one\n-- two\n\nCREATE TABLE t (a int);\n\nINSERT INTO t\nVALUES (nope);\n";
        let statements = crate::pg_lex::split(sql);
        let at = |needle: &str| sql[..sql.find(needle).unwrap()].chars().count() + 1;
        assert_eq!(line_of(sql, &statements, at("nope")), 7);
        assert_eq!(line_of(sql, &statements, at("CREATE")), 4);
        assert_eq!(line_of(sql, &statements, 1), 4);
    }
}
