//! `cargo envdb backups`: list an environment's backups.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use anyhow::Context as _;
use std::process::ExitCode;

/// List the environment's backups: time, schema version, size, complete or interrupted
///
/// Example: `cargo envdb backups --env prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let dir = target.backups_dir();
    let list = crate::db::backup::list(&dir, &target.path, target.env.name())
        .with_context(|| format!("cannot read {}", dir.display()))?;
    if ctx.out.json() {
        ctx.out.print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        ctx.out.line(format!("no backups of `{}` in {}", target.env.name(), target.project.show(&dir).display()));
    }
    for b in &list {
        let state = match (b.complete, b.replaced) {
            (false, _) => "interrupted (partial; `prune` removes it)",
            (true, true) => "replaced by a restore (kept as it was)",
            (true, false) => "verified",
        };
        ctx.out.line(format!(
            "{}  v{:<4} {:>12} bytes  {state}  {}",
            b.timestamp,
            b.version,
            b.size,
            target.project.show(&b.path).display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
