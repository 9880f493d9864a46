//! `cargo envdb redo`: roll back the latest migration and apply it again.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::apply::{self, MigrateOptions};
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
    let before = {
        let conn = target.open(false)?;
        crate::db::history::latest(&conn)
            .map_err(|e| crate::db::DbError::sqlite(&target.path, e, target.busy))?
    };
    anyhow::ensure!(
        before > 0,
        "{} has no applied migration to redo",
        target.show()
    );
    super::rollback::revert(ctx, &target, None, Some(1), false)?;
    let migrations = target.migrations()?;
    let _lock = target.run_lock(ctx)?;
    let conn = target.open(false)?;
    let opts = MigrateOptions {
        target: Some(before),
        ..MigrateOptions::default()
    };
    let report = apply::migrate(
        &conn,
        &target.path,
        &migrations,
        &opts,
        target.busy,
        &mut |_| {},
    )?;
    for (_, name, ms) in &report.applied {
        ctx.out
            .status("Applied", format!("{} ({ms} ms)", target.dir.show(name)));
    }
    Ok(ExitCode::SUCCESS)
}
