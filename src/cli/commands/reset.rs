//! `cargo envdb reset` (behind `dev-reset`): back up, recreate, migrate, seed.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::process::ExitCode;

/// Back up the database, remove it, recreate and migrate it, then run the seed file
///
/// Example: `cargo envdb reset --env dev`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Reset even while an application holds the database
    #[arg(long)]
    force: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    // Refuse migrations that fail `check` before erasing anything.
    target.migrations()?;
    target.write(ctx, "reset (erase and recreate)", true, |ctx| {
        let apps_out = target.hold_applications("reset", args.force)?;
        let _lock = target.run_lock(ctx)?;
        if target.path.exists() {
            // Also refuses a database that belongs to another environment.
            let backup = target.backup(ctx, None, false)?;
            ctx.out.status("Backed up", target.project.show(&backup).display());
            crate::db::remove_database(&target.path);
            ctx.out.status("Removed", target.show());
        }
        let report = super::migrate::apply_pending_locked(ctx, &target, None, false, apps_out.is_some())?;
        ctx.out.status("Migrated", format!("{}: schema version 0 → {}", target.show(), report.after));
        if let Some(seed) = super::seed::seed_file(&target) {
            super::seed::run(ctx, &target, &seed)?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
