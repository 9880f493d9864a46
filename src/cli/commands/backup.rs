//! `cargo envdb backup`: a verified copy of the database.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::path::PathBuf;
use std::process::ExitCode;

/// Back the database up: online, verified, then renamed into <data_dir>/backups (mode 0600)
///
/// Example: `cargo envdb backup --env prod`, `cargo envdb backup -o /mnt/usb/app.db --vacuum`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Write the backup here instead of the environment's backups directory
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// A compact copy (VACUUM INTO) instead of a page-for-page one
    #[arg(long)]
    vacuum: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let path = target.write(ctx, "back up", false, |ctx| target.backup(ctx, args.output.as_deref(), args.vacuum))?;
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({ "backup": path, "size_bytes": size }));
    } else {
        ctx.out.status(
            "Backed up",
            format!("{} → {} ({size} bytes, verified)", target.show(), target.project.show(&path).display()),
        );
    }
    Ok(ExitCode::SUCCESS)
}
