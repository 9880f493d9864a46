//! `cargo envdb check`: verify the migrations directory and the sum file.

use crate::check::check_as;
use crate::check_cache::{self, Checked};
use crate::cli::{Ctx, git};
use crate::migration_dir::MigrationDir;
use crate::problem::Severity;
use std::process::ExitCode;

/// Verify names, order, the sum file and checksums; report every problem
///
/// Example: `cargo envdb check --strict`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Treat warnings (empty or destructive migrations) as errors
    #[arg(long)]
    strict: bool,
    /// Check the content staged in git's index instead of the working tree (the pre-commit hook)
    #[arg(long)]
    staged: bool,
    /// Read and hash every file, whatever `.envdb/check-cache.json` says (CI always does: `CI` is set)
    #[arg(long)]
    no_cache: bool,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let dialect = project.config.dialect();
    let display = project.show(&project.migrations);
    let checked = if args.staged {
        match git::staged_files(&project.migrations)? {
            Some(files) => {
                let dir = MigrationDir::from_memory(&display, files);
                let report = check_as(&dir, false, dialect);
                Checked::of(dir, report)
            }
            None => {
                ctx.out.note(format!("nothing staged under {}", display.display()));
                return Ok(ExitCode::SUCCESS);
            }
        }
    } else {
        let use_cache = check_cache::allowed(args.no_cache);
        // A large directory on a slow disk: past one second, a line says what runs.
        let bar = ctx.out.working("Checking");
        bar.step(&format!("reading, hashing and lexing the files of {}", display.display()));
        check_cache::checked(&project.root, &project.migrations, &display, dialect, use_cache)?
    };
    for name in &checked.ignored {
        ctx.out.note(format!("{}: ignored, not a migration", display.join(name).display()));
    }
    let report = if args.strict { checked.report.strict() } else { checked.report };
    if ctx.out.json() {
        ctx.out.print_json(&report.problems);
    } else {
        for p in &report.problems {
            match p.severity {
                Severity::Error => ctx.out.error_line(p),
                Severity::Warning => ctx.out.warn(p),
            }
        }
    }
    let (errors, warnings) = (report.errors().count(), report.warnings().count());
    if errors > 0 {
        if !ctx.out.json() {
            ctx.out.line_err(format!("\n{errors} error(s), {warnings} warning(s) in {}", display.display()));
        }
        return Ok(ExitCode::FAILURE);
    }
    let ups = checked.migrations.len();
    let what = if args.staged { "staged migration(s)" } else { "migration(s)" };
    ctx.out.status("Checked", format!("{ups} {what} in {}, {warnings} warning(s)", display.display()));
    Ok(ExitCode::SUCCESS)
}
