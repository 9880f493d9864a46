//! golang-migrate: `<version>_<title>.up.<ext>` and `<version>_<title>.down.<ext>`; only SQL
//! files are converted. Its `schema_migrations` keeps one row: the current version and
//! whether the last run left the database dirty.

use super::source_dir::{Entry, read_text};
use super::{ImportError, Pairs, Part, Source, Tool, parse_version, split_version};

pub fn read(entries: &[Entry]) -> Result<Vec<Source>, ImportError> {
    let mut pairs = Pairs::new(Tool::GolangMigrate);
    for e in entries.iter().filter(|e| !e.is_dir) {
        let Some((stem, direction, ext)) = direction(&e.name) else {
            if e.name.ends_with(".sql") {
                return Err(ImportError::unconvertible(
                    &e.name,
                    "golang-migrate names migrations <version>_<title>.up.sql and <version>_<title>.down.sql",
                    "rename it, or move it out of the directory if it is not a migration",
                ));
            }
            continue;
        };
        if ext != "sql" {
            return Err(ImportError::unconvertible(
                &e.name,
                format!("a .{ext} migration; envdb runs SQL only"),
                "keep this database with golang-migrate, or rewrite the migration as .sql",
            ));
        }
        let Some((digits, title)) = split_version(stem) else {
            return Err(ImportError::unconvertible(
                &e.name,
                "the name does not start with <version>_",
                "rename it <version>_<title>.up.sql",
            ));
        };
        let version = parse_version(&e.name, digits)?;
        let sql = read_text(&e.path, &e.name)?;
        if direction == "down" {
            pairs.down(version, digits, &e.name, sql)?;
            continue;
        }
        let source = Source {
            old_version: version.to_string(),
            name: title.to_owned(),
            old_file: e.name.clone(),
            up: Part { sql, no_transaction: false },
            down: None,
            tool_checksum: None,
        };
        pairs.up(version, digits, source)?;
    }
    // golang-migrate leaves an empty down file where there is nothing to revert.
    pairs.finish(|_, _, sql| Ok((!sql.trim().is_empty()).then_some(Part { sql, no_transaction: false })))
}

/// `1_init.up.sql` → (`1_init`, `up`, `sql`).
fn direction(name: &str) -> Option<(&str, &str, &str)> {
    let (rest, ext) = name.rsplit_once('.')?;
    let (stem, direction) = rest.rsplit_once('.')?;
    matches!(direction, "up" | "down").then_some((stem, direction, ext))
}
