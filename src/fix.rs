//! `fix`: after a merge, renumber this branch's migrations so that they follow the others,
//! and rewrite the sum file. The plan is a pure function; `apply` does the renames.

use crate::file_name::{Direction, FileName};
use crate::migration_dir::{MigrationDir, MigrationFile};
use crate::sum_file::SumFile;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

/// How `fix` decided which migrations are this branch's own.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The migration file names present on the other side (the upstream, the merged branch).
    Theirs(HashSet<String>),
    /// Git could not tell: among migrations sharing a number, the most recently modified are ours.
    Newest,
}

/// One rename: old file name → new file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FixError {
    #[error(
        "{file} would be renumbered, but it is already applied to the database {database}\n  help: renumber the other branch's migration instead, or roll {file} back first"
    )]
    Applied { file: String, database: String },
    #[error(
        "{file} does not match any checksum recorded in the sum file, so fix cannot tell an edit from a merge\n  help: restore the file, or run `cargo envdb hash` once you have checked it"
    )]
    Edited { file: String },
    #[error("cannot rename {from} to {to}: {message}")]
    Rename { from: String, to: String, message: String },
}

/// Plans the renames. `recorded` are the (file, checksum) pairs found on any side of the sum file;
/// `applied` maps a file name to a database that has applied it.
pub fn plan(
    dir: &MigrationDir,
    origin: &Origin,
    recorded: &[(String, String)],
    applied: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Rename>, FixError> {
    for f in &dir.files {
        let sums: Vec<_> = recorded.iter().filter(|(n, _)| *n == f.file_name).collect();
        if !sums.is_empty() && !sums.iter().any(|(_, s)| *s == f.checksum) {
            return Err(FixError::Edited { file: dir.show(&f.file_name) });
        }
    }
    let ups: Vec<&MigrationFile> = dir.ups().collect();
    let ours: BTreeSet<(u64, &str)> = match origin {
        Origin::Theirs(theirs) => ups
            .iter()
            .filter(|f| !theirs.contains(&f.file_name))
            .map(|f| (f.name.version, f.file_name.as_str()))
            .collect(),
        Origin::Newest => {
            let mut ours = BTreeSet::new();
            for f in &ups {
                let same: Vec<_> = ups.iter().filter(|g| g.name.version == f.name.version).collect();
                let oldest = same.iter().min_by_key(|g| (g.modified, &g.file_name)).expect("f itself");
                if same.len() > 1 && oldest.file_name != f.file_name {
                    ours.insert((f.name.version, f.file_name.as_str()));
                }
            }
            ours
        }
    };
    let first = ups
        .iter()
        .filter(|f| !ours.contains(&(f.name.version, f.file_name.as_str())))
        .map(|f| f.name.version)
        .max()
        .unwrap_or(0)
        + 1;
    let mut renames = Vec::new();
    for (next, &(version, file)) in (first..).zip(&ours) {
        let up = FileName::parse(file).expect("listed files parse");
        if version != next {
            if let Some(database) = applied(file) {
                return Err(FixError::Applied { file: dir.show(file), database });
            }
            for direction in [Direction::Up, Direction::Down] {
                let from = FileName { direction, ..up.clone() }.to_string();
                if dir.files.iter().any(|f| f.file_name == from) {
                    let to = FileName::new(next, up.slug.clone(), direction).to_string();
                    renames.push(Rename { from, to });
                }
            }
        }
    }
    Ok(renames)
}

/// Performs the renames through temporary names (a target may be another file's current name),
/// undoing what was done if any step fails, then rewrites the sum file.
pub fn apply(dir: &MigrationDir, renames: &[Rename]) -> Result<(), FixError> {
    let path = |name: &str| dir.path.join(name);
    let temp = |i: usize| dir.path.join(format!(".envdb-fix-{i}.tmp"));
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut step = |from: PathBuf, to: PathBuf, r: &Rename| -> Result<(), FixError> {
        if to.exists() {
            return Err(FixError::Rename {
                from: r.from.clone(),
                to: r.to.clone(),
                message: "the target exists".into(),
            });
        }
        std::fs::rename(&from, &to).map_err(|e| FixError::Rename {
            from: r.from.clone(),
            to: r.to.clone(),
            message: e.to_string(),
        })?;
        done.push((from, to));
        Ok(())
    };
    let result = renames
        .iter()
        .enumerate()
        .try_for_each(|(i, r)| step(path(&r.from), temp(i), r))
        .and_then(|()| renames.iter().enumerate().try_for_each(|(i, r)| step(temp(i), path(&r.to), r)));
    if let Err(e) = result {
        for (from, to) in done.iter().rev() {
            let _ = std::fs::rename(to, from);
        }
        return Err(e);
    }
    Ok(())
}

/// Reverses `apply` (best effort), when a later step of `fix` fails.
pub fn undo(dir: &MigrationDir, renames: &[Rename]) {
    for r in renames.iter().rev() {
        let _ = std::fs::rename(dir.path.join(&r.to), dir.path.join(&r.from));
    }
}

/// The sum file after the renames, with the checksums the files already have.
pub fn renamed_sum(dir: &MigrationDir, renames: &[Rename]) -> SumFile {
    let names: Vec<(FileName, &str)> = dir
        .files
        .iter()
        .map(|f| {
            let name = renames.iter().find(|r| r.from == f.file_name).map_or(f.file_name.as_str(), |r| r.to.as_str());
            (FileName::parse(name).expect("parses"), f.checksum.as_str())
        })
        .collect();
    SumFile::from_files(names.iter().map(|(n, s)| (n, *s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn dir(files: &[&str]) -> MigrationDir {
        MigrationDir::from_memory(
            Path::new("migrations"),
            files.iter().map(|n| (n.to_string(), format!("-- {n}\n").into_bytes())),
        )
    }

    fn pairs(r: &[Rename]) -> Vec<(&str, &str)> {
        r.iter().map(|r| (r.from.as_str(), r.to.as_str())).collect()
    }

    #[test]
    fn renumbers_our_migrations_after_theirs() {
        let d = dir(&["0001_a.sql", "0002_theirs.sql", "0002_ours.sql", "0002_ours.down.sql", "0003_ours_too.sql"]);
        let theirs = Origin::Theirs(["0001_a.sql", "0002_theirs.sql"].iter().map(|s| s.to_string()).collect());
        let r = plan(&d, &theirs, &[], &|_| None).unwrap();
        assert_eq!(
            pairs(&r),
            [
                ("0002_ours.sql", "0003_ours.sql"),
                ("0002_ours.down.sql", "0003_ours.down.sql"),
                ("0003_ours_too.sql", "0004_ours_too.sql")
            ]
        );
        let sum = renamed_sum(&d, &r);
        let names: Vec<_> = sum.entries.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            ["0001_a.sql", "0002_theirs.sql", "0003_ours.sql", "0003_ours.down.sql", "0004_ours_too.sql"]
        );
    }

    #[test]
    fn nothing_to_do_when_already_in_order() {
        let d = dir(&["0001_a.sql", "0002_b.sql"]);
        let theirs = Origin::Theirs(["0001_a.sql".to_string()].into());
        assert!(plan(&d, &theirs, &[], &|_| None).unwrap().is_empty());
    }

    #[test]
    fn newest_fallback_moves_the_later_file() {
        let mut d = dir(&["0001_a.sql", "0002_old.sql", "0002_new.sql"]);
        let t = std::time::SystemTime::UNIX_EPOCH;
        for f in &mut d.files {
            f.modified = Some(t + std::time::Duration::from_secs(if f.file_name.contains("new") { 20 } else { 10 }));
        }
        let r = plan(&d, &Origin::Newest, &[], &|_| None).unwrap();
        assert_eq!(pairs(&r), [("0002_new.sql", "0003_new.sql")]);
    }

    #[test]
    fn refuses_applied_and_edited() {
        let d = dir(&["0001_a.sql", "0001_b.sql"]);
        let theirs = Origin::Theirs(["0001_a.sql".to_string()].into());
        let e = plan(&d, &theirs, &[], &|f| (f == "0001_b.sql").then(|| ".envdb/dev/app.db".into())).unwrap_err();
        assert!(matches!(e, FixError::Applied { .. }));
        let recorded = [("0001_a.sql".to_string(), "0".repeat(64))];
        assert!(matches!(plan(&d, &theirs, &recorded, &|_| None), Err(FixError::Edited { .. })));
    }
}
