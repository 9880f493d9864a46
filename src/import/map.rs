//! `migrations/IMPORTED.md`: which envdb file each of the other tool's versions became, with
//! the checksum that tool records, written by `import` and read back by `adopt` and `export`.
//!
//! ```text
//! tool: sqlx
//!
//! | old version | old file | new file | tool checksum |
//! | --- | --- | --- | --- |
//! | 20240101120000 | 20240101120000_create_users.sql | 0001_create_users.sql | 9f86…(hex) |
//! ```
//! Prose around the table is free; the `tool:` line and the table rows are the data.

use super::Tool;
use crate::file_name::FileName;
use std::fmt::Write as _;

/// The map's file name, inside the migrations directory.
pub const FILE_NAME: &str = "IMPORTED.md";

const HEADER: &str = "| old version | old file | new file | tool checksum |";
const RULE: &str = "| --- | --- | --- | --- |";

/// One migration of the other tool and the envdb file it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub old_version: String,
    pub old_file: String,
    pub new_file: String,
    /// The envdb version of `new_file`.
    pub version: u64,
    pub tool_checksum: Option<String>,
}

/// The whole map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMap {
    pub tool: Tool,
    pub entries: Vec<MapEntry>,
}

/// Why IMPORTED.md cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("it has no `tool: <name>` line")]
    NoTool,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("it has no table of versions (`{HEADER}`)")]
    NoTable,
}

impl ImportMap {
    /// The map as Markdown.
    pub fn render(&self) -> String {
        let tool = self.tool;
        let mut text = format!(
            "# Imported from {tool}\n\n\
             `cargo envdb import --from {tool}` converted these migrations. `cargo envdb adopt --from {tool}` reads\n\
             this table to take over a database {tool} migrated, and `cargo envdb export` to write the files back\n\
             under their old versions: keep this file while any database still has {tool}'s history.\n\n\
             tool: {tool}\n\n{HEADER}\n{RULE}\n"
        );
        for e in &self.entries {
            let sum = e.tool_checksum.as_deref().unwrap_or("-");
            let _ = writeln!(text, "| {} | {} | {} | {sum} |", e.old_version, e.old_file, e.new_file);
        }
        text
    }

    /// Reads a map written by [`ImportMap::render`].
    pub fn parse(text: &str) -> Result<ImportMap, MapError> {
        let mut tool = None;
        let mut entries = Vec::new();
        let mut in_table = false;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            let bad = |reason: String| MapError::Line { line: i + 1, reason };
            if let Some(name) = line.strip_prefix("tool:") {
                tool = Some(name.trim().parse::<Tool>().map_err(bad)?);
            } else if line == HEADER {
                in_table = true;
            } else if in_table && line == RULE {
            } else if in_table && line.starts_with('|') {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                let [old_version, old_file, new_file, sum] = cells[..] else {
                    return Err(bad(format!("expected 4 cells, found {}", cells.len())));
                };
                let version = FileName::parse(new_file).map_err(|r| bad(format!("`{new_file}`: {r}")))?.version;
                entries.push(MapEntry {
                    old_version: old_version.to_owned(),
                    old_file: old_file.to_owned(),
                    new_file: new_file.to_owned(),
                    version,
                    tool_checksum: (sum != "-").then(|| sum.to_owned()),
                });
            } else {
                in_table = false;
            }
        }
        let tool = tool.ok_or(MapError::NoTool)?;
        if entries.is_empty() {
            return Err(MapError::NoTable);
        }
        Ok(ImportMap { tool, entries })
    }

    /// The entry of an old version.
    pub fn by_old(&self, old_version: &str) -> Option<&MapEntry> {
        self.entries.iter().find(|e| e.old_version == old_version)
    }

    /// The entry of an envdb version.
    pub fn by_version(&self, version: u64) -> Option<&MapEntry> {
        self.entries.iter().find(|e| e.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let map = ImportMap {
            tool: Tool::GolangMigrate,
            entries: vec![
                MapEntry {
                    old_version: "1".into(),
                    old_file: "1_init.up.sql".into(),
                    new_file: "0001_init.sql".into(),
                    version: 1,
                    tool_checksum: None,
                },
                MapEntry {
                    old_version: "2".into(),
                    old_file: "2_x.up.sql".into(),
                    new_file: "0002_x.sql".into(),
                    version: 2,
                    tool_checksum: Some("ab".into()),
                },
            ],
        };
        assert_eq!(ImportMap::parse(&map.render()).unwrap(), map);
        assert_eq!(map.by_old("2").unwrap().version, 2);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(ImportMap::parse("# nothing\n"), Err(MapError::NoTool)));
        assert!(matches!(ImportMap::parse("tool: sqlx\n"), Err(MapError::NoTable)));
        let bad = format!("tool: sqlx\n{HEADER}\n{RULE}\n| 1 | a.sql | 1_a.sql | - |\n");
        assert!(matches!(ImportMap::parse(&bad), Err(MapError::Line { line: 4, .. })));
        assert!(matches!(ImportMap::parse("tool: flyway\n"), Err(MapError::Line { line: 1, .. })));
    }
}
