//! `cargo envdb new <words…>`: create the next numbered migration and record it in the sum file.

use super::read_migrations;
use crate::cli::Ctx;
use std::process::ExitCode;

/// Create the next migration file (and its down file with --down)
///
/// Example: `cargo envdb new add priority` writes migrations/0002_add_priority.sql
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Words describing the change; they become the file's slug
    #[arg(required = true, value_name = "WORDS")]
    words: Vec<String>,
    /// Also create NNNN_slug.down.sql to revert it
    #[arg(long)]
    down: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let (project, dir) = read_migrations(ctx)?;
    let created = crate::db::history::now();
    let made = crate::authoring::new_migration(&dir, &args.words, args.down, &created)?;
    ctx.out.status("Created", project.show(&made.up).display());
    if let Some(down) = &made.down {
        ctx.out.status("Created", project.show(down).display());
    }
    ctx.out.status("Updated", dir.show(crate::sum_file::FILE_NAME));
    Ok(ExitCode::SUCCESS)
}
