//! `cargo envdb upgrade`: the safe way to move a deployed database forward: refuse while the
//! application runs, back up, migrate, validate, report.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use anyhow::Context as _;
use std::process::ExitCode;

/// Refuse while the app runs, back up, migrate, validate, and report versions before and after
///
/// Example: `cargo envdb upgrade --env prod --dry-run`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// List the pending migrations and the backup it would make; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Skip the backup (a protected environment asks for confirmation)
    #[arg(long)]
    no_backup: bool,
    /// Upgrade even while an application holds the database (audited)
    #[arg(long)]
    force: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let migrations = target.migrations()?;
    let pending = super::migrate::pending(&target, &migrations, None)?;
    let before = target.version();
    let exists = target.location.exists();
    let pending_json =
        || -> Vec<_> { pending.iter().map(|m| serde_json::json!({ "version": m.version, "file": m.name })).collect() };
    if args.dry_run {
        let app_running = !args.force && target.app_connected();
        if app_running {
            ctx.out.warn("an application holds the database: the upgrade itself would refuse until it stops");
        }
        let would_back_up = (!args.no_backup && exists && !pending.is_empty()).then(|| target.backup_name(before));
        let after = migrations.last().map_or(0, |m| m.version);
        if ctx.out.json() {
            ctx.out.print_json(&serde_json::json!({
                "environment": target.env.name(),
                "database": target.location.file().map_or_else(|| target.show(), |p| p.display().to_string()),
                "dry_run": true,
                "version_before": before,
                "version_after": after,
                "pending": pending_json(),
                "backup": would_back_up,
                "application_running": app_running,
            }));
            return Ok(ExitCode::SUCCESS);
        }
        for m in &pending {
            ctx.out.status("Would apply", target.dir.show(m.name));
        }
        if let Some(would) = &would_back_up {
            ctx.out.status("Would back up", format!("to {}", target.project.show(would).display()));
        }
        ctx.out.status("Dry run", format!("schema version {before} → {after}; nothing changed"));
        return Ok(ExitCode::SUCCESS);
    }
    let report_json = |report: &crate::db::apply::MigrateReport, backup: Option<&std::path::Path>, pruned| {
        let applied: Vec<_> = report
            .applied
            .iter()
            .map(|a| serde_json::json!({ "version": a.version, "file": a.name, "ms": a.ms }))
            .collect();
        serde_json::json!({
            "environment": target.env.name(),
            "database": target.location.file().map_or_else(|| target.show(), |p| p.display().to_string()),
            "dry_run": false,
            "version_before": report.before,
            "version_after": report.after,
            "applied": applied,
            "backup": backup,
            "pruned": pruned,
        })
    };
    if pending.is_empty() {
        if ctx.out.json() {
            let report = crate::db::apply::MigrateReport { before, after: before, applied: Vec::new() };
            ctx.out.print_json(&report_json(&report, None, Vec::<std::path::PathBuf>::new()));
        }
        ctx.out.status("Fresh", format!("{} is at version {before}; nothing to upgrade", target.show()));
        return Ok(ExitCode::SUCCESS);
    }
    // The replay that validates the result runs first: a migration the replay cannot run (it
    // refuses what could reach the disk) stops the upgrade before anything changed.
    let replayed = target
        .replay(&migrations, None)
        .with_context(|| format!("nothing was changed: {} is still at version {before}", target.show()))?;
    let destructive = args.no_backup;
    let invoked_as = ctx.invoked_as.clone();
    let outcome = target.write(ctx, "upgrade without a backup", destructive, |ctx| {
        // Applications stay out from here to the end (taken after any confirmation prompt).
        let apps_out = target.hold_applications("upgrade", args.force)?;
        let _lock = target.run_lock(ctx)?;
        let backup = if args.no_backup || !exists { None } else { Some(target.backup(ctx, None, false, Default::default())?.path) };
        if let Some(b) = &backup {
            ctx.out.status("Backed up", target.project.show(b).display());
        }
        let restore_hint = |e: anyhow::Error| match &backup {
            Some(b) => e.context(format!(
                "the upgrade stopped; the database is at the last migration that succeeded\n  help: to return to version {before}: {invoked_as} restore {} --env {} {}",
                b.display(),
                target.env.name(),
                if target.env.protected() { format!("--confirm {}", target.env.name()) } else { String::new() }
            )),
            None => e,
        };
        let report =
            super::migrate::apply_pending_locked(ctx, &target, &migrations, None, false, apps_out.is_some()).map_err(restore_hint)?;
        let problems = super::validate::problems(&target, &migrations, Some(&replayed)).map_err(restore_hint)?;
        if !problems.is_empty() {
            let e = anyhow::anyhow!("the upgraded database fails validation:\n  {}", problems.join("\n  "));
            return Err(restore_hint(e));
        }
        Ok((report, backup))
    })?;
    let (report, backup) = outcome;
    let pruned = match target.env.spec.backup_keep {
        Some(keep) => super::prune::prune(ctx, &target, Some(keep as usize), None, false)?.removed,
        None => Vec::new(),
    };
    if ctx.out.json() {
        ctx.out.print_json(&report_json(&report, backup.as_deref(), pruned));
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.line(format!("Schema version: {} → {}", report.before, report.after));
    for a in &report.applied {
        ctx.out.line(format!("  applied {} ({} ms)", a.name, a.ms));
    }
    if let Some(b) = &backup {
        ctx.out.line(format!("Backup: {}", target.project.show(b).display()));
    }
    Ok(ExitCode::SUCCESS)
}
