//! `cargo envdb hook install|uninstall`: a git pre-commit hook that runs `check --staged`.

use crate::cli::{Ctx, git};
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;

const MARKER: &str = "# envdb pre-commit hook";
const CHAINED: &str = "pre-commit.pre-envdb";

/// Install or remove the git pre-commit hook that checks staged migrations
///
/// Example: `cargo envdb hook install`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write .git/hooks/pre-commit (an existing hook is kept and runs after ours)
    Install {
        /// The command that runs envdb in this project
        #[arg(long, default_value = "cargo envdb")]
        command: String,
    },
    /// Remove our hook and put back the one it chained, if any
    Uninstall,
}

/// `s` as one shell word, whatever it holds: single quotes, each `'` written as `'\''`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The hook script. `project_dir` (relative to the repository's top level) is data, quoted as
/// one word; `command` is the shell command the user chose to run envdb with.
fn script(project_dir: &str, command: &str) -> String {
    let dir = if project_dir.is_empty() { String::new() } else { format!("/{}", shell_quote(project_dir)) };
    format!(
        "#!/bin/sh\n{MARKER}: installed by `cargo envdb hook install`, removed by `cargo envdb hook uninstall`.\n\
         # Checks the migrations as staged (the index), not as they are in the working tree.\n\
         (cd \"$(git rev-parse --show-toplevel)\"{dir} && {command} check --staged) || exit 1\n\
         chained=\"$(dirname \"$0\")/{CHAINED}\"\n\
         if [ -x \"$chained\" ]; then exec \"$chained\" \"$@\"; fi\n"
    )
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(MARKER))
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let hooks = git::hooks_dir(&project.root)?;
    let hook = hooks.join("pre-commit");
    let chained = hooks.join(CHAINED);
    match args.action {
        Action::Install { command } => {
            let top = git::toplevel(&project.root)?;
            let root = std::fs::canonicalize(&project.root).unwrap_or(project.root.clone());
            let rel = root.strip_prefix(std::fs::canonicalize(&top).unwrap_or(top)).unwrap_or(Path::new(""));
            let rel = rel.to_str().with_context(|| {
                format!("the project's path {} is not valid UTF-8; the hook cannot name it", rel.display())
            })?;
            let text = script(rel, &command);
            if std::fs::read_to_string(&hook).is_ok_and(|s| s == text) {
                ctx.out.status("Fresh", format!("{} is already installed", hook.display()));
                return Ok(ExitCode::SUCCESS);
            }
            std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {}", hooks.display()))?;
            if hook.exists() && !is_ours(&hook) {
                anyhow::ensure!(
                    !chained.exists(),
                    "{} exists and so does {}; merge them by hand, then run `cargo envdb hook install` again",
                    hook.display(),
                    chained.display()
                );
                std::fs::rename(&hook, &chained).with_context(|| format!("cannot move {}", hook.display()))?;
                ctx.out.status("Chained", format!("the existing hook now runs after ours, as {}", chained.display()));
            }
            crate::fs_util::write_atomic(&hook, text.as_bytes())
                .with_context(|| format!("cannot write {}", hook.display()))?;
            set_executable(&hook)?;
            ctx.out.status("Installed", hook.display());
        }
        Action::Uninstall => {
            if !is_ours(&hook) {
                ctx.out.status("Skipped", format!("{} is not envdb's hook; left alone", hook.display()));
                return Ok(ExitCode::SUCCESS);
            }
            std::fs::remove_file(&hook).with_context(|| format!("cannot remove {}", hook.display()))?;
            if chained.exists() {
                std::fs::rename(&chained, &hook).with_context(|| format!("cannot restore {}", chained.display()))?;
                ctx.out.status("Restored", format!("{} (the hook envdb had chained)", hook.display()));
            }
            ctx.out.status("Removed", "envdb's pre-commit hook");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_directory_is_one_quoted_word() {
        assert!(script("", "cargo envdb").contains("(cd \"$(git rev-parse --show-toplevel)\" && cargo envdb check"));
        let s = script("a b/it's $(touch x) \"q\"", "cargo envdb");
        assert!(s.contains(r#"toplevel)"/'a b/it'\''s $(touch x) "q"' && cargo envdb"#), "{s}");
    }
}
