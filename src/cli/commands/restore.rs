//! `cargo envdb restore`: put a backup back, verified, after keeping what it replaces.

use crate::cli::Ctx;
use crate::cli::output::above;
use crate::cli::target::{DbArgs, Target};
use crate::db::backup::{self, Kind, State};
use crate::plan;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Restore a backup (a file, or `latest`) over the environment's database
///
/// `latest` is the newest backup whose checksum is re-read and matches; damaged and unverified
/// ones are skipped, each named. A named file is checked (header, checksum if recorded, pages)
/// while it is copied; one without envdb's metadata is refused unless --force. On PostgreSQL the
/// archive is restored into a new database `<db>__restore_<ts>`, verified (row counts, history,
/// invalid indexes), and swapped in by renaming while no session is connected; the old one is
/// kept as `<db>__replaced_<ts>`. `--merge` loads the archive's rows into the database instead.
///
/// Example: `cargo envdb restore latest --env prod --confirm prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup file, or `latest` for the newest verified backup of the environment
    #[arg(value_name = "FILE|latest")]
    file: String,
    #[command(flatten)]
    db: DbArgs,
    /// Restore even while an application holds the database (on PostgreSQL: end its sessions,
    /// audited), or a file without envdb's metadata (an empty file, another application's database)
    #[arg(long)]
    force: bool,
    /// Replace the database with the backup's (the default): on PostgreSQL a new database, verified, swapped in
    #[arg(long, conflicts_with = "merge")]
    clean: bool,
    /// PostgreSQL: load the archive's rows into the existing database (same schema version) in one transaction
    #[arg(long)]
    merge: bool,
}

/// The newest backup that verifies, naming each newer one it skips and why.
fn latest(ctx: &mut Ctx, target: &Target) -> anyhow::Result<PathBuf> {
    let dir = target.backups_dir();
    let mut list = target.backup_list()?;
    // Re-reading a large backup takes a while: past one second, a line says so.
    let bar = ctx.out.working("Restoring");
    bar.step("re-reading the newest backup's checksum");
    backup::verify_newest(&mut list, 1);
    drop(bar);
    let chosen = list.iter().rposition(|b| b.verified());
    for b in list[chosen.map_or(0, |i| i + 1)..].iter().filter(|b| b.kind == Kind::Backup) {
        let why = super::backups::describe(b);
        ctx.out.warn(format!("skipped {}, newer but {why}", target.project.show(&b.path).display()));
    }
    if let Some(i) = chosen {
        return Ok(list.swap_remove(i).path);
    }
    let help = match list.iter().rev().find(|b| b.kind == Kind::Backup && b.state == State::Unverified) {
        Some(b) => format!(
            "\n  help: {} has no checksum to verify; if you trust it, restore it by name: cargo envdb restore {} --env {}",
            target.project.show(&b.path).display(),
            b.path.display(),
            target.env.name()
        ),
        None => String::new(),
    };
    anyhow::bail!(
        "there is no verified backup of `{}` in {}; nothing was changed{help}",
        target.env.name(),
        target.project.show(&dir).display()
    )
}

/// Refuses a file that is damaged, empty, not envdb's (unless `force`), of another environment or
/// project, or newer than the migrations on disk.
fn check(ctx: &mut Ctx, target: &Target, file: &Path, show: &str, force: bool) -> anyhow::Result<()> {
    let beside = backup::unfolded(file);
    if !beside.is_empty() {
        let names: Vec<_> = beside.iter().map(|p| target.project.show(p).display().to_string()).collect();
        anyhow::bail!(
            "{show} cannot be restored alone: {} beside it holds part of it; nothing was changed\n  help: let SQLite fold it into the file (`sqlite3 {} 'PRAGMA quick_check'` does, as it closes), then restore again",
            names.join(" and "),
            file.display()
        );
    }
    let empty = std::fs::metadata(file).with_context(|| format!("cannot read {show}"))?.len() == 0;
    if !empty {
        backup::check_header(file).map_err(|why| {
            anyhow::anyhow!(
                "{show} cannot be restored: {why}; nothing was changed\n  help: restore another backup (`cargo envdb backups --verify` lists them)"
            )
        })?;
    }
    let id = backup::identity(file, target.busy).with_context(|| format!("{show} cannot be restored"))?;
    check_identity(ctx, target, &id, show, force, empty)
}

