//! `cargo xtask test`, the README's test command: installs the tools the test suite calls when
//! they are missing, then runs `$CARGO test --workspace` with the given arguments passed through.
//!
//! Tools come from cargo (`$CARGO install --locked`, into cargo's own bin directory) or from
//! Debian's packages (`apt-get`, only as root; otherwise the exact command is printed and nothing
//! runs). Debian packages are checked first, so a run that must stop stops before any install.

use anyhow::{Context as _, bail};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Where a missing tool comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `$CARGO install --locked <crate>`.
    Cargo(&'static str),
    /// `apt-get install <package>` (Debian's packages).
    Apt(&'static str),
}

/// A program some tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub command: &'static str,
    pub source: Source,
    /// Which tests call it, for the messages.
    pub used_by: &'static str,
    /// Where it is looked for.
    pub found: Found,
}

/// Where a tool is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// On PATH (or in cargo's bin directory, which is then appended to the tests' PATH).
    Path,
    /// `initdb` and `pg_ctl` in PostgreSQL's bin directory (`pg_config --bindir`, Debian's
    /// `/usr/lib/postgresql/<version>/bin`, PATH), where the test harness finds them itself.
    PostgresBindir,
    /// `pgbouncer` on PATH or in `/usr/sbin` (off a user's PATH on Debian), where the test
    /// harness finds it itself.
    Pgbouncer,
}

/// Everything the test suite calls besides the Rust toolchain.
pub const TOOLS: &[Tool] = &[
    Tool {
        command: "git",
        source: Source::Apt("git"),
        used_by: "the fix, hook and --staged tests",
        found: Found::Path,
    },
    Tool {
        command: "just",
        source: Source::Cargo("just"),
        used_by: "the justfile tests (Debian does not package it)",
        found: Found::Path,
    },
    Tool {
        command: "initdb",
        source: Source::Apt("postgresql"),
        used_by: "the PostgreSQL tests (a throwaway server: initdb, pg_ctl)",
        found: Found::PostgresBindir,
    },
    Tool {
        command: "pgbouncer",
        source: Source::Apt("pgbouncer"),
        used_by: "the PostgreSQL tests through PgBouncer",
        found: Found::Pgbouncer,
    },
];

impl Tool {
    /// The installed executable, looked for where it is found (`search`: PATH and cargo's bin
    /// directory).
    pub fn locate(&self, search: &[PathBuf]) -> Option<PathBuf> {
        match self.found {
            Found::Path => find(self.command, search),
            Found::PostgresBindir => pgtest::locate::postgres_bindir().map(|d| d.join(self.command)),
            Found::Pgbouncer => pgtest::locate::pgbouncer(),
        }
    }
}

/// `$CARGO`, the cargo that runs this xtask. Never a bare `cargo` from PATH, which may be another
/// toolchain than the one building the workspace.
pub fn cargo() -> anyhow::Result<Command> {
    match std::env::var_os("CARGO") {
        Some(cargo) => Ok(Command::new(cargo)),
        None => bail!("CARGO is not set: run this as `cargo xtask …`, so that it uses the cargo that built it"),
    }
}

/// The directory `cargo install` puts binaries in: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`, else `~/.cargo/bin`.
pub fn cargo_bin_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let root = non_empty("CARGO_INSTALL_ROOT")
        .or_else(|| non_empty("CARGO_HOME"))
        .or_else(|| non_empty("HOME").map(|h| h.join(".cargo")))?;
    Some(root.join("bin"))
}

pub use pgtest::locate::find_in as find;

/// The commands that install `missing`, in order, or (without root, when Debian packages are
/// missing) the message with the exact command to run, and nothing to run.
pub fn install_commands(missing: &[Tool], root: bool) -> Result<Vec<Vec<String>>, String> {
    let apt: Vec<&str> = missing
        .iter()
        .filter_map(|t| match t.source {
            Source::Apt(p) => Some(p),
            Source::Cargo(_) => None,
        })
        .collect();
    let mut commands = Vec::new();
    if !apt.is_empty() {
        let install = format!("apt-get install -y --no-install-recommends {}", apt.join(" "));
        if !root {
            let names: Vec<String> = missing
                .iter()
                .filter(|t| matches!(t.source, Source::Apt(_)))
                .map(|t| format!("`{}` ({})", t.command, t.used_by))
                .collect();
            return Err(format!(
                "the tests need {}, which only root can install; run:\n\n    sudo apt-get update && sudo {install}\n\nthen `cargo xtask test` again (nothing was installed)",
                names.join(", ")
            ));
        }
        commands.push(vec!["apt-get".into(), "update".into()]);
        commands.push(install.split(' ').map(String::from).collect());
    }
    for t in missing {
        if let Source::Cargo(krate) = t.source {
            commands.push(vec!["$CARGO".into(), "install".into(), "--locked".into(), krate.into()]);
        }
    }
    Ok(commands)
}

/// The directories of a PATH-like value.
fn split_path(path: Option<&OsStr>) -> Vec<PathBuf> {
    path.map(|p| std::env::split_paths(p).collect()).unwrap_or_default()
}

