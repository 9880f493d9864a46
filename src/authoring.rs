//! Writing migrations: `new` (the next numbered file, sum file updated in the same step) and
//! `hash` (the sum file rewritten from the files on disk).

use crate::file_name::{Direction, FileName, slugify};
use crate::fs_util;
use crate::migration_dir::{MigrationDir, ScanError};
use crate::sum_file::{self, SumError, SumFile};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error("cannot make a file name from {0:?}: use letters and digits, e.g. `cargo envdb new add priority`")]
    UnusableName(String),
    #[error(
        "{} has migrations but no sum file\n  help: run `cargo envdb hash` to record the existing files first",
        .0
    )]
    NoSumFile(String),
    #[error("{file} cannot be trusted: {source}\n  help: {help}")]
    BadSumFile { file: String, source: SumError, help: &'static str },
    #[error(
        "{file} does not match the migrations, so `new` cannot extend it:\n  {}\n  help: run `cargo envdb check` to see why; once the files are right, `cargo envdb hash` records them, then run `new` again",
        .stale.join("\n  ")
    )]
    StaleSumFile { file: String, stale: Vec<String> },
    #[error(transparent)]
    Unreadable(#[from] ScanError),
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The files `new` created.
#[derive(Debug)]
pub struct NewMigration {
    pub up: PathBuf,
    pub down: Option<PathBuf>,
    pub version: u64,
}

fn header(version: u64, words: &str, created: &str, direction: Direction) -> String {
    match direction {
        Direction::Up => format!(
            "-- Migration {version:04}: {words}\n-- Created {created} by `cargo envdb new`.\n-- Write the schema change below. Add `-- envdb: no-transaction` as the first line to run outside a transaction.\n\n"
        ),
        Direction::Down => {
            format!("-- Reverts migration {version:04}: {words}\n-- Created {created} by `cargo envdb new`.\n\n")
        }
    }
}

/// The sum file as recorded, refusing one that cannot be trusted: `new` extends it rather than
/// rehashing the directory, so that an unrecorded edit elsewhere is never silently accepted.
fn recorded_sum(dir: &MigrationDir) -> Result<SumFile, AuthoringError> {
    let file = dir.show(sum_file::FILE_NAME);
    match &dir.sum_text {
        None if dir.files.is_empty() => Ok(SumFile::default()),
        None => Err(AuthoringError::NoSumFile(dir.display.display().to_string())),
        Some(text) => SumFile::parse(text).map_err(|source| {
            let help = if source.wants_fix() {
                "run `cargo envdb fix` to finish the merge"
            } else {
                "check the migrations, then run `cargo envdb hash`"
            };
            AuthoringError::BadSumFile { file, source, help }
        }),
    }
}

/// Every way the recorded sum file differs from the files on disk, one line each: `new` numbers
/// after the files on disk and extends the recorded sum, so any difference would be kept or lost.
fn stale_entries(dir: &MigrationDir, sum: &SumFile) -> Vec<String> {
    let recorded: HashMap<&str, &str> = sum.entries.iter().map(|(f, s)| (f.as_str(), s.as_str())).collect();
    let mut stale = Vec::new();
    for f in &dir.files {
        match recorded.get(f.file_name.as_str()) {
            None => stale.push(format!("{}: not recorded in the sum file", dir.show(&f.file_name))),
            Some(&s) if s != f.checksum => {
                stale.push(format!("{}: edited since it was recorded", dir.show(&f.file_name)))
            }
            Some(_) => {}
        }
    }
    let on_disk: HashSet<&str> = dir.files.iter().map(|f| f.file_name.as_str()).collect();
    for (file, _) in &sum.entries {
        if !on_disk.contains(file.as_str()) {
            stale.push(format!("{}: recorded, but the file is gone", dir.show(file)));
        }
    }
    stale
}

/// Creates the next migration (and its down file) and records it in the sum file.
/// `created` is the UTC timestamp written into the header. On any failure nothing is left behind.
pub fn new_migration<S: AsRef<str>>(
    dir: &MigrationDir,
    words: &[S],
    down: bool,
    created: &str,
) -> Result<NewMigration, AuthoringError> {
    let joined = words.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
    let slug = slugify(words).ok_or_else(|| AuthoringError::UnusableName(joined.clone()))?;
    dir.require_readable()?;
    let mut sum = recorded_sum(dir)?;
    let stale = stale_entries(dir, &sum);
    if !stale.is_empty() {
        return Err(AuthoringError::StaleSumFile { file: dir.show(sum_file::FILE_NAME), stale });
    }
    let version = dir.files.iter().map(|f| f.name.version).max().unwrap_or(0) + 1;

    let mut directions = vec![Direction::Up];
    if down {
        directions.push(Direction::Down);
    }
    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for direction in directions {
            let name = FileName::new(version, slug.clone(), direction);
            let content = header(version, &joined, created, direction);
            let path = dir.path.join(name.to_string());
            fs_util::create_new(&path, content.as_bytes())
                .map_err(|source| AuthoringError::Write { path: path.clone(), source })?;
            written.push(path);
            sum.entries.push((name.to_string(), crate::checksum::checksum(content.as_bytes())));
        }
        let sum_path = dir.path.join(sum_file::FILE_NAME);
        fs_util::write_atomic(&sum_path, sum.to_string().as_bytes())
            .map_err(|source| AuthoringError::Write { path: sum_path, source })
    })();
    if let Err(e) = result {
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(NewMigration { version, down: written.get(1).cloned(), up: written.swap_remove(0) })
}

/// What `hash` changed in the sum file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HashChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// Computes the sum file for the files on disk.
pub fn sum_of(dir: &MigrationDir) -> SumFile {
    SumFile::from_files(dir.files.iter().map(|f| (&f.name, f.checksum.as_str())))
}

/// Rewrites the sum file from the files on disk and says what changed.
pub fn rehash(dir: &MigrationDir) -> Result<HashChanges, AuthoringError> {
    dir.require_readable()?;
    let new = sum_of(dir);
    let old = dir.sum_text.as_deref().map(SumFile::salvage).unwrap_or_default();
    let mut changes = HashChanges::default();
    for (file, sum) in &new.entries {
        match old.iter().find(|(f, _)| f == file) {
            None => changes.added.push(file.clone()),
            Some((_, s)) if s != sum => changes.changed.push(file.clone()),
            Some(_) => {}
        }
    }
    for (file, _) in &old {
        if new.get(file).is_none() && !changes.removed.contains(file) {
            changes.removed.push(file.clone());
        }
    }
    let text = new.to_string();
    if dir.sum_text.as_deref() != Some(text.as_str()) {
        let path = dir.path.join(sum_file::FILE_NAME);
        fs_util::write_atomic(&path, text.as_bytes()).map_err(|source| AuthoringError::Write { path, source })?;
    }
    Ok(changes)
}
