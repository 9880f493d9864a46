//! `cargo envdb prune`: remove old backups, never the newest one that verifies.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::backup::{self, BackupFile, Kind, State};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Remove old backups (and interrupted partial files); the newest backup that verifies is always kept
///
/// Only backups whose checksum is re-read and matches count toward --keep: prune re-reads the
/// newest ones until N verify. Damaged and unverified backups are never counted; they go only
/// when a kept verified backup is newer than them.
///
/// Example: `cargo envdb prune --env prod --keep 5`, `cargo envdb prune --older-than 30d`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Keep this many of the newest verified backups
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// Remove backups older than this (e.g. 12h, 7d, 4w)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    older_than: Option<std::time::Duration>,
    /// Print what would be removed
    #[arg(long)]
    dry_run: bool,
}

/// What a prune removed (or would remove), and the damaged backups it kept.
pub struct Pruned {
    pub removed: Vec<PathBuf>,
    pub damaged: Vec<BackupFile>,
}

impl Pruned {
    pub fn to_json(&self) -> serde_json::Value {
        let damaged: Vec<_> =
            self.damaged.iter().map(|b| serde_json::json!({ "path": b.path, "problem": b.problem })).collect();
        serde_json::json!({ "removed": self.removed, "damaged": damaged })
    }
}

/// Removes a pruned file with what belongs to it (`backup::remove_backup`).
fn remove(path: &Path) -> anyhow::Result<()> {
    backup::remove_backup(path).map_err(|(file, e)| {
        let rest = if file == path { "; the files before it are removed" } else { "" };
        anyhow::Error::new(e).context(format!("cannot remove {}{rest}", file.display()))
    })
}

/// Removes what the rule selects, printing each; shared with `upgrade` (`backup_keep`). The
/// newest backups are re-read against their checksums until enough of them verify.
pub fn prune(
    ctx: &mut Ctx,
    target: &Target,
    keep: Option<usize>,
    older_than: Option<std::time::Duration>,
    dry_run: bool,
) -> anyhow::Result<Pruned> {
    let mut list = target.backup_list()?;
    backup::verify_newest(&mut list, keep.unwrap_or(1).max(1));
    let removed = backup::prune_plan(&list, keep, older_than, std::time::SystemTime::now());
    for path in &removed {
        let database =
            list.iter().any(|b| &b.path == path && matches!(b.kind, Kind::ReplacedDatabase | Kind::RestoreDatabase));
        if database && !dry_run {
            // A database still in use (a restore still loading it) stays, said so.
            if let Err(e) = target.location.drop_leftover(&path.to_string_lossy()) {
                ctx.out.warn(format!("kept the database {}: {e}", path.display()));
                continue;
            }
        } else if !dry_run {
            remove(path)?;
        }
        ctx.out.status(if dry_run { "Would remove" } else { "Removed" }, target.project.show(path).display());
    }
    let damaged: Vec<BackupFile> =
        list.into_iter().filter(|b| b.state == State::Damaged && !removed.contains(&b.path)).collect();
    for b in &damaged {
        ctx.out.warn(format!(
            "{} is {}; kept and never counted: remove it yourself once you no longer need it",
            target.project.show(&b.path).display(),
            super::backups::describe(b)
        ));
    }
    Ok(Pruned { removed, damaged })
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let pruned = if args.dry_run {
        prune(ctx, &target, args.keep, args.older_than, true)?
    } else {
        target
            .write(ctx, "prune the backups of", false, |ctx| prune(ctx, &target, args.keep, args.older_than, false))?
    };
    if ctx.out.json() {
        let mut json = pruned.to_json();
        json["environment"] = target.env.name().into();
        json["dry_run"] = args.dry_run.into();
        ctx.out.print_json(&json);
    }
    let n = pruned.removed.len();
    let verb = if args.dry_run { "Dry run" } else { "Pruned" };
    ctx.out.status(
        verb,
        format!("{n} backup(s) of `{}`{}", target.env.name(), if args.dry_run { " would go" } else { "" }),
    );
    Ok(ExitCode::SUCCESS)
}
