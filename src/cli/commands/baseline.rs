//! `cargo envdb baseline N`: adopt an existing database whose schema already matches 1..N.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::process::ExitCode;

/// Record migrations 1..=N as applied without running them (adopting an existing database)
///
/// The database's schema must be the one migrations 1..=N produce (replayed in memory, as
/// `validate` does); otherwise the differences are listed and nothing is recorded.
///
/// Example: `cargo envdb baseline 3 --database legacy.db`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The version the database's schema already matches
    #[arg(value_name = "N")]
    upto: u64,
    /// Record the migrations even though the schema differs (the differences are still listed)
    #[arg(long)]
    force: bool,
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
    let expected = target.replay(&migrations, Some(args.upto))?;
    target.write(ctx, "baseline", true, |ctx| {
        let _lock = target.run_lock(ctx)?;
        let mut db = target.open_unmigrated("baseline")?;
        let diff = target.location.diff(&db.schema()?, &expected);
        if !diff.is_empty() {
            let list = diff.join("\n  ");
            let what = format!(
                "the schema of {} does not match the schema migrations 1 to {} produce:\n  {list}",
                target.show(),
                args.upto
            );
            anyhow::ensure!(
                args.force,
                "{what}\nnothing was recorded\n  help: baseline at the version the database matches, or pass --force to record 1 to {} anyway",
                args.upto
            );
            ctx.out.warn(format!("{what}\nrecording anyway (--force)"));
        }
        db.baseline(&migrations, args.upto, Some(target.env.name()))?;
        Ok(())
    })?;
    ctx.out.status("Baselined", format!("{}: migrations 1 to {} recorded as applied", target.show(), args.upto));
    Ok(ExitCode::SUCCESS)
}
