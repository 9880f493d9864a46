//! `cargo envdb repair`: accept the current checksums of edited applied migrations.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::process::ExitCode;

/// Record the current checksums of applied migrations whose files were edited, listing each
///
/// Example: `cargo envdb repair`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    target.write(ctx, "repair", true, |ctx| {
        let migrations = target.migrations()?;
        let _lock = target.run_lock(ctx)?;
        let mut db = target.open(false)?;
        let applied = db.applied()?;
        let mut changes = Vec::new();
        for a in &applied {
            match migrations.iter().find(|m| m.version == a.version) {
                Some(m) if m.checksum != a.checksum => changes.push((a, m)),
                Some(_) => {}
                None => anyhow::bail!(
                    "migration {} ({}) is applied but its file is gone; repair cannot accept a missing file\n  help: restore it from version control",
                    a.version,
                    a.name
                ),
            }
        }
        if changes.is_empty() {
            ctx.out.status("Fresh", format!("{}: every applied checksum matches its file", target.show()));
            return Ok(());
        }
        db.repair(&changes)?;
        for (a, m) in &changes {
            ctx.out.status(
                "Repaired",
                format!(
                    "{} {} → {}",
                    target.dir.show(m.name),
                    crate::plan::short_checksum(&a.checksum),
                    crate::plan::short_checksum(m.checksum)
                ),
            );
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
