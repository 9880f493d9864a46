//! `cargo envdb hash`: rewrite the sum file from the files on disk.

use super::read_migrations;
use crate::cli::Ctx;
use std::process::ExitCode;

/// Rewrite migrations/envdb.sum from the files on disk: the deliberate way to accept an edit
///
/// Example: `cargo envdb hash`
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let (_project, dir) = read_migrations(ctx)?;
    for (name, reason) in &dir.invalid {
        ctx.out.warn(format!("{}: skipped, not a migration file name: {reason}", dir.show(name)));
    }
    let changes = crate::authoring::rehash(&dir)?;
    for f in &changes.added {
        ctx.out.status("Added", dir.show(f));
    }
    for f in &changes.changed {
        ctx.out.status("Rehashed", dir.show(f));
    }
    for f in &changes.removed {
        ctx.out.status("Removed", dir.show(f));
    }
    let sum = dir.show(crate::sum_file::FILE_NAME);
    if changes == Default::default() && dir.sum_text.is_some() {
        ctx.out.status("Fresh", format!("{sum} already matches {} file(s)", dir.files.len()));
    } else {
        ctx.out.status("Wrote", format!("{sum} ({} file(s))", dir.files.len()));
    }
    Ok(ExitCode::SUCCESS)
}
