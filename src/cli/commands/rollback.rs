//! `cargo envdb rollback`: revert applied migrations with their down files.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::DbError;
use crate::plan;
use serde::Serialize;
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

/// What a rollback did (or, with `dry_run`, would do); its `--format json` output.
#[derive(Debug, Serialize)]
pub struct Reverted {
    pub dry_run: bool,
    pub before: u64,
    pub after: u64,
    /// Newest first, in the order they are reverted.
    pub reverted: Vec<Step>,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub version: u64,
    pub name: String,
}

/// The version `--to` or `--steps` asks for, refusing `--steps` past version 0.
fn target_version(current: u64, to: Option<u64>, steps: Option<u64>) -> anyhow::Result<u64> {
    if let Some(to) = to {
        return Ok(to);
    }
    let steps = steps.unwrap_or(1);
    match current.checked_sub(steps) {
        Some(to) => Ok(to),
        None => anyhow::bail!(
            "cannot roll back {steps} migration(s): the database is at version {current}\n  help: `--steps {current}` or `--to 0` reverts every migration"
        ),
    }
}

/// Plans the rollback under the run lock and reverts (or, with `dry_run`, only plans), printing
/// each step.
pub fn revert(
    ctx: &mut Ctx,
    target: &Target,
    to: Option<u64>,
    steps: Option<u64>,
    dry_run: bool,
) -> anyhow::Result<Reverted> {
    let migrations = target.migrations()?;
    // The plan is made under the run lock, so another run cannot change the history under it.
    let _lock = if dry_run { None } else { Some(target.run_lock(ctx)?) };
    let mut db = target.open(false)?;
    let applied = db.applied()?;
    let current = applied.last().map_or(0, |a| a.version);
    let to = target_version(current, to, steps)?;
    let plan = plan::rollback(&migrations, &applied, to)
        .map_err(|error| DbError::Plan { database: target.location.label(), error })?;
    let reverted: Vec<Step> = plan.iter().map(|m| Step { version: m.version, name: m.name.to_owned() }).collect();
    if dry_run {
        for step in &reverted {
            ctx.out.status("Would revert", target.dir.show(&step.name));
        }
        ctx.out.status("Dry run", format!("{} migration(s) would be reverted; nothing changed", plan.len()));
        return Ok(Reverted { dry_run, before: current, after: to, reverted });
    }
    // Succeeds only when every planned step was reverted.
    db.rollback(&plan).map_err(|e| target.locate(e))?;
    for step in &reverted {
        ctx.out.status("Reverted", target.dir.show(&step.name));
    }
    let now = db.latest()?;
    ctx.out.status("Rolled back", format!("{}: schema version {current} → {now}", target.show()));
    Ok(Reverted { dry_run, before: current, after: now, reverted })
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let reverted = if args.dry_run {
        revert(ctx, &target, args.to, args.steps, true)?
    } else {
        target.write(ctx, "roll back", true, |ctx| revert(ctx, &target, args.to, args.steps, false))?
    };
    if ctx.out.json() {
        ctx.out.print_json(&reverted);
    }
    Ok(ExitCode::SUCCESS)
}
