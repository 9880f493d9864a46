//! `cargo envdb audit`: the audit log of an environment.

use crate::cli::Ctx;
use crate::cli::target::{self, EnvArgs};
use anyhow::Context as _;
use std::process::ExitCode;

/// Print the audit log of an environment (every write to a protected environment)
///
/// Example: `cargo envdb audit --env prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    env: EnvArgs,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let env = target::resolve_env(&project, &args.env)?;
    let path = crate::cli::audit::path(&env);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let entries: Vec<serde_json::Value> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {}: not a JSON entry", path.display(), i + 1))
        })
        .collect::<anyhow::Result<_>>()?;
    if ctx.out.json() {
        ctx.out.print_json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        ctx.out.line(format!("no audit entries for `{}` ({})", env.name(), path.display()));
    }
    for e in &entries {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        ctx.out.line(format!(
            "{}  {}@{}  v{} → v{}  {}  {}{}",
            s("time"),
            s("user"),
            s("host"),
            e["version_before"],
            e["version_after"],
            s("outcome"),
            s("command"),
            e["error"].as_str().map(|m| format!("\n    error: {m}")).unwrap_or_default()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
