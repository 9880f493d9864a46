//! `cargo envdb redo`: roll back the latest migration and apply it again.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::process::ExitCode;

/// Roll back the latest migration and apply it again (while writing it)
///
/// Example: `cargo envdb redo`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    target.write(ctx, "redo the latest migration of", true, |ctx| {
        let before = {
            let conn = target.open(false)?;
            crate::db::history::latest(&conn).map_err(|e| crate::db::DbError::sqlite(&target.path, e, target.busy))?
        };
        anyhow::ensure!(before > 0, "{} has no applied migration to redo", target.show());
        super::rollback::revert(ctx, &target, None, Some(1), false)?;
        super::migrate::apply_pending(ctx, &target, Some(before), false)?;
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
