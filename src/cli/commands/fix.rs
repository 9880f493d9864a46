//! `cargo envdb fix`: after a merge, renumber this branch's migrations and rewrite the sum file.

use super::read_migrations;
use crate::cli::{Ctx, git};
use crate::sum_file::{self, SumFile};
use anyhow::Context as _;
use std::process::ExitCode;

/// Renumber this branch's migrations that collide after a merge, and rewrite a conflicted sum file
///
/// Example: `git merge main` reports a conflict in migrations/envdb.sum → `cargo envdb fix`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the renames without doing them
    #[arg(long)]
    dry_run: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let (project, dir) = read_migrations(ctx)?;
    if let Some((name, reason)) = dir.invalid.first() {
        anyhow::bail!("{}: not a migration file name: {reason}; rename it before running fix", dir.show(name));
    }
    dir.require_readable()?;
    let (origin, why) = git::fix_origin(&dir.path);
    ctx.out.note(format!("this branch's migrations are those missing from {why}"));
    let recorded = dir.sum_text.as_deref().map(SumFile::salvage).unwrap_or_default();
    let databases = local_histories(&project)?;
    let applied = |file: &str| -> Option<String> {
        databases.iter().find(|(_, names)| names.iter().any(|n| n == file)).map(|(db, _)| db.clone())
    };
    let renames = crate::fix::plan(&dir, &origin, &recorded, &applied)?;
    let json = |written: bool| {
        let renames: Vec<_> =
            renames.iter().map(|r| serde_json::json!({"from": dir.show(&r.from), "to": dir.show(&r.to)})).collect();
        serde_json::json!({
            "dry_run": args.dry_run,
            "theirs": why,
            "renames": renames,
            "sum_file": dir.show(sum_file::FILE_NAME),
            "sum_file_written": written,
        })
    };
    if !ctx.out.json() {
        for r in &renames {
            let verb = if args.dry_run { "Would rename" } else { "Renamed" };
            ctx.out.status(verb, format!("{} → {}", dir.show(&r.from), r.to));
        }
    }
    if args.dry_run {
        if ctx.out.json() {
            ctx.out.print_json(&json(false));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sum = crate::fix::renamed_sum(&dir, &renames);
    crate::fix::apply(&dir, &renames)?;
    let sum_path = dir.path.join(sum_file::FILE_NAME);
    let text = sum.to_string();
    let write = dir.sum_text.as_deref() != Some(text.as_str());
    if write && let Err(e) = crate::fs_util::write_atomic(&sum_path, text.as_bytes()) {
        crate::fix::undo(&dir, &renames);
        return Err(e)
            .with_context(|| format!("cannot write {}; the renames were undone", dir.show(sum_file::FILE_NAME)));
    }
    if ctx.out.json() {
        ctx.out.print_json(&json(write));
        return Ok(ExitCode::SUCCESS);
    }
    if write {
        ctx.out.status("Wrote", dir.show(sum_file::FILE_NAME));
    }
    if renames.is_empty() {
        ctx.out.status("Fresh", "no migration needed renumbering");
    }
    Ok(ExitCode::SUCCESS)
}

/// The applied migration names of every environment's database that exists on this machine (a
/// migration one of them has applied must keep its number).
fn local_histories(project: &crate::project::Project) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut found = Vec::new();
    for spec in crate::cli::target::environments(project)?.specs.values() {
        if !spec.database.exists() {
            continue;
        }
        let opts = crate::db::OpenOptions { create: false, read_only: true, ..Default::default() };
        let conn = crate::db::open(&spec.database, opts)?;
        let names = crate::db::history::read(&conn)
            .with_context(|| format!("cannot read the history of {}", spec.database.display()))?
            .into_iter()
            .map(|a| a.name)
            .collect();
        found.push((project.show(&spec.database).display().to_string(), names));
    }
    Ok(found)
}
