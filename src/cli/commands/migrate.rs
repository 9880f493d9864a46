//! `cargo envdb migrate`: apply pending migrations.

use crate::cli::Ctx;
use crate::cli::output::above;
use crate::cli::target::{DbArgs, MUST_PASS_CHECK, Place, Target};
use crate::db::DbError;
use crate::db::apply::{MigrateOptions, MigrateReport, Progress};
use crate::db::location::Location;
use crate::import::{Tool, foreign};
use crate::plan::{self, Applied};
use crate::problem::CheckFailed;
use serde::Serialize;
use std::process::ExitCode;

/// Apply pending migrations, each in its own transaction
///
/// Example: `cargo envdb migrate --env test --to 3 --dry-run`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Stop at this version
    #[arg(long, value_name = "N")]
    to: Option<u64>,
    /// Print what would run and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Apply everything in one transaction: all or nothing
    #[arg(long)]
    single_transaction: bool,
    /// Create a missing server database even for a protected environment
    #[arg(long)]
    create: bool,
}

/// `migrate --format json`: the versions before and after, and the history row of each migration
/// this run applied.
#[derive(Serialize)]
struct Migrated {
    dry_run: bool,
    before: u64,
    after: u64,
    applied: Vec<Applied>,
}

/// The migrations `migrate` would apply, without changing anything.
pub fn pending<'m, 'a>(
    target: &Target,
    migrations: &'m [crate::Migration<'a>],
    to: Option<u64>,
) -> anyhow::Result<Vec<&'m crate::Migration<'a>>> {
    let applied = target.applied()?;
    Ok(plan::pending(migrations, &applied, to)
        .map_err(|error| DbError::Plan { database: target.location.label(), error })?)
}

