//! `cargo envdb migrate`: apply pending migrations.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::DbError;
use crate::db::apply::{MigrateOptions, MigrateReport, Progress};
use crate::db::location::Location;
use crate::plan::{self, Applied};
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
    let migrations = migrations?;
    match found? {
        // A plain `migrate` with nothing to do: no run lock, no second connection.
        Found::Settled(applied)
            if to.is_none() && plan::pending(&migrations, &applied, None).is_ok_and(|p| p.is_empty()) =>
        {
            let at = applied.last().map_or(0, |a| a.version);
            return Ok(MigrateReport { before: at, after: at, applied: Vec::new() });
        }
        Found::Missing => target.create_absent(ctx, create)?,
        Found::Settled(_) | Found::Unsettled => {}
    }
    let _lock = target.run_lock(ctx)?;
    // Keeping applications out (when none runs) allows the fast journal and the cleanup below.
    let apps_out = target.location.keep_apps_out()?;
    apply_at(ctx, target, &target.location, &migrations, to, single, apps_out.is_some())
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
    fn read(target: &Target) -> Result<Found, DbError> {
        let Some(mut db) = target.open_existing_read_only()? else { return Ok(Found::Missing) };
        if db.meta("environment")?.as_deref() != Some(target.env.name())
            || db.meta(crate::db::history::JOURNAL_MODE_TO_RESTORE)?.is_some()
        {
            return Ok(Found::Unsettled);
        }
        Ok(Found::Settled(db.applied()?))
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
    // A line per migration; past a screenful (and without -v), a progress line instead, shown on
    // a terminal once the run has taken a second.
    let mut bar = ctx.out.progress("Migrating");
    let (mut planned, mut done) = (0, 0);
    let verbose = ctx.out.verbose > 0;
    let out = &mut ctx.out;
    let dir = &target.dir;
    let result = db.migrate(migrations, &opts, &mut |p| match p {
        Progress::Planned(n) => planned = n,
        Progress::Applied(m, took) => {
            done += 1;
            if planned <= 20 || verbose {
                out.status("Applied", format!("{} ({} ms)", dir.show(m.name), took.as_millis()));
            } else {
                bar.update_with(done as u64, planned as u64, "migrations");
            }
        }
        Progress::Retrying { file, attempt, attempts, wait, message } => out.warn(format!(
            "{}: {message}; retrying (attempt {attempt} of {attempts}) in {} ms",
            dir.show(file),
            wait.as_millis()
        )),
        Progress::Applying(_) => {}
    });
    drop(bar);
    // Removing a new database is only safe while no application can have opened it meanwhile.
    if result.is_err() && created && apps_out && db.latest().unwrap_or(1) == 0 {
        drop(db);
        at.remove_created();
    }
    Ok(result.map_err(|e| target.locate(e))?)
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
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
    let report = target.write(ctx, "migrate", false, |ctx| {
        apply_pending(ctx, &target, args.to, args.single_transaction, args.create)
    })?;
    if ctx.out.json() {
        let applied = target.applied()?.into_iter().filter(|a| report.applied.iter().any(|r| r.version == a.version));
        let migrated =
            Migrated { dry_run: false, before: report.before, after: report.after, applied: applied.collect() };
        ctx.out.print_json(&migrated);
    } else if report.applied.is_empty() {
        ctx.out.status("Fresh", format!("{} is at version {}; nothing to apply", target.show(), report.after));
    } else {
        let n = report.applied.len();
        ctx.out.status(
            "Migrated",
            format!("{}: schema version {} → {} ({n} applied)", target.show(), report.before, report.after),
        );
    }
    Ok(ExitCode::SUCCESS)
}
