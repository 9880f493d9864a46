//! `cargo envdb baseline N`: adopt an existing database whose schema already matches 1..N.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::{DbError, apply, history};
use std::process::ExitCode;

/// Record migrations 1..=N as applied without running them (adopting an existing database)
///
/// Example: `cargo envdb baseline 3 --database legacy.db`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The version the database's schema already matches
    #[arg(value_name = "N")]
    upto: u64,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let migrations = target.migrations()?;
    let latest = migrations.last().map_or(0, |m| m.version);
    anyhow::ensure!(
        (1..=latest).contains(&args.upto),
        "there is no migration {} to baseline at (migrations run 1 to {latest})",
        args.upto
    );
    target.write(ctx, "baseline", true, |ctx| {
        let _lock = target.run_lock(ctx)?;
        let conn = target.open(false)?;
        let applied = history::read(&conn).map_err(|e| DbError::sqlite(&target.path, e, target.busy))?;
        anyhow::ensure!(
            applied.is_empty(),
            "{} already has a migration history (version {}); baseline only adopts a database envdb has never migrated",
            target.show(),
            applied.last().map_or(0, |a| a.version)
        );
        apply::baseline(&conn, &target.path, &migrations, args.upto, Some(target.env.name()), target.busy)?;
        Ok(())
    })?;
    ctx.out.status("Baselined", format!("{}: migrations 1 to {} recorded as applied", target.show(), args.upto));
    Ok(ExitCode::SUCCESS)
}
