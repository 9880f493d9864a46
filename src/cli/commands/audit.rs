//! `cargo envdb audit`: the audit log of an environment.

use crate::cli::Ctx;
use crate::cli::audit::Line;
use crate::cli::target::{self, EnvArgs};
use std::process::ExitCode;

/// Print the audit log of an environment (every write to a protected environment)
///
/// A line that cannot be read (a torn write, damage) is flagged with its number and the rest
/// is printed; the exit code is then 1.
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
    let lines = crate::cli::audit::read(&path)?;
    let unreadable = lines.iter().filter(|l| matches!(l, Line::Unreadable { .. })).count();
    if ctx.out.json() {
        let list: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| match l {
                Line::Entry(e) => e.clone(),
                Line::Unreadable { line, reason, text } => {
                    serde_json::json!({ "line": line, "unreadable": reason, "text": text })
                }
            })
            .collect();
        ctx.out.print_json(&list);
    } else {
        if lines.is_empty() {
            ctx.out.line(format!("no audit entries for `{}` ({})", env.name(), project.show(&path).display()));
        }
        for l in &lines {
            ctx.out.line(describe(l));
        }
    }
    if unreadable == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.warn(format!(
        "{} has {unreadable} unreadable line(s), flagged above with their numbers; {} readable entries are listed\n  help: the log itself is unchanged; inspect those lines with a text editor",
        project.show(&path).display(),
        lines.len() - unreadable
    ));
    Ok(ExitCode::FAILURE)
}

/// One line of the log as text.
fn describe(line: &Line) -> String {
    match line {
        Line::Entry(e) => {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            format!(
                "{}  {}@{}  v{} → v{}  {}  {}{}",
                s("time"),
                s("user"),
                s("host"),
                e["version_before"],
                e["version_after"],
                s("outcome"),
                s("command"),
                e["error"].as_str().map(|m| format!("\n    error: {m}")).unwrap_or_default()
            )
        }
        Line::Unreadable { line, reason, .. } => format!("line {line}: unreadable ({reason})"),
    }
}
