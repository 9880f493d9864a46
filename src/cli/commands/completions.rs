//! `cargo envdb completions <shell>`: print a shell completion script.

use crate::cli::{Cli, Ctx};
use clap::CommandFactory;
use std::process::ExitCode;

/// Print a completion script for bash, zsh, fish or powershell
///
/// Example: `cargo envdb completions bash > ~/.local/share/bash-completion/completions/cargo-envdb`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    clap_complete::generate(args.shell, &mut Cli::command(), "cargo-envdb", ctx.out.stdout());
    Ok(ExitCode::SUCCESS)
}