/// Refuses what a backup says about itself: no envdb metadata (unless `force`), another
/// environment or project, a history the migrations on disk do not reach.
fn check_identity(
    ctx: &mut Ctx,
    target: &Target,
    id: &backup::Identity,
    show: &str,
    force: bool,
    empty: bool,
) -> anyhow::Result<()> {
    if !id.missing.is_empty() {
        let what = if empty { "is empty (0 bytes): it has no envdb metadata" } else { "has no envdb metadata" };
        let tables = id.missing.iter().map(|t| format!("the {t} table")).collect::<Vec<_>>().join(" and ");
        // --force also lifts the guard against a running application: a refusal that points to
        // it names that too, so the flag never turns the guard off unsaid.
        if !force {
            let (also, anyway) = match target.in_use() {
                Some(in_use) => (format!(", and {in_use}"), "anyway, and also while the application runs"),
                None => (String::new(), "anyway"),
            };
            anyhow::bail!(
                "{show} {what} (missing: {tables}): it is not a database envdb made or migrated{also}; nothing was changed\n  help: check the file; --force restores it {anyway} (the current database is kept in the backups directory)"
            );
        }
        ctx.out.warn(format!("{show} {what} (missing: {tables}); restoring it anyway (--force)"));
    }
    if let Some(env) = &id.environment {
        anyhow::ensure!(
            env == target.env.name(),
            "{show} is a backup of the environment `{env}`, not `{}`; nothing was changed",
            target.env.name()
        );
    }
    if let Some(project) = &id.project {
        anyhow::ensure!(
            *project == target.project.name(),
            "{show} is a backup of the project `{project}`, not `{}`; nothing was changed",
            target.project.name()
        );
    }
    let migrations = target.migrations()?;
    plan::verify(&migrations, &id.history)
        .with_context(|| format!("{show} does not fit the migrations on disk; nothing was changed"))?;
    Ok(())
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    // `latest` was re-read against its checksum just now; a named file's recorded checksum is
    // re-read while it is copied.
    let (file, checksum) = if args.file == "latest" {
        (latest(ctx, &target)?, None)
    } else {
        let p = PathBuf::from(&args.file);
        anyhow::ensure!(p.is_file(), "{} is not a file", p.display());
        let file = std::path::absolute(&p).unwrap_or(p);
        let checksum = backup::recorded(&file).map_err(|why| {
            anyhow::anyhow!("{} cannot be trusted: {why}; nothing was changed", target.project.show(&file).display())
        })?;
        (file, checksum)
    };
    let show = target.project.show(&file).display().to_string();
    if target.location.file().is_none() {
        return restore_archive(ctx, &target, &file, checksum.as_deref(), &show, &args);
    }
    anyhow::ensure!(
        !args.merge,
        "--merge is for a PostgreSQL database; {} is a SQLite file; nothing was changed",
        target.show()
    );
    // Check what the file says about itself before anything changes; its pages are verified
    // while it is copied, before it replaces anything.
    check(ctx, &target, &file, &show, args.force)?;
    if let Some(in_use) = args.force.then(|| target.in_use()).flatten() {
        ctx.out.warn(format!("{in_use}; restoring anyway (--force)"));
    }

    target.write(ctx, "restore a backup over", true, |ctx| {
        // Applications stay out from here to the end (taken after any confirmation prompt).
        let _apps_out = target.hold_applications("restore", args.force)?;
        let _lock = target.run_lock(ctx)?;
        // The version of the database it replaces is read under the lock (a run this waited for
        // may have moved it on), once the file has verified and the database is as SQLite sees it
        // (a crashed writer's hot journal rolled back).
        let mut before = 0;
        let bar = ctx.out.working("Restoring");
        bar.step("copying the backup and checking its pages");
        let kept = backup::replace(
            &file,
            &target.path,
            || {
                before = target.version();
                backup::replaced_path_for(&target.backups_dir(), &target.path, target.env.name(), before)
            },
            checksum.as_deref(),
            target.busy,
        )
        .with_context(|| format!("{show} cannot be restored"))?;
        drop(bar);
        if let Some(kept) = kept {
            ctx.out.status("Kept", format!("the replaced database as {}", target.project.show(&kept).display()));
        }
        ctx.out.status(
            "Restored",
            format!("{} from {show}: schema version {before} → {}", target.show(), target.version()),
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Restores a `pg_dump` archive on a server: checked (its start, its checksum when one is
/// recorded, what it says about itself) before anything changes, then `--clean` or `--merge`.
fn restore_archive(
    ctx: &mut Ctx,
    target: &Target,
    file: &Path,
    checksum: Option<&str>,
    show: &str,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let unusable = |why: String| {
        anyhow::anyhow!(
            "{show} cannot be restored: {why}; nothing was changed\n  help: restore another backup (`cargo envdb backups --verify` lists them)"
        )
    };
    backup::check_backup(file).map_err(unusable)?;
    if let Some(sum) = checksum {
        backup::matches(file, sum).map_err(unusable)?;
    }
    let contents = target.location.archive_identity(file)?;
    let id = backup::Identity {
        environment: contents.environment,
        project: contents.project,
        missing: if contents.has_history { Vec::new() } else { vec!["envdb_migrations", "envdb_meta"] },
        history: contents.history,
    };
    check_identity(ctx, target, &id, show, args.force, false)?;
    let archive_version = id.history.last().map_or(0, |a| a.version);
    target.write(ctx, "restore a backup over", true, |ctx| {
        // On a terminal, past one second: the step running and the time, below its lines.
        let bar = ctx.out.working("Restoring");
        let out = &mut ctx.out;
        let restored = target
            .location
            .restore_archive(target.env.name(), file, args.merge, args.force, archive_version, &mut |verb, what| {
                bar.step(&format!("{} {what}", verb.to_lowercase()));
                above(Some(&bar), || out.status(verb, what));
            })
            .with_context(|| format!("{show} cannot be restored"))?;
        drop(bar);
        if !restored.terminated.is_empty() {
            ctx.out.warn(format!(
                "ended {} session(s) connected to {} (--force): {}",
                restored.terminated.len(),
                target.show(),
                restored.terminated.join("; ")
            ));
        }
        if let Some(kept) = &restored.kept {
            ctx.out.status(
                "Kept",
                format!("the replaced database as {kept} (`cargo envdb backups` lists it, `prune` drops it)"),
            );
        }
        let before = restored.before.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
        let how = if args.merge { "merged into" } else { "restored" };
        ctx.out.status(
            "Restored",
            format!("{} {how} from {show}: schema version {before} → {}", target.show(), restored.after),
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
