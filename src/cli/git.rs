//! The few questions the command line asks git: staged content, the hooks directory, and which
//! migrations the other side of a merge has. Always the real `git`, run without a shell.

use crate::fix::Origin;
use anyhow::Context as _;
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run git; is it installed?")?;
    anyhow::ensure!(
        out.status.success(),
        "`git {}` failed in {}: {}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git_ok(dir: &Path, args: &[&str]) -> Option<String> {
    git(dir, args).ok().map(|s| s.trim().to_owned())
}

/// A file's name and content.
pub type NamedBytes = (String, Vec<u8>);

/// The files of `dir` (direct children) as they are in the index, or `None` when nothing under
/// `dir` is staged at all.
pub fn staged_files(dir: &Path) -> anyhow::Result<Option<Vec<NamedBytes>>> {
    let listing = git(dir, &["ls-files", "-z", "--stage", "--", "."])?;
    let mut names = Vec::new();
    let mut request = String::new();
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (_mode, sha, stage) = (meta.next(), meta.next().unwrap_or_default(), meta.next());
        if path.contains('/') || stage != Some("0") {
            continue;
        }
        names.push(path.to_owned());
        request.push_str(sha);
        request.push('\n');
    }
    if names.is_empty() {
        return Ok(None);
    }
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run git cat-file")?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let out = child.wait_with_output().context("git cat-file")?;
    writer.join().expect("writer").context("writing to git cat-file")?;
    anyhow::ensure!(out.status.success(), "git cat-file --batch failed");
    let mut rest = &out.stdout[..];
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let nl = rest.iter().position(|&b| b == b'\n').context("short git cat-file output")?;
        let header = std::str::from_utf8(&rest[..nl]).context("git cat-file header")?;
        let size: usize = header.rsplit(' ').next().and_then(|s| s.parse().ok()).context("git cat-file size")?;
        let body = rest.get(nl + 1..nl + 1 + size).context("short git cat-file output")?;
        files.push((name, body.to_vec()));
        rest = &rest[(nl + 2 + size).min(rest.len())..];
    }
    Ok(Some(files))
}

/// The directory git runs hooks from (honours `core.hooksPath` and worktrees).
pub fn hooks_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = git(dir, &["rev-parse", "--git-path", "hooks"]).context("not inside a git repository")?;
    Ok(dir.join(path.trim()))
}

/// The repository's top-level directory.
pub fn toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?.trim()))
}

/// Which migrations belong to the other side: during a merge, the merged branch (MERGE_HEAD);
/// during a rebase, the branch being rebased onto (HEAD); otherwise the merge base with the
/// upstream branch. `Origin::Newest` when git cannot tell.
pub fn fix_origin(migrations: &Path) -> (Origin, String) {
    let reference = if git_ok(migrations, &["rev-parse", "-q", "--verify", "MERGE_HEAD"]).is_some() {
        Some(("MERGE_HEAD".to_owned(), "the branch being merged (MERGE_HEAD)".to_owned()))
    } else if git_ok(migrations, &["rev-parse", "-q", "--verify", "REBASE_HEAD"]).is_some() {
        Some(("HEAD".to_owned(), "the branch being rebased onto (HEAD)".to_owned()))
    } else {
        git_ok(migrations, &["merge-base", "HEAD", "@{upstream}"])
            .map(|base| (base, "the merge base with the upstream branch".to_owned()))
    };
    if let Some((rev, why)) = reference
        && let Some(listing) = git_ok(migrations, &["ls-tree", "--name-only", &rev, "."])
    {
        let theirs: HashSet<String> = listing.lines().map(str::to_owned).collect();
        return (Origin::Theirs(theirs), why);
    }
    (Origin::Newest, "git cannot tell; the most recently modified file of each duplicate is renumbered".to_owned())
}
