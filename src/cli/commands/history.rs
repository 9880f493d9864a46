//! `cargo envdb history`: the applied migrations with their times and durations.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::process::ExitCode;

/// List applied migrations with when they ran and how long they took
///
/// Example: `cargo envdb history`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let rows = target.applied()?;
    if ctx.out.json() {
        ctx.out.print_json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        ctx.out.line(format!("{}: no migration applied", target.show()));
    }
    for r in &rows {
        ctx.out.line(format!(
            "{:>6}  {}  {:>7} ms  {}  (envdb {})",
            r.version, r.applied_at, r.execution_ms, r.name, r.tool_version
        ));
    }
    Ok(ExitCode::SUCCESS)
}
