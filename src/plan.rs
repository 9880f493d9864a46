//! The pure core of applying: given the migrations on disk (or embedded) and the history a
//! database holds, decide what to run, or say precisely why nothing may run. No I/O here.

use crate::embedded::Migration;
use serde::Serialize;

/// One row of `envdb_migrations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub version: u64,
    pub name: String,
    pub checksum: String,
    pub applied_at: String,
    pub execution_ms: u64,
    pub tool_version: String,
}

/// The first 12 characters of a checksum, for display. A checksum read from a database may hold
/// anything (edited by hand, written by another tool), so it is cut at a character boundary.
pub fn short_checksum(checksum: &str) -> &str {
    checksum.char_indices().nth(12).map_or(checksum, |(i, _)| &checksum[..i])
}

/// Why the history and the migrations cannot be reconciled. Each refusal leaves the database as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "migration {version} ({name}) was applied with a different checksum than its file has now\n  help: revert the edit and write a new migration, or run `cargo envdb repair` to accept the edited file"
    )]
    Changed { version: u64, name: String },
    #[error(
        "migration {version} ({name}) is applied to the database but its file is gone\n  help: restore the file from version control"
    )]
    Gone { version: u64, name: String },
    #[error(
        "the database is at version {database}, newer than the latest migration this code knows ({code})\n  help: it was migrated by newer code; run that code, or restore a backup taken before the upgrade"
    )]
    Newer { database: u64, code: u64 },
    #[error(
        "the history has a hole: version {missing} is not recorded although {after} is\n  help: the history table was edited by hand; restore a backup or record the missing version with `cargo envdb baseline`"
    )]
    Hole { missing: u64, after: u64 },
    #[error("there is no migration {0} to migrate to (latest is {1})")]
    NoSuchTarget(u64, u64),
    #[error(
        "cannot roll back to version {to}: the database is at version {current}, already below it\n  help: roll back to a version below {current} (--to), or migrate forward with `cargo envdb migrate --to {to}`"
    )]
    AboveCurrent { to: u64, current: u64 },
    #[error("migration {version} ({name}) has no down file, so it cannot be rolled back\n  help: write {down}")]
    NoDown { version: u64, name: String, down: String },
}

/// How the history relates to the migrations, without refusing: what `status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Applied versions whose file changed.
    pub changed: Vec<u64>,
    /// Applied versions whose file is gone.
    pub gone: Vec<u64>,
    /// Versions missing from the history below its latest.
    pub holes: Vec<u64>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.gone.is_empty() && self.holes.is_empty()
    }
}

/// What planning reads of a migration: a [`Migration`], or a `check_cache::Header` (a
/// migration known by its checksum only, which can be compared with a history but never run).
pub trait Planned {
    fn version(&self) -> u64;
    fn name(&self) -> &str;
    fn checksum(&self) -> &str;
}

impl Planned for Migration<'_> {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        self.name
    }
    fn checksum(&self) -> &str {
        self.checksum
    }
}

fn find<M: Planned>(migrations: &[M], version: u64) -> Option<&M> {
    migrations.binary_search_by_key(&version, |m| m.version()).ok().map(|i| &migrations[i])
}

/// Compares without refusing.
pub fn drift<M: Planned>(migrations: &[M], applied: &[Applied]) -> Drift {
    let mut d = Drift::default();
    for a in applied {
        match find(migrations, a.version) {
            Some(m) if m.checksum() != a.checksum => d.changed.push(a.version),
            Some(_) => {}
            None => d.gone.push(a.version),
        }
    }
    let mut expected = 1;
    for a in applied {
        d.holes.extend(expected..a.version);
        expected = a.version + 1;
    }
    d
}

