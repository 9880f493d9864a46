//! `cargo envdb test`: `cargo test` against a migrated test database that prod cannot replace.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::environment::TEST_MARKER;
use std::ffi::OsString;
use std::process::ExitCode;

/// Run `cargo test` against the test environment's database, migrated first (new each run when
/// the environment is ephemeral); protected environments cannot be opened by the tests
///
/// Example: `cargo envdb test -- --nocapture`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Arguments for `cargo test` (before its own `--`)
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

pub fn exec(mut args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    if args.db.env.flag().is_none() && !args.db.env.overrides_database() {
        args.db.env.env = Some("test".into());
    }
    // SAFETY: single-threaded at this point; the marker must hold for this process too, so that
    // resolving below already refuses a protected environment.
    unsafe { std::env::set_var(TEST_MARKER, "1") };
    let target = Target::resolve(ctx, &args.db)?;
    anyhow::ensure!(
        !(target.env.spec.ephemeral && target.location.file().is_none()),
        "`{}` is ephemeral, which works on SQLite only so far, and {} is on PostgreSQL; nothing was changed\n  help: remove `ephemeral = true` from [env.{}] in envdb.toml (the database is then migrated, not replaced), or use envdb::testing::fresh_pg for a throwaway database per test",
        target.env.name(),
        target.show(),
        target.env.name()
    );
    let migrations = target.migrations()?;
    // A server database is created before the run lock, whose lease lives in it.
    target.create_missing(ctx, false)?;
    let report = {
        let _lock = target.run_lock(ctx)?;
        // Only ever the environment's own database (never a file named with --database), and
        // only one that records this environment: opening it checks.
        use crate::environment::ChosenBy;
        let own = !matches!(target.env.chosen_by, ChosenBy::DatabaseFlag | ChosenBy::DatabaseUrlFlag);
        if target.env.spec.ephemeral && own && target.path.exists() {
            drop(target.open(false)?);
            crate::db::remove_database(&target.path);
            ctx.out.status("Removed", format!("{} (ephemeral)", target.show()));
        }
        let apps_out = target.location.keep_apps_out()?;
        super::migrate::apply_pending_locked(ctx, &target, &migrations, None, false, apps_out.is_some())?
    };
    if !report.applied.is_empty() {
        ctx.out.status("Migrated", format!("{}: schema version {} → {}", target.show(), report.before, report.after));
    }
    let mut cargo_args: Vec<OsString> = vec!["test".into()];
    cargo_args.extend(args.args);
    super::run::run_cargo(&target, cargo_args, &[(TEST_MARKER, "1")])
}
