//! The other tool's migrations as envdb files: numbered 1, 2, 3… in that tool's order, each
//! SQL kept byte for byte (a `-- envdb: no-transaction` line put first where the tool ran the
//! file outside a transaction), the sum file, and `IMPORTED.md`; checked as `check` would
//! before anything is written, then written all at once or not at all.

use super::map::{self, ImportMap, MapEntry};
use super::{ImportError, Part, Source, Tool};
use crate::file_name::{Direction, FileName, slugify};
use crate::migration_dir::MigrationDir;
use crate::sql_lex::Dialect;
use crate::sum_file::{self, SumFile};
use std::path::Path;

/// The directive line put first in a file the other tool ran outside a transaction.
pub const NO_TRANSACTION: &str = "-- envdb: no-transaction\n";

/// The files an import writes, in order (migrations, then `envdb.sum`, then `IMPORTED.md`).
#[derive(Debug, Clone)]
pub struct Planned {
    pub files: Vec<(String, Vec<u8>)>,
    pub map: ImportMap,
}

/// What [`write`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// The directory already holds exactly this import.
    AlreadyImported,
}

fn content(part: &Part) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(part.sql.len() + NO_TRANSACTION.len());
    if part.no_transaction {
        bytes.extend_from_slice(NO_TRANSACTION.as_bytes());
    }
    bytes.extend_from_slice(part.sql.as_bytes());
    bytes
}

/// Builds the envdb files for `sources` and checks them as `cargo envdb check` would.
pub fn plan(tool: Tool, sources: &[Source], dialect: Dialect, display: &Path) -> Result<Planned, ImportError> {
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let version = i as u64 + 1;
        let slug = slugify(&[s.name.as_str()]).unwrap_or_else(|| "migration".to_owned());
        let up = FileName::new(version, slug.clone(), Direction::Up);
        files.push((up.to_string(), content(&s.up)));
        if let Some(down) = &s.down {
            files.push((FileName::new(version, slug, Direction::Down).to_string(), content(down)));
        }
        for cell in [&s.old_version, &s.old_file] {
            if cell.contains('|') || cell.contains('\n') {
                return Err(ImportError::unconvertible(&s.old_file, "its name holds `|`", "rename it"));
            }
        }
        entries.push(MapEntry {
            old_version: s.old_version.clone(),
            old_file: s.old_file.clone(),
            new_file: up.to_string(),
            version,
            tool_checksum: s.tool_checksum.clone(),
        });
    }
    let sums: Vec<(FileName, String)> = files
        .iter()
        .map(|(name, bytes)| (FileName::parse(name).expect("built above"), crate::checksum::checksum(bytes)))
        .collect();
    let sum = SumFile::from_files(sums.iter().map(|(f, s)| (f, s.as_str())));
    files.push((sum_file::FILE_NAME.to_owned(), sum.to_string().into_bytes()));
    let map = ImportMap { tool, entries };
    files.push((map::FILE_NAME.to_owned(), map.render().into_bytes()));

    let report = crate::check::check_as(&MigrationDir::from_memory(display, files.clone()), false, dialect);
    if !report.is_ok() {
        let list: Vec<String> = report.errors().map(|p| format!("  error: {p}")).collect();
        return Err(ImportError::FailsCheck { tool, problems: list.join("\n") });
    }
    Ok(Planned { files, map })
}

/// Help for a non-empty migrations directory.
pub const MOVE_ASIDE: &str =
    "move the files aside (or, if they are only what `cargo envdb init` wrote, delete them), then import again";

/// Writes `files` as the directory `target`: into a temporary directory beside it, then renamed
/// into place, so that a failure leaves nothing behind. `target` must be missing or empty,
/// unless it holds these very files already. `command` and `help` go into the refusal.
pub fn write(
    target: &Path,
    display: &Path,
    files: &[(String, Vec<u8>)],
    command: &'static str,
    help: &'static str,
) -> Result<Outcome, ImportError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ImportError::Write { path, source }
    };
    let existing = match std::fs::read_dir(target) {
        Ok(read) => {
            Some(read.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(target)(e)),
    };
    if let Some(names) = existing.filter(|n| !n.is_empty()) {
        let same = names.len() == files.len()
            && files.iter().all(|(name, bytes)| std::fs::read(target.join(name)).is_ok_and(|b| &b == bytes));
        if same {
            return Ok(Outcome::AlreadyImported);
        }
        return Err(ImportError::NotEmpty { dir: display.to_owned(), found: names.len(), command, help });
    }
    let tmp = crate::fs_util::temp_beside(target, "import");
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        for (name, bytes) in files {
            let path = tmp.join(name);
            crate::fs_util::create_new(&path, bytes).map_err(io(&path))?;
        }
        if target.exists() {
            std::fs::remove_dir(target).map_err(io(target))?;
        }
        std::fs::rename(&tmp, target).map_err(io(target))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| Outcome::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(v: &str, name: &str, sql: &str, no_transaction: bool) -> Source {
        Source {
            old_version: v.into(),
            name: name.into(),
            old_file: format!("{v}_{name}.sql"),
            up: Part { sql: sql.into(), no_transaction },
            down: Some(Part { sql: "DROP TABLE t;\n".into(), no_transaction: false }),
            tool_checksum: None,
        }
    }

    #[test]
    fn numbers_in_order_and_keeps_the_sql() {
        let sources = [
            source("20240101", "create t", "CREATE TABLE t (a INTEGER);\n", false),
            source("20240202", "index", "CREATE INDEX i ON t (a);\n", true),
        ];
        let planned = plan(Tool::Sqlx, &sources, Dialect::Sqlite, Path::new("migrations")).unwrap();
        let names: Vec<&str> = planned.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "0001_create_t.sql",
                "0001_create_t.down.sql",
                "0002_index.sql",
                "0002_index.down.sql",
                "envdb.sum",
                "IMPORTED.md"
            ]
        );
        assert_eq!(planned.files[0].1, b"CREATE TABLE t (a INTEGER);\n");
        assert_eq!(planned.files[2].1, b"-- envdb: no-transaction\nCREATE INDEX i ON t (a);\n");
        assert_eq!(planned.map.by_old("20240202").unwrap().new_file, "0002_index.sql");
    }

    #[test]
    fn refuses_files_that_would_fail_check() {
        let sources = [source("1", "x", "-- envdb: sideways\nSELECT 1;\n", false)];
        let err = plan(Tool::Sqlx, &sources, Dialect::Sqlite, Path::new("migrations")).unwrap_err().to_string();
        assert!(err.contains("0001_x.sql") && err.contains("sideways"), "{err}");
    }

    #[test]
    fn writes_all_or_nothing_and_recognises_itself() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("migrations");
        let sources = [source("1", "x", "CREATE TABLE t (a INTEGER);\n", false)];
        let planned = plan(Tool::Goose, &sources, Dialect::Sqlite, Path::new("migrations")).unwrap();
        assert_eq!(
            write(&target, Path::new("migrations"), &planned.files, "import", MOVE_ASIDE).unwrap(),
            Outcome::Written
        );
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), planned.files.len());
        assert_eq!(
            write(&target, Path::new("migrations"), &planned.files, "import", MOVE_ASIDE).unwrap(),
            Outcome::AlreadyImported
        );
        std::fs::write(target.join("0001_x.sql"), "edited").unwrap();
        let err =
            write(&target, Path::new("migrations"), &planned.files, "import", MOVE_ASIDE).unwrap_err().to_string();
        assert!(err.contains("migrations") && err.contains("not empty"), "{err}");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "no temporary directory left");
    }
}
