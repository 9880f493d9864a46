//! `cargo envdb run`: run the host application against an environment's database.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use std::ffi::OsString;
use std::process::ExitCode;

/// Migrate an environment, then `cargo run` the application in it (exit code passed through)
///
/// The child gets ENVDB_ENV, DATABASE_URL (sqlite://…) and ENVDB_DATA_DIR; nothing else changes.
///
/// Example: `cargo envdb run --env dev -- add "buy milk"`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The package to run
    #[arg(short, long, value_name = "PKG")]
    package: Option<String>,
    /// The binary to run
    #[arg(long, value_name = "NAME")]
    bin: Option<String>,
    /// Build and run in release mode
    #[arg(long)]
    release: bool,
    /// Do not migrate before running
    #[arg(long)]
    no_migrate: bool,
    /// Arguments for the application
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

/// `$CARGO` (set by cargo for its subcommands), else `cargo`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The variables a child process gets for an environment.
pub fn child_env(target: &Target) -> Vec<(&'static str, OsString)> {
    let url = target.location.child_url();
    vec![
        ("ENVDB_ENV", target.env.name().into()),
        ("DATABASE_URL", url),
        ("ENVDB_DATA_DIR", target.env.spec.data_dir.clone().into_os_string()),
    ]
}

/// Runs a cargo command with the environment's variables, streaming its output, and returns its exit code.
pub fn run_cargo(target: &Target, args: Vec<OsString>, extra_env: &[(&str, &str)]) -> anyhow::Result<ExitCode> {
    let mut expr = duct::cmd(cargo(), args).dir(&target.project.root).unchecked();
    for (k, v) in child_env(target) {
        expr = expr.env(k, v);
    }
    for (k, v) in extra_env {
        expr = expr.env(k, v);
    }
    let output = expr.run().map_err(|e| anyhow::anyhow!("cannot run {}: {e}", cargo().to_string_lossy()))?;
    Ok(exit_code(&output.status))
}

fn exit_code(status: &std::process::ExitStatus) -> ExitCode {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return ExitCode::from(128u8.saturating_add(signal as u8));
        }
    }
    ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    crate::cli::protect::confirm(ctx, &target.env, "run the application against")?;
    if !args.no_migrate {
        let report = target
            .write(ctx, "migrate", false, |ctx| super::migrate::apply_pending(ctx, &target, None, false, false))?;
        if !report.applied.is_empty() {
            ctx.out.status("Migrated", format!("schema version {} → {}", report.before, report.after));
        }
    }
    let mut cargo_args: Vec<OsString> = vec!["run".into()];
    if let Some(p) = &args.package {
        cargo_args.extend(["--package".into(), p.into()]);
    }
    if let Some(b) = &args.bin {
        cargo_args.extend(["--bin".into(), b.into()]);
    }
    if args.release {
        cargo_args.push("--release".into());
    }
    if ctx.global.quiet {
        cargo_args.push("--quiet".into());
    }
    cargo_args.push("--".into());
    cargo_args.extend(args.args);
    run_cargo(&target, cargo_args, &[])
}
