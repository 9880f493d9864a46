//! `cargo envdb restore`: put a backup back, verified, after backing up what it replaces.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::backup;
use crate::plan;
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Restore a backup (a file, or `latest`) over the environment's database
///
/// Example: `cargo envdb restore latest --env prod --confirm prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup file, or `latest` for the newest verified backup of the environment
    #[arg(value_name = "FILE|latest")]
    file: String,
    #[command(flatten)]
    db: DbArgs,
    /// Restore even while an application holds the database
    #[arg(long)]
    force: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let file = if args.file == "latest" {
        let dir = target.backups_dir();
        backup::list(&dir, &target.path, target.env.name())
            .with_context(|| format!("cannot read {}", dir.display()))?
            .into_iter()
            .rev()
            .find(|b| b.complete && !b.replaced)
            .map(|b| b.path)
            .with_context(|| format!("there is no backup of `{}` in {}", target.env.name(), dir.display()))?
    } else {
        let p = PathBuf::from(&args.file);
        anyhow::ensure!(p.is_file(), "{} is not a file", p.display());
        std::path::absolute(&p).unwrap_or(p)
    };
    // Check what the file says about itself before anything changes; its pages are verified
    // while it is copied, before it replaces anything.
    let show = target.project.show(&file).display().to_string();
    let id = backup::identity(&file).with_context(|| format!("{show} cannot be restored"))?;
    if let Some(env) = &id.environment {
        anyhow::ensure!(
            env == target.env.name(),
            "{show} is a backup of the environment `{env}`, not `{}`; nothing was changed",
            target.env.name()
        );
    }
    if let Some(project) = &id.project {
        anyhow::ensure!(
            *project == target.project.name(),
            "{show} is a backup of the project `{project}`, not `{}`; nothing was changed",
            target.project.name()
        );
    }
    let migrations = target.migrations()?;
    plan::verify(&migrations, &id.history)
        .with_context(|| format!("{show} does not fit the migrations on disk; nothing was changed"))?;

    target.write(ctx, "restore a backup over", true, |ctx| {
        // Applications stay out from here to the end (taken after any confirmation prompt).
        let _apps_out = target.hold_applications("restore", args.force)?;
        let before = target.version();
        let _lock = target.run_lock(ctx)?;
        let kept = backup::replaced_path_for(&target.backups_dir(), &target.path, target.env.name(), before);
        backup::replace(&file, &target.path, &kept).with_context(|| format!("{show} cannot be restored"))?;
        if kept.exists() {
            ctx.out.status("Kept", format!("the replaced database as {}", target.project.show(&kept).display()));
        }
        ctx.out.status(
            "Restored",
            format!("{} from {show}: schema version {before} → {}", target.show(), target.version()),
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
