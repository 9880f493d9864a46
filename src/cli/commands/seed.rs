//! `cargo envdb seed`: run the environment's seed file in one transaction.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run the environment's seed file (`seed` in envdb.toml, else seeds/<env>.sql) in one transaction
///
/// Example: `cargo envdb seed --env dev`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

/// The seed file of the environment: configured, or `seeds/<env>.sql` when that exists.
pub fn seed_file(target: &Target) -> Option<PathBuf> {
    target.env.spec.seed.clone().or_else(|| {
        let default = target.project.root.join("seeds").join(format!("{}.sql", target.env.name()));
        default.is_file().then_some(default)
    })
}

/// Runs the seed file against the target's (existing) database, or, for `reset`, against the
/// database at `at` that is being built to replace it.
pub fn run(
    ctx: &mut Ctx,
    target: &Target,
    seed: &Path,
    at: Option<&crate::db::location::Location>,
) -> anyhow::Result<()> {
    let shown = target.project.show(seed).display().to_string();
    let bytes = std::fs::read(seed).with_context(|| format!("cannot read the seed file {shown}"))?;
    let sql = String::from_utf8(crate::checksum::normalize(&bytes).into_owned())
        .map_err(|_| anyhow::anyhow!("{shown} is not valid UTF-8"))?;
    let mut db = match at {
        Some(at) => target.connect_at(at, false, false)?,
        None => target.open(false)?,
    };
    db.run_script(&shown, &sql)?;
    ctx.out.status("Seeded", format!("{} from {shown}", target.show()));
    Ok(())
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let seed = seed_file(&target).with_context(|| {
        format!(
            "`{}` has no seed file\n  help: create seeds/{}.sql, or set `seed` in [env.{}] of envdb.toml",
            target.env.name(),
            target.env.name(),
            target.env.name()
        )
    })?;
    target.write(ctx, "seed", true, |ctx| run(ctx, &target, &seed, None))?;
    Ok(ExitCode::SUCCESS)
}
