//! Where published figures come from: the commit measured (and whether the tree had uncommitted
//! changes), the date and the machine's CPU count, so a table in the README names its run.

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// `git rev-parse HEAD`.
    pub commit: String,
    /// Whether tracked files differed from that commit.
    pub dirty: bool,
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    pub cpus: usize,
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

impl Provenance {
    /// The provenance of a run starting now in `workspace`.
    pub fn now(workspace: &Path) -> anyhow::Result<Provenance> {
        let git = |args: &[&str]| output(Command::new("git").args(args).current_dir(workspace));
        Ok(Provenance {
            commit: git(&["rev-parse", "HEAD"])?,
            dirty: !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty(),
            date: output(Command::new("date").args(["-u", "+%Y-%m-%d"]))?,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// `commit 0123456789ab[ with uncommitted changes], 2026-11-22, `COMMAND`, 2 CPUs`.
    pub fn describe(&self, command: &str) -> String {
        format!(
            "commit {}{}, {}, `{command}`, {} CPUs",
            &self.commit[..self.commit.len().min(12)],
            if self.dirty { " with uncommitted changes" } else { "" },
            self.date,
            self.cpus
        )
    }
}

/// The workspace root (the xtask crate's parent).
pub fn workspace_root() -> anyhow::Result<PathBuf> {
    Ok(Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the xtask crate has no parent directory")?.to_owned())
}