/// Installs what is missing; returns the PATH the tests must run with (cargo's bin directory
/// appended when a tool is only there).
pub fn ensure_tools() -> anyhow::Result<OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = split_path(Some(&path));
    let bin = cargo_bin_dir(|v| std::env::var_os(v));
    let mut search = dirs.clone();
    search.extend(bin.clone());
    let missing: Vec<Tool> = TOOLS.iter().copied().filter(|t| t.locate(&search).is_none()).collect();
    let root = unsafe { libc::geteuid() } == 0;
    let commands = install_commands(&missing, root).map_err(anyhow::Error::msg)?;
    for t in &missing {
        eprintln!("xtask: `{}` is missing; {} run it", t.command, t.used_by);
    }
    for argv in &commands {
        eprintln!("xtask: running {}", argv.join(" "));
        let mut cmd = if argv[0] == "$CARGO" { cargo()? } else { Command::new(&argv[0]) };
        cmd.args(&argv[1..]);
        if argv[0] == "apt-get" {
            cmd.env("DEBIAN_FRONTEND", "noninteractive");
        }
        let status = cmd.status().with_context(|| format!("cannot run {}", argv[0]))?;
        if !status.success() {
            bail!("`{}` failed ({status}); the tests were not run", argv.join(" "));
        }
    }
    // A tool found only in cargo's bin directory (not on PATH) is reached by appending it.
    let mut extended = false;
    for t in TOOLS {
        if t.found != Found::Path {
            if t.locate(&dirs).is_none() {
                bail!("`{}` is still not found after installing it; the tests were not run", t.command);
            }
            continue;
        }
        if find(t.command, &dirs).is_some() {
            continue;
        }
        match &bin {
            Some(bin) if find(t.command, std::slice::from_ref(bin)).is_some() => {
                if !extended {
                    dirs.push(bin.clone());
                    extended = true;
                }
            }
            _ => bail!(
                "`{}` is still not found on PATH{} after installing it; the tests were not run",
                t.command,
                bin.as_ref().map(|b| format!(" or in {}", b.display())).unwrap_or_default()
            ),
        }
    }
    Ok(if extended { std::env::join_paths(dirs).context("PATH cannot hold cargo's bin directory")? } else { path })
}

/// `cargo xtask test [ARGS…]`: the tools, then `$CARGO test --workspace ARGS…`.
pub fn run(args: &[&str]) -> anyhow::Result<ExitCode> {
    let mut test = cargo()?;
    let path = ensure_tools()?;
    let status =
        test.args(["test", "--workspace"]).args(args).env("PATH", path).status().context("cannot run $CARGO test")?;
    Ok(ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUST: Tool = TOOLS[1];
    const GIT: Tool = TOOLS[0];
    const POSTGRES: Tool = TOOLS[2];
    const PGBOUNCER: Tool = TOOLS[3];

    #[test]
    fn nothing_missing_installs_nothing() {
        assert_eq!(install_commands(&[], false), Ok(vec![]));
        assert_eq!(install_commands(&[], true), Ok(vec![]));
    }

    #[test]
    fn cargo_tools_install_without_root() {
        assert_eq!(
            install_commands(&[JUST], false),
            Ok(vec![vec!["$CARGO".into(), "install".into(), "--locked".into(), "just".into()]])
        );
    }

    #[test]
    fn debian_packages_as_root_then_cargo_tools() {
        let got = install_commands(&[JUST, GIT], true).unwrap();
        let got: Vec<String> = got.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            got,
            ["apt-get update", "apt-get install -y --no-install-recommends git", "$CARGO install --locked just"]
        );
    }

    #[test]
    fn debian_packages_without_root_print_the_command_and_install_nothing() {
        let err = install_commands(&[JUST, GIT], false).unwrap_err();
        assert!(err.contains("sudo apt-get update && sudo apt-get install -y --no-install-recommends git"), "{err}");
        assert!(err.contains("`git`") && err.contains("nothing was installed"), "{err}");
    }

    #[test]
    fn postgresql_and_pgbouncer_come_from_debian_in_one_install() {
        let got = install_commands(&[GIT, POSTGRES, PGBOUNCER], true).unwrap();
        let got: Vec<String> = got.iter().map(|c| c.join(" ")).collect();
        assert_eq!(got, ["apt-get update", "apt-get install -y --no-install-recommends git postgresql pgbouncer"]);
        let err = install_commands(&[POSTGRES, PGBOUNCER], false).unwrap_err();
        assert!(err.contains("sudo apt-get install -y --no-install-recommends postgresql pgbouncer"), "{err}");
        assert!(err.contains("`initdb` (the PostgreSQL tests") && err.contains("`pgbouncer`"), "{err}");
    }

    #[test]
    fn postgresql_and_pgbouncer_are_looked_for_off_path() {
        // initdb is in PostgreSQL's bin directory and pgbouncer in /usr/sbin, neither on PATH
        // on Debian: an empty PATH must not make them missing where they are installed.
        assert_eq!(POSTGRES.found, Found::PostgresBindir);
        assert_eq!(PGBOUNCER.found, Found::Pgbouncer);
        if let Some(bindir) = pgtest::locate::postgres_bindir() {
            assert_eq!(POSTGRES.locate(&[]), Some(bindir.join("initdb")));
        }
        assert_eq!(PGBOUNCER.locate(&[]), pgtest::locate::pgbouncer());
    }

    #[test]
    fn the_install_directory_follows_cargo() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
        }
        assert_eq!(cargo_bin_dir(env(&[("HOME", "/h")])), Some(PathBuf::from("/h/.cargo/bin")));
        assert_eq!(cargo_bin_dir(env(&[("HOME", "/h"), ("CARGO_HOME", "/c")])), Some(PathBuf::from("/c/bin")));
        let all = [("HOME", "/h"), ("CARGO_HOME", "/c"), ("CARGO_INSTALL_ROOT", "/r")];
        assert_eq!(cargo_bin_dir(env(&all)), Some(PathBuf::from("/r/bin")));
        assert_eq!(cargo_bin_dir(env(&[("CARGO_HOME", "")])), None);
    }
}
