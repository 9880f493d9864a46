//! `cargo envdb backup`: a verified copy of the database.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::backup::options::{Content, DumpOptions, Format};
use std::path::PathBuf;
use std::process::ExitCode;

/// Back the database up: online, verified, then renamed into <data_dir>/backups (mode 0600)
///
/// A rollback-journal database is copied by the kernel while `quick_check` reads the same fixed
/// snapshot; a WAL database goes through SQLite's backup API and the copy is `quick_check`ed;
/// `--vacuum` writes a compact copy with VACUUM INTO and `quick_check`s it. A PostgreSQL database
/// is dumped by pg_dump (custom format unless --dump-format) and `pg_restore --list` must find every
/// table in the archive. The SHA-256 is recorded beside the backup (`<backup>.sha256`). A
/// database that fails the check is not backed up.
///
/// Example: `cargo envdb backup --env prod`, `cargo envdb backup -o /mnt/usb/app.db --vacuum`,
/// `cargo envdb backup --env prod --dump-format directory --jobs 4 --verify-restore`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// Write the backup here instead of the environment's backups directory
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// A compact copy (VACUUM INTO) instead of a page-for-page one (SQLite)
    #[arg(long)]
    vacuum: bool,
    /// pg_dump's format (PostgreSQL): custom (compressed, .dump), plain (SQL, .sql), directory (.dir)
    /// [`--format` is taken: it is every command's output format]
    #[arg(long, value_name = "FORMAT", value_parser = ["custom", "plain", "directory"])]
    dump_format: Option<String>,
    /// The schema alone, no rows (PostgreSQL)
    #[arg(long, conflicts_with = "data_only")]
    schema_only: bool,
    /// The rows alone, no schema (PostgreSQL)
    #[arg(long)]
    data_only: bool,
    /// pg_dump workers, for --format directory (PostgreSQL)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: Option<u32>,
    /// Also restore the dump into a scratch database and compare every table's row count (PostgreSQL)
    #[arg(long, conflicts_with = "data_only")]
    verify_restore: bool,
}

impl Args {
    /// How to dump a server database (the defaults for a file, which refuses any other).
    fn dump(&self) -> anyhow::Result<DumpOptions> {
        let format = match self.dump_format.as_deref() {
            Some("plain") => Format::Plain,
            Some("directory") => Format::Directory,
            _ => Format::Custom,
        };
        anyhow::ensure!(
            self.jobs.is_none() || format == Format::Directory,
            "--jobs needs --dump-format directory (pg_dump writes the other formats with one worker); nothing was written"
        );
        let content = match (self.schema_only, self.data_only) {
            (true, _) => Content::SchemaOnly,
            (_, true) => Content::DataOnly,
            _ => Content::Full,
        };
        Ok(DumpOptions { format, content, jobs: self.jobs, verify_restore: self.verify_restore })
    }
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let dump = args.dump()?;
    let made =
        target.write(ctx, "back up", false, |ctx| target.backup(ctx, args.output.as_deref(), args.vacuum, dump))?;
    let size = crate::fs_util::size_of(&made.path);
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({
            "backup": made.path,
            "size_bytes": size,
            "verification": made.verification,
            "sha256": made.sha256,
        }));
    } else {
        ctx.out.status(
            "Backed up",
            format!("{} → {} ({size} bytes)", target.show(), target.project.show(&made.path).display()),
        );
        // Say what was checked, not a word that could mean anything.
        ctx.out.status(
            "Verified",
            format!(
                "{}; SHA-256 {}… recorded in {}",
                made.verification.describe(),
                &made.sha256[..12.min(made.sha256.len())],
                target.project.show(&crate::db::backup::checksum_path(&made.path)).display()
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}
