//! `cargo envdb backups`: list an environment's backups and how far each can be trusted.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::backup::{BackupFile, Kind, State};
use std::process::ExitCode;

/// List the environment's backups: time, schema version, size, and whether each is sound
///
/// Every backup's header is checked against its size, and its checksum file looked for;
/// `--verify` also re-reads every backup against the checksum recorded when it was made. Exits 1
/// when a backup is damaged.
///
/// Example: `cargo envdb backups --env prod --verify`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Re-read every backup against its recorded checksum (reads each file once)
    #[arg(long)]
    verify: bool,
}

/// What a listed file is and how far it can be trusted, for a person.
pub fn describe(b: &BackupFile) -> String {
    let problem = b.problem.as_deref().unwrap_or("unknown");
    match (b.state, b.kind) {
        (State::Verified, _) => "verified (checksum re-read)".into(),
        (State::Checked, _) => "checked (header and size; checksum recorded, --verify re-reads it)".into(),
        (State::Unverified, _) => "unverified (no checksum recorded; never counted as verified)".into(),
        (State::Damaged, _) => format!("damaged: {problem}"),
        (State::Replaced, Kind::ReplacedDatabase) => {
            "database replaced by a restore (kept on the server as it was; `prune` drops it)".into()
        }
        (State::Replaced, _) => "replaced by a restore (kept as it was)".into(),
        (State::Interrupted, Kind::RestoreDatabase) => "database of an interrupted restore (`prune` drops it)".into(),
        (State::Interrupted, Kind::RestorePartial) => "interrupted restore (partial copy; `prune` removes it)".into(),
        (State::Interrupted, Kind::OrphanChecksum) => {
            "checksum or row counts file without its backup (`prune` removes it)".into()
        }
        (State::Interrupted, _) => "interrupted (partial; `prune` removes it)".into(),
        (State::InProgress, Kind::RestorePartial) => "restore in progress".into(),
        (State::InProgress, _) => "backup in progress".into(),
    }
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let dir = target.backups_dir();
    let mut list = target.backup_list()?;
    if args.verify {
        crate::db::backup::verify_newest(&mut list, usize::MAX);
    }
    let damaged = list.iter().filter(|b| b.state == State::Damaged).count();
    if ctx.out.json() {
        ctx.out.print_json(&list);
    } else {
        if list.is_empty() {
            ctx.out.line(format!("no backups of `{}` in {}", target.env.name(), target.project.show(&dir).display()));
        }
        for b in &list {
            let version = b.version.map_or_else(|| "?".into(), |v| v.to_string());
            ctx.out.line(format!(
                "{:<18}  v{version:<4} {:>12} bytes  {}  {}",
                b.timestamp,
                b.size,
                describe(b),
                target.project.show(&b.path).display()
            ));
        }
    }
    if damaged > 0 {
        ctx.out.warn(format!(
            "{damaged} backup(s) of `{}` are damaged: `restore latest`, `prune` and `backup_keep` never rely on them",
            target.env.name()
        ));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
