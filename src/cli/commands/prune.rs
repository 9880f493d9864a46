//! `cargo envdb prune`: remove old backups, never the newest.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use anyhow::Context as _;
use std::process::ExitCode;

/// Remove old backups (and interrupted partial ones); the newest is always kept
///
/// Example: `cargo envdb prune --env prod --keep 5`, `cargo envdb prune --older-than 30d`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Keep this many of the newest backups
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Remove backups older than this (e.g. 12h, 7d, 4w)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    older_than: Option<std::time::Duration>,
    /// Print what would be removed
    #[arg(long)]
    dry_run: bool,
}

/// Removes what the rule selects, printing each; shared with `upgrade` (`backup_keep`).
pub fn prune(
    ctx: &mut Ctx,
    target: &Target,
    keep: Option<usize>,
    older_than: Option<std::time::Duration>,
    dry_run: bool,
) -> anyhow::Result<usize> {
    let dir = target.backups_dir();
    let list = crate::db::backup::list(&dir, &target.path, target.env.name())
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let doomed = crate::db::backup::prune_plan(&list, keep, older_than, std::time::SystemTime::now());
    for path in &doomed {
        if !dry_run {
            std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
            // A database a restore replaced may have kept its WAL beside it.
            crate::db::remove_database(path);
        }
        ctx.out.status(if dry_run { "Would remove" } else { "Removed" }, target.project.show(path).display());
    }
    Ok(doomed.len())
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let n = if args.dry_run {
        prune(ctx, &target, args.keep, args.older_than, true)?
    } else {
        target
            .write(ctx, "prune the backups of", false, |ctx| prune(ctx, &target, args.keep, args.older_than, false))?
    };
    let verb = if args.dry_run { "Dry run" } else { "Pruned" };
    ctx.out.status(
        verb,
        format!("{n} backup(s) of `{}`{}", target.env.name(), if args.dry_run { " would go" } else { "" }),
    );
    Ok(ExitCode::SUCCESS)
}