/// Refuses a history that cannot be trusted: a hole, a version newer than the code, a changed or gone file.
pub fn verify<M: Planned>(migrations: &[M], applied: &[Applied]) -> Result<(), PlanError> {
    for (expected, a) in (1..).zip(applied) {
        if a.version != expected {
            return Err(PlanError::Hole { missing: expected, after: a.version });
        }
    }
    let code = migrations.last().map_or(0, |m| m.version());
    if let Some(last) = applied.last()
        && last.version > code
    {
        return Err(PlanError::Newer { database: last.version, code });
    }
    for a in applied {
        match find(migrations, a.version) {
            None => {
                return Err(PlanError::Gone { version: a.version, name: a.name.clone() });
            }
            Some(m) if m.checksum() != a.checksum => {
                return Err(PlanError::Changed { version: a.version, name: a.name.clone() });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The migrations to apply, in order, up to `target` (default: all).
pub fn pending<'m, M: Planned>(
    migrations: &'m [M],
    applied: &[Applied],
    target: Option<u64>,
) -> Result<Vec<&'m M>, PlanError> {
    verify(migrations, applied)?;
    let latest = migrations.last().map_or(0, |m| m.version());
    if let Some(t) = target
        && t > latest
    {
        return Err(PlanError::NoSuchTarget(t, latest));
    }
    let current = applied.last().map_or(0, |a| a.version);
    let target = target.unwrap_or(latest);
    Ok(migrations.iter().filter(|m| m.version() > current && m.version() <= target).collect())
}

/// The migrations to roll back, newest first, down to (not including) version `to`.
/// Refuses before anything runs when one of them has no down file.
pub fn rollback<'m, 'a>(
    migrations: &'m [Migration<'a>],
    applied: &[Applied],
    to: u64,
) -> Result<Vec<&'m Migration<'a>>, PlanError> {
    verify(migrations, applied)?;
    let current = applied.last().map_or(0, |a| a.version);
    if to > current {
        return Err(PlanError::AboveCurrent { to, current });
    }
    let mut steps = Vec::new();
    for a in applied.iter().rev().take_while(|a| a.version > to) {
        let m = find(migrations, a.version).expect("verified");
        if m.down.is_none() {
            return Err(PlanError::NoDown {
                version: m.version,
                name: m.name.to_owned(),
                down: m.name.replace(".sql", ".down.sql"),
            });
        }
        steps.push(m);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrations(n: u64) -> Vec<Migration<'static>> {
        (1..=n)
            .map(|v| Migration {
                version: v,
                name: Box::leak(format!("{v:04}_m.sql").into_boxed_str()),
                up: "SELECT 1;",
                down: if v % 2 == 0 { Some("SELECT 2;") } else { None },
                checksum: Box::leak(format!("c{v}").into_boxed_str()),
            })
            .collect()
    }

    fn applied(versions: &[u64]) -> Vec<Applied> {
        versions
            .iter()
            .map(|&v| Applied {
                version: v,
                name: format!("{v:04}_m.sql"),
                checksum: format!("c{v}"),
                applied_at: String::new(),
                execution_ms: 0,
                tool_version: String::new(),
            })
            .collect()
    }

    fn versions(ms: &[&Migration<'_>]) -> Vec<u64> {
        ms.iter().map(|m| m.version).collect()
    }

    #[test]
    fn pending_is_what_is_missing_up_to_target() {
        let m = migrations(5);
        assert_eq!(versions(&pending(&m, &applied(&[1, 2]), None).unwrap()), [3, 4, 5]);
        assert_eq!(versions(&pending(&m, &applied(&[1, 2]), Some(3)).unwrap()), [3]);
        assert!(pending(&m, &applied(&[1, 2, 3, 4, 5]), None).unwrap().is_empty());
        assert_eq!(pending(&m, &[], Some(9)), Err(PlanError::NoSuchTarget(9, 5)));
    }

    #[test]
    fn refusals() {
        let m = migrations(3);
        assert!(matches!(pending(&m, &applied(&[1, 2, 3, 4]), None), Err(PlanError::Newer { database: 4, code: 3 })));
        assert!(matches!(pending(&m, &applied(&[1, 3]), None), Err(PlanError::Hole { missing: 2, after: 3 })));
        let mut a = applied(&[1, 2]);
        a[1].checksum = "edited".into();
        assert!(matches!(pending(&m, &a, None), Err(PlanError::Changed { version: 2, .. })));
        // The history ends past the last file: newer, with both numbers.
        assert_eq!(verify(&m[..1], &applied(&[1, 2])), Err(PlanError::Newer { database: 2, code: 1 }));
        let d = drift(&m, &{
            let mut a = applied(&[1, 2, 5]);
            a[0].checksum = "x".into();
            a
        });
        assert_eq!(d, Drift { changed: vec![1], gone: vec![5], holes: vec![3, 4] });
    }

    #[test]
    fn short_checksums_never_split_a_character() {
        assert_eq!(short_checksum("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_checksum("xéééééééééééé"), "xééééééééééé");
        assert_eq!(short_checksum("é"), "é");
        assert_eq!(short_checksum(""), "");
    }

    #[test]
    fn rollback_needs_every_down_file() {
        let m = migrations(4);
        assert_eq!(versions(&rollback(&m, &applied(&[1, 2, 3, 4]), 3).unwrap()), [4]);
        assert!(matches!(rollback(&m, &applied(&[1, 2, 3, 4]), 2), Err(PlanError::NoDown { version: 3, .. })));
        assert!(rollback(&m, &applied(&[1, 2]), 2).unwrap().is_empty());
        assert_eq!(rollback(&m, &applied(&[1, 2]), 3), Err(PlanError::AboveCurrent { to: 3, current: 2 }));
    }
}
