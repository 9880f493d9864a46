//! `cargo envdb import --from <tool> [DIR]`: another tool's migrations as envdb files.

use crate::cli::Ctx;
use crate::import::{Tool, map, write};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Convert another tool's migrations (sqlx, diesel, refinery, dbmate, golang-migrate, goose) into envdb files
///
/// Numbers them 1, 2, 3… in the tool's own order, keeps each file's SQL, writes the sum file and
/// migrations/IMPORTED.md (the map `adopt` reads). Anything that cannot be converted faithfully is
/// an error naming the file, and then nothing is written.
///
/// Example: `cargo envdb import --from sqlx migrations.sqlx`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tool the migrations come from
    #[arg(long, value_name = "TOOL", value_parser = clap::builder::PossibleValuesParser::new(Tool::ALL.map(Tool::name)))]
    from: String,
    /// The tool's migrations directory (default: the tool's own, e.g. db/migrations for dbmate)
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Show what would be written without writing anything
    #[arg(long)]
    dry_run: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let tool: Tool = args.from.parse().map_err(anyhow::Error::msg)?;
    let project = ctx.project()?;
    let source = match &args.dir {
        Some(dir) => std::env::current_dir().context("cannot read the current directory")?.join(dir),
        None => project.root.join(tool.default_dir()),
    };
    let shown_source = project.show(&source);
    let shown_target = project.show(&project.migrations);
    if source.exists()
        && project.migrations.exists()
        && crate::project::physical(&source) == crate::project::physical(&project.migrations)
    {
        anyhow::bail!(
            "{} is both {tool}'s directory and envdb's migrations directory; nothing was written\n  help: move {tool}'s files aside first (`git mv {0} {0}.{tool}`), then run `cargo envdb import --from {tool} {0}.{tool}`",
            shown_source.display()
        );
    }
    let sources = tool.read(&source)?;
    let planned = write::plan(tool, &sources, project.config.dialect(), &shown_target)?;
    for (s, e) in sources.iter().zip(&planned.map.entries) {
        let verb = if args.dry_run { "Would map" } else { "Mapped" };
        ctx.out.status(verb, format!("{} {} -> {}", tool, s.old_file, shown_target.join(&e.new_file).display()));
    }
    if args.dry_run {
        ctx.out.status(
            "Dry run",
            format!("{} file(s) would be written to {}", planned.files.len(), shown_target.display()),
        );
        return Ok(ExitCode::SUCCESS);
    }
    match write::write(&project.migrations, &shown_target, &planned.files, "import", write::MOVE_ASIDE)? {
        write::Outcome::AlreadyImported => {
            ctx.out
                .status("Fresh", format!("{} already holds this import; nothing was written", shown_target.display()));
        }
        write::Outcome::Written => {
            ctx.out.status(
                "Wrote",
                format!(
                    "{} migration file(s), {} and {} in {}",
                    planned.files.len() - 2,
                    crate::sum_file::FILE_NAME,
                    map::FILE_NAME,
                    shown_target.display()
                ),
            );
            ctx.out.status(
                "Next",
                format!("`cargo envdb check`, then `cargo envdb adopt --from {tool} --env <env>` for each database {tool} migrated"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