/// Applies pending migrations under the run lock, printing each. A database this run created and
/// could not bring past version 0 is removed again, so a failed first run leaves nothing behind.
/// The migrations are checked first, so a refusal creates nothing (not even the data directory).
pub fn apply_pending(
    ctx: &mut Ctx,
    target: &Target,
    to: Option<u64>,
    single: bool,
    create: bool,
) -> anyhow::Result<MigrateReport> {
    // The database is read (a server's round trips) while the files are read and checked; the
    // files' verdict comes first.
    let (migrations, found) = std::thread::scope(|s| {
        let found = s.spawn(|| Found::read(target));
        let migrations = target.migrations();
        (migrations, found.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    apply_found(ctx, target, &migrations?, found, to, single, create)
}

/// [`apply_pending`] with what a read-only look at the database `found` before the run lock.
fn apply_found(
    ctx: &mut Ctx,
    target: &Target,
    migrations: &[crate::Migration<'_>],
    found: Result<Found, DbError>,
    to: Option<u64>,
    single: bool,
    create: bool,
) -> anyhow::Result<MigrateReport> {
    let found = found?;
    // A plain `migrate` with nothing to do: no run lock, no second connection.
    if let Some(report) = found.nothing_to_do(migrations, to) {
        return Ok(report);
    }
    if let Found::Missing = found {
        target.create_absent(ctx, create)?;
    }
    let _lock = target.run_lock(ctx)?;
    // Keeping applications out (when none runs) allows the fast journal and the cleanup below.
    let apps_out = target.location.keep_apps_out()?;
    apply_at(ctx, target, &target.location, migrations, to, single, apps_out.is_some())
}

/// What a run finds before taking the run lock, over one read-only connection.
enum Found {
    /// No database yet: `create_absent` makes it (or refuses).
    Missing,
    /// A database the locked run has to look at: no environment recorded yet (or another one's),
    /// or an interrupted run's work to finish (SQLite's journal mode to restore).
    Unsettled,
    /// A database that records this environment, with this history.
    Settled(Vec<Applied>),
}

impl Found {
    fn read(place: &Place) -> Result<Found, DbError> {
        let Some(mut db) = place.open_existing_read_only()? else { return Ok(Found::Missing) };
        if db.meta("environment")?.as_deref() != Some(place.env.name())
            || db.meta(crate::db::history::JOURNAL_MODE_TO_RESTORE)?.is_some()
        {
            return Ok(Found::Unsettled);
        }
        Ok(Found::Settled(db.applied()?))
    }

    /// A plain run's report when this history has nothing pending for `migrations`.
    fn nothing_to_do<M: plan::Planned>(&self, migrations: &[M], to: Option<u64>) -> Option<MigrateReport> {
        let Found::Settled(applied) = self else { return None };
        if to.is_some() || !plan::pending(migrations, applied, None).is_ok_and(|p| p.is_empty()) {
            return None;
        }
        let at = applied.last().map_or(0, |a| a.version);
        Some(MigrateReport { before: at, after: at, applied: Vec::new() })
    }
}

/// `apply_pending` for a caller that already holds the run lock; `apps_out` says whether it also
/// keeps applications out (holds `<db>.lock` exclusively).
pub fn apply_pending_locked(
    ctx: &mut Ctx,
    target: &Target,
    migrations: &[crate::Migration<'_>],
    to: Option<u64>,
    single: bool,
    apps_out: bool,
) -> anyhow::Result<MigrateReport> {
    apply_at(ctx, target, &target.location, migrations, to, single, apps_out)
}

/// Applies the target's pending migrations to the database at `at`: the target's own, or the
/// new one `reset` builds beside it (which no application can have open: `apps_out`).
pub fn apply_at(
    ctx: &mut Ctx,
    target: &Target,
    at: &Location,
    migrations: &[crate::Migration<'_>],
    to: Option<u64>,
    single: bool,
    apps_out: bool,
) -> anyhow::Result<MigrateReport> {
    // A server database is created (and said so) before the run lock: only a file is made here.
    let created = at.created_on_open() && !at.exists();
    // The environment the database records is checked by the run itself.
    let mut db = target.connect_at(at, true, false)?;
    let opts = MigrateOptions {
        target: to,
        single_transaction: single,
        // Switching the journal mode for speed is only safe while no application has it open.
        fast_journal: apps_out,
        journal_mode: target.project.config.journal_mode,
        environment: Some(target.env.name().to_owned()),
        project: Some(target.project.name()),
    };
    // A line per migration (past a screenful, only with -v); on a terminal, once the run has
    // taken a second, a progress line below them: done / total, the file running, the time.
    let mut bar = None;
    let mut planned = 0;
    let verbose = ctx.out.verbose > 0;
    let out = &mut ctx.out;
    let dir = &target.dir;
    let result = db.migrate(migrations, &opts, &mut |p| match p {
        Progress::Planned(n) => {
            planned = n;
            bar = Some(out.steps("Migrating", n as u64));
        }
        Progress::Applying(m) => bar.iter().for_each(|b| b.step(m.name)),
        Progress::Applied(m, took) => {
            if planned <= 20 || verbose {
                let line = format!("{} ({} ms)", dir.show(m.name), took.as_millis());
                above(bar.as_ref(), || out.status("Applied", line));
            }
            bar.iter().for_each(|b| b.advance());
        }
        Progress::Retrying { file, attempt, attempts, wait, message } => {
            let line = format!(
                "{}: {message}; retrying (attempt {attempt} of {attempts}) in {} ms",
                dir.show(file),
                wait.as_millis()
            );
            above(bar.as_ref(), || out.warn(line));
        }
    });
    drop(bar);
    let mut result = result.map_err(|e| target.locate(e));
    // A first run that fails on a database another tool migrated: it was not adopted.
    if let Err(DbError::Migration(f)) = &mut result
        && f.version_now == 0
        && f.applied_before.is_empty()
    {
        f.help = other_tool_history(db.as_mut()).map(|(tool, what)| {
            format!(
                "{} holds {tool}'s history ({what}) and no envdb history: {tool} migrated it, so its migrations ran already; switch with `cargo envdb import --from {tool}` (once, if not done yet) and `cargo envdb adopt --from {tool} --env {}`, which records what {tool} applied; then `migrate` applies only what is new",
                f.database,
                target.env.name()
            )
        });
    }
    // Removing a new database is only safe while no application can have opened it meanwhile.
    if result.is_err() && created && apps_out && db.latest().unwrap_or(1) == 0 {
        drop(db);
        at.remove_created();
    }
    Ok(result?)
}

/// The tool whose history table `db` holds with something applied, and what it records
/// (`_sqlx_migrations: 3 applied`). golang-migrate is asked before dbmate: both name their table
/// `schema_migrations`, and only golang-migrate's has a `dirty` column.
fn other_tool_history(db: &mut dyn crate::db::backend::Database) -> Option<(Tool, String)> {
    let order = [Tool::Sqlx, Tool::Diesel, Tool::Refinery, Tool::GolangMigrate, Tool::Dbmate, Tool::Goose];
    order.into_iter().find_map(|tool| {
        let q = foreign::query(tool);
        let rows = db.foreign_rows(q.table, q.columns, q.order_by).ok()??;
        let what = match foreign::interpret(tool, &rows) {
            Ok(foreign::ForeignState::Rows(applied)) if applied.is_empty() => return None,
            Ok(foreign::ForeignState::UpTo(None)) => return None,
            Ok(foreign::ForeignState::Rows(applied)) => format!("{}: {} applied", q.table, applied.len()),
            Ok(foreign::ForeignState::UpTo(Some(v))) => format!("{}: at version {v}", q.table),
            Err(e) => format!("{}: {e}", q.table),
        };
        Some((tool, what))
    })
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let place = Place::resolve(ctx, &args.db)?;
    // A plain run in an unprotected environment: when the cache says no file changed since the
    // last check and the history has nothing pending, that is the answer (no file read, no run
    // lock). Otherwise the files are read, checked and applied as below.
    let (target, found) = if args.dry_run || args.to.is_some() || place.env.protected() {
        let dir = place.read_migrations()?;
        (Target { place, dir }, None)
    } else {
        let (checked, found) = std::thread::scope(|s| {
            let found = s.spawn(|| Found::read(&place));
            (place.checked(), found.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        let checked = checked?;
        if checked.dir.is_none() {
            if !checked.report.is_ok() {
                return Err(anyhow::Error::new(CheckFailed(checked.report)).context(MUST_PASS_CHECK));
            }
            if let Some(report) = found.as_ref().ok().and_then(|f| f.nothing_to_do(&checked.migrations, None)) {
                return report_migrated(ctx, &place, &report);
            }
        }
        (Target::of_checked(place, checked)?, Some(found))
    };
    if args.dry_run {
        let migrations = target.migrations()?;
        let pending = pending(&target, &migrations, args.to)?;
        if ctx.out.json() {
            let names: Vec<_> =
                pending.iter().map(|m| serde_json::json!({"version": m.version, "file": m.name})).collect();
            ctx.out.print_json(&serde_json::json!({ "dry_run": true, "pending": names }));
        } else {
            for m in &pending {
                ctx.out.status("Would apply", target.dir.show(m.name));
            }
            ctx.out.status("Dry run", format!("{} migration(s) pending; nothing changed", pending.len()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (to, single, create) = (args.to, args.single_transaction, args.create);
    let report = target.write(ctx, "migrate", false, |ctx| match found {
        Some(found) => apply_found(ctx, &target, &target.migrations()?, found, to, single, create),
        None => apply_pending(ctx, &target, to, single, create),
    })?;
    report_migrated(ctx, &target, &report)
}

/// Prints what a run did: `Fresh` or `Migrated`, or the JSON of the history rows it wrote.
fn report_migrated(ctx: &mut Ctx, place: &Place, report: &MigrateReport) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        let applied = match report.applied.is_empty() {
            true => Vec::new(),
            false => {
                place.applied()?.into_iter().filter(|a| report.applied.iter().any(|r| r.version == a.version)).collect()
            }
        };
        let migrated = Migrated { dry_run: false, before: report.before, after: report.after, applied };
        ctx.out.print_json(&migrated);
    } else if report.applied.is_empty() {
        ctx.out.status("Fresh", format!("{} is at version {}; nothing to apply", place.show(), report.after));
    } else {
        let n = report.applied.len();
        ctx.out.status(
            "Migrated",
            format!("{}: schema version {} → {} ({n} applied)", place.show(), report.before, report.after),
        );
    }
    Ok(ExitCode::SUCCESS)
}
