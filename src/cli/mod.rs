//! The command line: `cargo envdb <command>`, also embedded by a host's `cargo xtask db …`.
//!
//! Parsing is clap derive; each subcommand is one file under `commands/` with its arguments and
//! an `exec`. Only this layer prints; the library returns values and typed errors.

pub mod audit;
pub(crate) mod commands;
mod git;
pub mod output;
pub mod protect;
#[cfg(feature = "cli")]
mod scaffold;
pub mod target;

use crate::project::{Project, ProjectError};
use anyhow::Context as _;
use clap::{Args, Parser};
use output::{ColorWhen, Format, Output};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a check failed, or the command failed (the message says why)
  2  bad usage (unknown option, missing argument, a value out of range,
     --format json on a command that does not print JSON)";

#[derive(Debug, Parser)]
#[command(
    name = "cargo envdb",
    bin_name = "cargo envdb",
    version,
    about = "Numbered, checksummed SQLite migrations and per-environment databases",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: commands::Command,
}

/// Options every command accepts, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path to the Cargo.toml of the project (default: found from the current directory)
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// The migrations directory (default: `migrations` in envdb.toml, else `migrations/`)
    #[arg(long, global = true, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
    /// Say more (notes about skipped files and decisions)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say nothing but errors and results
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour output: auto, always or never (default: $CARGO_TERM_COLOR, else auto; NO_COLOR honoured)
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub color: Option<ColorWhen>,
    /// Output format for commands that report
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Confirm a destructive command against a protected environment by naming it (for scripts);
    /// repeat it when two are involved (adopting one protected environment's database as another)
    #[arg(long, global = true, value_name = "NAME", action = clap::ArgAction::Append)]
    pub confirm: Vec<String>,
}

/// What every command gets: the global options and the output.
pub struct Ctx {
    pub global: GlobalArgs,
    pub out: Output,
    /// The migrations and envdb.toml a host binary was built with, when the commands run inside
    /// it (`envdb::app`): the project comes from them, not from a source tree.
    pub embedded: Option<crate::Migrations>,
    /// How the commands are invoked, for the commands a message tells to run: `cargo envdb`, or
    /// `myapp db` inside a host binary.
    pub invoked_as: String,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Ctx {
        let out = Output::new(global.color, global.format, global.quiet, global.verbose);
        Ctx { global, out, embedded: None, invoked_as: "cargo envdb".into() }
    }

    /// Finds the project (walking up directories; no `cargo metadata`), or inside a host binary
    /// the one it was built from (its root need not exist here).
    pub fn project(&self) -> anyhow::Result<Project> {
        if let Some(migrations) = &self.embedded {
            let config = crate::config::Config::parse(migrations.config_text())
                .map_err(|e| anyhow::anyhow!("the envdb.toml embedded at build time is invalid: {e}"))?;
            let root = match migrations.root() {
                "" => std::env::current_dir().context("cannot read the current directory")?,
                root => PathBuf::from(root),
            };
            return Ok(Project::embedded(root, config));
        }
        let start = match &self.global.manifest_path {
            Some(path) => {
                anyhow::ensure!(path.is_file(), "manifest path {} does not exist", path.display());
                path.clone()
            }
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        let project = match Project::discover(&start) {
            // An operator's server holds a migrations directory and no project: with
            // --migrations given, the current directory is the root.
            Err(ProjectError::NotFound(_))
                if self.global.migrations.is_some() && self.global.manifest_path.is_none() =>
            {
                Project::at(&start)
            }
            found => found?,
        };
        Ok(match &self.global.migrations {
            Some(dir) => project.with_migrations(dir),
            None => project,
        })
    }
}

/// Entry point of the `cargo-envdb` binary. Cargo passes `envdb` as the first argument; running
/// `cargo-envdb <command>` directly works too.
pub fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "envdb") {
        args.remove(1);
    }
    run_from(args)
}

/// Runs the command line with these arguments (the first is the program name, used in help).
/// A host's xtask calls this with `["cargo xtask db", …]`.
pub fn run_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut ctx = Ctx::new(cli.global);
    let result = commands::exec(cli.command, &mut ctx);
    finish(&mut ctx, result)
}

/// The exit code of a command's result, printing its error (and its causes) if it failed.
pub(crate) fn finish(ctx: &mut Ctx, result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            ctx.out.error_line(&e);
            let causes: Vec<_> = e.chain().skip(1).collect();
            if !causes.is_empty() {
                ctx.out.line_err("\nCaused by:");
                for cause in causes {
                    ctx.out.line_err(format!("  {cause}"));
                }
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_parse_anywhere() {
        let a = Cli::try_parse_from(["cargo envdb", "--format", "json", "-v", "check", "--strict"]).unwrap();
        let b = Cli::try_parse_from(["cargo envdb", "check", "--strict", "-v", "--format", "json"]).unwrap();
        assert_eq!(a.global.format, Format::Json);
        assert_eq!((a.global.verbose, b.global.verbose), (1, 1));
        assert_eq!(b.global.format, Format::Json);
    }
}
