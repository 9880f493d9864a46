//! `cargo envdb rollback`: revert applied migrations with their down files.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::{DbError, apply, history};
use crate::plan;
use std::process::ExitCode;

/// Revert the latest migration (or down to --to N, or --steps K) with its down file
///
/// Example: `cargo envdb rollback --steps 2`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Roll back until this version is the latest applied (0 reverts everything)
    #[arg(long, value_name = "N", conflicts_with = "steps")]
    to: Option<u64>,
    /// Roll back this many migrations (default 1)
    #[arg(long, value_name = "K")]
    steps: Option<u64>,
    /// Print what would be reverted and change nothing
    #[arg(long)]
    dry_run: bool,
}

/// Reverts down to `to`, printing each step; shared with `redo`.
pub fn revert(
    ctx: &mut Ctx,
    target: &Target,
    to: Option<u64>,
    steps: Option<u64>,
    dry_run: bool,
) -> anyhow::Result<u64> {
    let migrations = target.migrations()?;
    // The plan is made under the run lock, so another run cannot change the history under it.
    let _lock = if dry_run { None } else { Some(target.run_lock(ctx)?) };
    let conn = target.open(false)?;
    let err = |e| DbError::sqlite(&target.path, e, target.busy);
    let applied = history::read(&conn).map_err(err)?;
    let current = applied.last().map_or(0, |a| a.version);
    let to = to.unwrap_or_else(|| current.saturating_sub(steps.unwrap_or(1)));
    let plan = plan::rollback(&migrations, &applied, to)
        .map_err(|error| DbError::Plan { path: target.path.clone(), error })?;
    if dry_run {
        for m in &plan {
            ctx.out.status("Would revert", target.dir.show(m.name));
        }
        ctx.out.status("Dry run", format!("{} migration(s) would be reverted; nothing changed", plan.len()));
        return Ok(current);
    }
    let done = apply::rollback(&conn, &target.path, &plan, target.busy)?;
    for v in &done {
        let m = migrations.iter().find(|m| m.version == *v).expect("planned");
        ctx.out.status("Reverted", target.dir.show(m.name));
    }
    let now = history::latest(&conn).map_err(err)?;
    ctx.out.status("Rolled back", format!("{}: schema version {current} → {now}", target.show()));
    Ok(now)
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    if args.dry_run {
        revert(ctx, &target, args.to, args.steps, true)?;
    } else {
        target.write(ctx, "roll back", true, |ctx| revert(ctx, &target, args.to, args.steps, false))?;
    }
    Ok(ExitCode::SUCCESS)
}
