//! `cargo envdb backup`: a verified copy of the database.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::path::PathBuf;
use std::process::ExitCode;

/// Back the database up: online, verified, then renamed into <data_dir>/backups (mode 0600)
///
/// A rollback-journal database is copied by the kernel while `quick_check` reads the same fixed
/// snapshot; a WAL database goes through SQLite's backup API and the copy is `quick_check`ed;
/// `--vacuum` writes a compact copy with VACUUM INTO and `quick_check`s it. The SHA-256 is
/// recorded beside the backup (`<backup>.sha256`). A database that fails the check is not backed up.
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
    target.file_only("backup")?;
    let made = target.write(ctx, "back up", false, |ctx| target.backup(ctx, args.output.as_deref(), args.vacuum))?;
    let size = std::fs::metadata(&made.path).map_or(0, |m| m.len());
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({
            "backup": made.path,
            "size_bytes": size,
            "verification": made.verification,
            "sha256": made.sha256,
        }));
    } else {
        ctx.out.status(
            "Backed up",
            format!("{} → {} ({size} bytes)", target.show(), target.project.show(&made.path).display()),
        );
        // Say what was checked, not a word that could mean anything.
        ctx.out.status(
            "Verified",
            format!(
                "{}; SHA-256 {}… recorded in {}",
                made.verification.describe(),
                &made.sha256[..12.min(made.sha256.len())],
                target.project.show(&crate::db::backup::checksum_path(&made.path)).display()
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}
