//! `cargo envdb export --to sqlx|dbmate DIR`: the migrations in another tool's layout.

use super::read_migrations;
use crate::cli::Ctx;
use crate::import::{Tool, export, map, write};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write the migrations in sqlx's or dbmate's layout, so that choosing envdb is never a trap
///
/// Migrations that came from that tool (per migrations/IMPORTED.md) get their old versions, names
/// and bytes back, so its recorded checksums still match; newer ones follow with the next numbers.
/// `no-transaction` becomes the tool's marker. DIR must be missing or empty.
///
/// Example: `cargo envdb export --to sqlx migrations.sqlx`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tool whose layout to write
    #[arg(long, value_name = "TOOL", value_parser = ["sqlx", "dbmate"])]
    to: String,
    /// The directory to write (missing or empty)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let tool: Tool = args.to.parse().map_err(anyhow::Error::msg)?;
    let (project, dir) = read_migrations(ctx)?;
    let report = crate::check::check_as(&dir, false, project.config.dialect());
    if !report.is_ok() {
        return Err(anyhow::Error::new(crate::problem::CheckFailed(report)))
            .context("the migrations must pass `cargo envdb check` before they are exported");
    }
    let map = match std::fs::read_to_string(dir.path.join(map::FILE_NAME)) {
        Ok(text) => Some(
            map::ImportMap::parse(&text)
                .with_context(|| format!("{} cannot be read back", dir.show(map::FILE_NAME)))?,
        ),
        Err(_) => None,
    };
    let files = export::files(tool, &dir.migrations(), map.as_ref())?;
    let target = std::env::current_dir().context("cannot read the current directory")?.join(&args.dir);
    let shown = project.show(&target);
    let bytes: Vec<(String, Vec<u8>)> = files.into_iter().map(|(n, c)| (n, c.into_bytes())).collect();
    let help = "name a new or empty directory";
    if write::write(&target, &shown, &bytes, "export", help)? == write::Outcome::AlreadyImported {
        ctx.out.status("Fresh", format!("{} already holds this export", shown.display()));
    } else {
        ctx.out
            .status("Exported", format!("{} migration file(s) in {tool}'s layout to {}", bytes.len(), shown.display()));
    }
    Ok(ExitCode::SUCCESS)
}
