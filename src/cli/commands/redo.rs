//! `cargo envdb redo`: roll back the latest migration and apply it again, in one transaction.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::DbError;
use crate::plan;
use anyhow::Context as _;
use std::process::ExitCode;

/// Roll back the latest migration and apply it again, in one transaction (while writing it)
///
/// Example: `cargo envdb redo`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let redone = target.write(ctx, "redo the latest migration of", true, |ctx| {
        let migrations = target.migrations()?;
        let _lock = target.run_lock(ctx)?;
        let mut db = target.open(false)?;
        let applied = db.applied()?;
        let Some(latest) = applied.last().map(|a| a.version) else {
            anyhow::bail!("{} has no applied migration to redo", target.show());
        };
        let plan = plan::rollback(&migrations, &applied, latest - 1)
            .map_err(|error| DbError::Plan { database: target.location.label(), error })?;
        let Some(m) = plan.first() else {
            anyhow::bail!("{}: migration {latest} is not among the migrations on disk", target.show());
        };
        let ms = db.redo(m).map_err(|e| target.locate(e)).with_context(|| {
            format!("redo changed nothing: {} is still at version {latest}, as it was", target.show())
        })?;
        ctx.out.status("Reverted", target.dir.show(m.name));
        ctx.out.status("Applied", format!("{} ({ms} ms)", target.dir.show(m.name)));
        let row = db.applied()?.into_iter().find(|a| a.version == latest);
        let row = row.with_context(|| format!("{}: migration {latest} is not recorded after redo", target.show()))?;
        ctx.out.status("Redone", format!("{}: schema version {latest}", target.show()));
        Ok(row)
    })?;
    if ctx.out.json() {
        ctx.out.print_json(&redone);
    }
    Ok(ExitCode::SUCCESS)
}
