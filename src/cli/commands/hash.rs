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
    let changes = crate::authoring::rehash(&dir)?;
    let sum = dir.show(crate::sum_file::FILE_NAME);
    let fresh = changes == Default::default() && dir.sum_text.is_some();
    if ctx.out.json() {
        let show = |files: &[String]| files.iter().map(|f| dir.show(f)).collect::<Vec<_>>();
        let skipped: Vec<_> =
            dir.invalid.iter().map(|(n, reason)| serde_json::json!({"file": dir.show(n), "reason": reason})).collect();
        ctx.out.print_json(&serde_json::json!({
            "sum_file": sum,
            "written": !fresh,
            "files": dir.files.len(),
            "added": show(&changes.added),
            "rehashed": show(&changes.changed),
            "removed": show(&changes.removed),
            "skipped": skipped,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for (name, reason) in &dir.invalid {
        ctx.out.warn(format!("{}: skipped, not a migration file name: {reason}", dir.show(name)));
    }
    for f in &changes.added {
        ctx.out.status("Added", dir.show(f));
    }
    for f in &changes.changed {
        ctx.out.status("Rehashed", dir.show(f));
    }
    for f in &changes.removed {
        ctx.out.status("Removed", dir.show(f));
    }
    if fresh {
        ctx.out.status("Fresh", format!("{sum} already matches {} file(s)", dir.files.len()));
    } else {
        ctx.out.status("Wrote", format!("{sum} ({} file(s))", dir.files.len()));
    }
    Ok(ExitCode::SUCCESS)
}
