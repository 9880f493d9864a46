//! `cargo envdb reset` (behind `dev-reset`): build a new database beside the old one (create,
//! migrate, seed), back the old one up, and swap the new one in with one rename. A failure at any
//! step before the swap leaves the old database exactly as it was and removes the new one.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::DbError;
use anyhow::Context as _;
use std::process::ExitCode;

/// Rebuild the database: create, migrate and seed a new one, back up the old one, swap them
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

/// The error of a reset that stopped before the swap: what failed, and that nothing changed.
fn unchanged(e: anyhow::Error, target: &Target, before: Option<u64>) -> anyhow::Error {
    let state = match before {
        Some(v) => format!("{} is as it was (version {v})", target.show()),
        None => format!("{} was not created", target.show()),
    };
    let nothing = format!("reset changed nothing: {state}; the new database being built beside it was removed");
    match e.downcast_ref::<DbError>() {
        // A migration or the seed failed: its own words, without what it says of the removed file.
        Some(DbError::Migration(f)) => {
            anyhow::anyhow!("{}\n  {nothing}\n  help: fix {}, then reset again", f.failure(), f.file)
        }
        _ => e.context(nothing),
    }
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    // Refuse migrations that fail `check` before anything else.
    let migrations = target.migrations()?;
    target.write(ctx, "reset (erase and recreate)", true, |ctx| {
        let _apps_out = target.hold_applications("reset", args.force)?;
        let _lock = target.run_lock(ctx)?;
        // Also refuses a database that belongs to another environment, before building anything.
        let before = match target.open_existing_read_only()? {
            Some(mut db) => Some(db.latest()?),
            None => None,
        };
        let building = target.location.beside()?;
        ctx.out.status(
            "Building",
            format!(
                "a new database beside {} ({}); it replaces the old one only once migrated and seeded",
                target.show(),
                match building.file() {
                    Some(built) => target.project.show(built).display().to_string(),
                    None => building.label(),
                }
            ),
        );
        let outcome = (|| {
            // No application can have the new database open, so the fast journal is safe.
            let report = super::migrate::apply_at(ctx, &target, &building, &migrations, None, false, true)?;
            ctx.out.status("Migrated", format!("the new database: schema version 0 → {}", report.after));
            if let Some(seed) = super::seed::seed_file(&target) {
                super::seed::run(ctx, &target, &seed, Some(&building))?;
            }
            if before.is_some() {
                let backup = target.backup(ctx, None, false, Default::default())?.path;
                ctx.out.status("Backed up", target.project.show(&backup).display());
            }
            let ended = target.location.replace_with(&building, args.force).with_context(|| {
                format!("cannot put the new database {} in place of {}", building.label(), target.show())
            })?;
            if !ended.is_empty() {
                ctx.out.warn(format!("ended {} session(s) (--force): {}", ended.len(), ended.join("; ")));
            }
            Ok(report)
        })();
        let report = outcome.map_err(|e| {
            building.discard();
            unchanged(e, &target, before)
        })?;
        match before {
            Some(v) => ctx.out.status(
                "Removed",
                format!(
                    "the old database (version {v}); {} is the new one, at version {}",
                    target.show(),
                    report.after
                ),
            ),
            None => ctx.out.status("Created", format!("{} at version {}", target.show(), report.after)),
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
