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
    /// The backup file, or `latest` for the newest backup of the environment
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
        backup::list(&dir, target.env.name())
            .with_context(|| format!("cannot read {}", dir.display()))?
            .into_iter()
            .rev()
            .find(|b| b.complete)
            .map(|b| b.path)
            .with_context(|| format!("there is no backup of `{}` in {}", target.env.name(), dir.display()))?
    } else {
        let p = PathBuf::from(&args.file);
        anyhow::ensure!(p.is_file(), "{} is not a file", p.display());
        std::path::absolute(&p).unwrap_or(p)
    };
    if !args.force {
        target.refuse_if_app_running("restore")?;
    }
    // Verify everything about the file before anything changes.
    let show = target.project.show(&file).display().to_string();
    backup::verify(&file).with_context(|| format!("{show} cannot be restored"))?;
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
        let before = target.version();
        let safety = if target.path.exists() { Some(target.backup(ctx, None, false)?) } else { None };
        if let Some(s) = &safety {
            ctx.out.status("Backed up", format!("the current database to {}", target.project.show(s).display()));
        }
        let _lock = target.run_lock(ctx)?;
        backup::replace(&file, &target.path)?;
        ctx.out.status(
            "Restored",
            format!("{} from {show}: schema version {before} → {}", target.show(), target.version()),
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
