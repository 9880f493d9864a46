//! `cargo envdb test`: `cargo test` against a migrated test database that prod cannot replace.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::environment::TEST_MARKER;
use anyhow::Context as _;
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
    let migrations = target.migrations()?;
    use crate::environment::ChosenBy;
    let own = !matches!(target.env.chosen_by, ChosenBy::DatabaseFlag | ChosenBy::DatabaseUrlFlag);
    // Every run replaces an ephemeral database, so two runs take turns, tests included.
    let _turn = if target.env.spec.ephemeral && own { Some(take_turn(ctx, &target)?) } else { None };
    if target.env.spec.ephemeral && own && target.location.file().is_none() {
        return ephemeral_on_server(ctx, &target, &migrations, args.args);
    }
    // A server database is created before the run lock, whose lease lives in it.
    target.create_missing(ctx, false)?;
    let report = {
        let _lock = target.run_lock(ctx)?;
        // Only ever the environment's own database (never a file named with --database), and
        // only one that records this environment: opening it checks.
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
    cargo_test(&target, args.args)
}

/// Waits for another `cargo envdb test` on the same ephemeral environment to end, saying so,
/// then holds its turn (`<data_dir>/<env>.test-run.lock`) until dropped.
fn take_turn(ctx: &mut Ctx, target: &Target) -> anyhow::Result<crate::db::lock::Held> {
    let dir = &target.env.spec.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let env = target.env.name();
    let path = dir.join(format!("{env}.test-run.lock"));
    let out = &mut ctx.out;
    let held = crate::db::lock::turn_lock(&path, &mut |path| {
        let what = format!("another `cargo envdb test` on the ephemeral environment `{env}`");
        out.status("Waiting", format!("for {what} to end (it holds {})", path.display()));
    })?;
    Ok(held)
}

fn cargo_test(target: &Target, args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let mut cargo_args: Vec<OsString> = vec!["test".into()];
    cargo_args.extend(args);
    super::run::run_cargo(target, cargo_args, &[(TEST_MARKER, "1")])
}

/// An ephemeral environment on PostgreSQL: its database is replaced by a copy of a migrated
/// template (`<db>__template`, migrated again only when the migrations changed), the tests run
/// on it, and it is dropped after, whatever they did. A database found there must record this
/// environment (it is dropped).
fn ephemeral_on_server(
    ctx: &mut Ctx,
    target: &Target,
    migrations: &[crate::Migration<'_>],
    args: Vec<OsString>,
) -> anyhow::Result<ExitCode> {
    use crate::db::location::Location;
    use crate::db::postgres::template::{self, Templates};
    let Location::Server { url, opts } = target.location.clone() else {
        unreachable!("called for a server location only")
    };
    let mut templates = Templates::connect(&url, &opts)?;
    // Asked in the catalog first: behind PgBouncer, a session to a missing database waits for
    // the pool's login retries before it fails.
    if templates.exists(url.dbname())? {
        drop(target.open_existing_read_only()?);
    }
    let name = template::name(url.dbname());
    let digest = template::digest(migrations, &opts.history_schema);
    if templates.recorded(&name)?.as_deref() != Some(digest.as_str()) {
        templates.recreate(&name)?;
        let at = Location::Server { url: Box::new(url.with_dbname(&name)), opts: opts.clone() };
        let report = super::migrate::apply_at(ctx, target, &at, migrations, None, false, true)?;
        templates.seal(&name, &digest)?;
        ctx.out.status("Prepared", format!("the template `{name}`: schema version {}", report.after));
    }
    let started = std::time::Instant::now();
    templates.clone_into(url.dbname(), &name)?;
    ctx.out.status(
        "Cloned",
        format!("`{}` from `{name}` ({} ms; dropped after the tests)", url.dbname(), started.elapsed().as_millis()),
    );
    drop(templates);
    let code = cargo_test(target, args);
    let dropped = Templates::connect(&url, &opts).and_then(|mut t| t.drop_database(url.dbname()));
    match (code, dropped) {
        (Ok(code), Ok(())) => {
            ctx.out.status("Dropped", format!("`{}` (ephemeral)", url.dbname()));
            Ok(code)
        }
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!(
            "the tests ran, but the ephemeral database `{}` could not be dropped (the next run replaces it)",
            url.dbname()
        ))),
    }
}
