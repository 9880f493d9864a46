//! Moving to envdb from another migration tool: its directory read into one list in that
//! tool's order (one module per tool), written as envdb files with a map of old versions
//! (`write`, `map`), written back in another tool's layout (`export`), and that tool's history
//! table read and checked for `adopt` (`foreign`). Pure: no database is opened here.

mod dbmate;
mod diesel;
pub mod export;
pub mod foreign;
mod golang_migrate;
mod goose;
pub mod map;
mod refinery;
mod source_dir;
mod sqlx;
pub mod write;

use source_dir::{Entry, read_text};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The tools envdb imports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Sqlx,
    Diesel,
    Refinery,
    Dbmate,
    GolangMigrate,
    Goose,
}

impl Tool {
    pub const ALL: [Tool; 6] =
        [Tool::Sqlx, Tool::Diesel, Tool::Refinery, Tool::Dbmate, Tool::GolangMigrate, Tool::Goose];

    /// The name as typed after `--from`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
            Tool::Dbmate => "dbmate",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
        }
    }

    /// Where the tool keeps its migrations unless told otherwise.
    pub fn default_dir(self) -> &'static str {
        match self {
            Tool::Dbmate => "db/migrations",
            _ => "migrations",
        }
    }

    /// The table the tool records its history in.
    pub fn history_table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Refinery => "refinery_schema_history",
            Tool::Dbmate | Tool::GolangMigrate => "schema_migrations",
            Tool::Goose => "goose_db_version",
        }
    }

    /// Reads the tool's migrations directory, in the tool's own order.
    pub fn read(self, dir: &Path) -> Result<Vec<Source>, ImportError> {
        let entries = source_dir::entries(dir)?;
        let sources = match self {
            Tool::Sqlx => sqlx::read(&entries)?,
            Tool::Diesel => diesel::read(&entries)?,
            Tool::Refinery => refinery::read(&entries)?,
            Tool::Dbmate => dbmate::read(&entries)?,
            Tool::GolangMigrate => golang_migrate::read(&entries)?,
            Tool::Goose => goose::read(&entries)?,
        };
        if sources.is_empty() {
            return Err(ImportError::NoMigrations { dir: dir.to_owned(), tool: self });
        }
        Ok(sources)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Tool {
    type Err = String;

    fn from_str(s: &str) -> Result<Tool, String> {
        Tool::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<_> = Tool::ALL.iter().map(|t| t.name()).collect();
            format!("unknown tool `{s}` (known: {})", names.join(", "))
        })
    }
}

/// One direction of a migration: its SQL as the tool runs it, and whether the tool runs it
/// outside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub sql: String,
    pub no_transaction: bool,
}

/// One migration of the other tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The version as the tool records it in its history table.
    pub old_version: String,
    /// The name the tool gives it (becomes the envdb slug).
    pub name: String,
    /// The file (or directory) it was read from, relative to the tool's directory.
    pub old_file: String,
    pub up: Part,
    pub down: Option<Part>,
    /// The checksum the tool records for it (sqlx: SHA-384 hex; refinery: its SipHash-1-3).
    pub tool_checksum: Option<String>,
}

/// Why a directory could not be imported. Nothing is written when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}\n  help: pass the other tool's migrations directory: `cargo envdb import --from <tool> DIR`", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no {tool} migrations; nothing was written\n  help: pass the directory that holds them: `cargo envdb import --from {tool} DIR`", .dir.display())]
    NoMigrations { dir: PathBuf, tool: Tool },
    #[error("cannot convert {file}: {reason}; nothing was written\n  help: {help}")]
    Unconvertible { file: String, reason: String, help: String },
    #[error(
        "{first} and {second} both have version {version}; nothing was written\n  help: give one of them another version in the {tool} layout first"
    )]
    DuplicateVersion { tool: Tool, version: String, first: String, second: String },
    #[error("{file} is not UTF-8 text; nothing was written\n  help: convert it to UTF-8 first")]
    NotUtf8 { file: String },
    #[error(
        "the converted {tool} migrations would not pass `cargo envdb check`; nothing was written:\n{problems}\n  help: fix the original files so that the converted ones pass, then import again"
    )]
    FailsCheck { tool: Tool, problems: String },
    #[error("{} is not empty ({found} entries), and {command} writes a new directory; nothing was written\n  help: {help}", .dir.display())]
    NotEmpty { dir: PathBuf, found: usize, command: &'static str, help: &'static str },
    #[error("cannot write {}; nothing was written", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImportError {
    fn unconvertible(file: impl Into<String>, reason: impl Into<String>, help: impl Into<String>) -> ImportError {
        ImportError::Unconvertible { file: file.into(), reason: reason.into(), help: help.into() }
    }
}

/// Sorts by a numeric version and refuses two migrations with the same one.
fn sort_numeric(tool: Tool, mut sources: Vec<(u128, Source)>) -> Result<Vec<Source>, ImportError> {
    sources.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.old_file.cmp(&b.1.old_file)));
    for pair in sources.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(ImportError::DuplicateVersion {
                tool,
                version: pair[0].1.old_version.clone(),
                first: pair[0].1.old_file.clone(),
                second: pair[1].1.old_file.clone(),
            });
        }
    }
    Ok(sources.into_iter().map(|(_, s)| s).collect())
}

/// The digits a name starts with and the rest after one `_`: `20240101_add_x` → (`20240101`, `add_x`).
fn split_version(stem: &str) -> Option<(&str, &str)> {
    let (digits, rest) = stem.split_once('_')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((digits, rest))
}

/// Parses a version's digits, refusing one too large to be a number.
fn parse_version(file: &str, digits: &str) -> Result<u128, ImportError> {
    digits
        .parse()
        .map_err(|_| ImportError::unconvertible(file, format!("the version `{digits}` is too large"), "renumber it"))
}

/// A file cut into its up part and its down part (when it has one).
type Sections = Result<(Part, Option<Part>), ImportError>;

/// Reads the layouts of one file per migration split into sections by markers (dbmate, goose):
/// `<version>_<name>.sql` files, each cut into its up and down part by `sections`.
fn read_sectioned(
    tool: Tool,
    entries: &[Entry],
    sections: fn(&str, &str) -> Sections,
) -> Result<Vec<Source>, ImportError> {
    let mut all = Vec::new();
    for e in entries.iter().filter(|e| !e.is_dir && e.name.ends_with(".sql")) {
        let Some((digits, name)) = split_version(e.name.trim_end_matches(".sql")) else {
            return Err(ImportError::unconvertible(
                &e.name,
                format!("{tool} names migrations <version>_<name>.sql"),
                "rename it, or move it out of the directory if it is not a migration",
            ));
        };
        let (up, down) = sections(&read_text(&e.path, &e.name)?, &e.name)?;
        let version = parse_version(&e.name, digits)?;
        let old_version = if tool == Tool::Dbmate { digits.to_owned() } else { version.to_string() };
        let source =
            Source { old_version, name: name.to_owned(), old_file: e.name.clone(), up, down, tool_checksum: None };
        all.push((version, source));
    }
    sort_numeric(tool, all)
}

/// The up and down files of each version, for the layouts that keep them apart (sqlx,
/// golang-migrate): each slot filled once, a down file only beside its up file.
struct Pairs {
    tool: Tool,
    found: BTreeMap<u128, Slot>,
}

/// What a down file becomes: the part kept, none, or a refusal.
type DownPart = Result<Option<Part>, ImportError>;

/// A version's up migration and its down file (name, SQL).
type Slot = (Option<Source>, Option<(String, String)>);

impl Pairs {
    fn new(tool: Tool) -> Pairs {
        Pairs { tool, found: BTreeMap::new() }
    }

    fn duplicate(&self, digits: &str, first: &str, second: &str) -> ImportError {
        ImportError::DuplicateVersion {
            tool: self.tool,
            version: digits.to_owned(),
            first: first.to_owned(),
            second: second.to_owned(),
        }
    }

    fn up(&mut self, version: u128, digits: &str, source: Source) -> Result<(), ImportError> {
        let slot = self.found.entry(version).or_default();
        if let Some(first) = slot.0.as_ref().map(|s| s.old_file.clone()) {
            return Err(self.duplicate(digits, &first, &source.old_file));
        }
        slot.0 = Some(source);
        Ok(())
    }

    fn down(&mut self, version: u128, digits: &str, file: &str, sql: String) -> Result<(), ImportError> {
        let slot = self.found.entry(version).or_default();
        if let Some(first) = slot.1.as_ref().map(|d| d.0.clone()) {
            return Err(self.duplicate(digits, &first, file));
        }
        slot.1 = Some((file.to_owned(), sql));
        Ok(())
    }

    /// The migrations in version order; `down` turns a down file into the part kept (or refuses it).
    fn finish(self, down: impl Fn(&Source, &str, String) -> DownPart) -> Result<Vec<Source>, ImportError> {
        let mut all = Vec::new();
        for (version, (up, down_file)) in self.found {
            let Some(mut up) = up else {
                return Err(ImportError::unconvertible(
                    down_file.map(|d| d.0).unwrap_or_default(),
                    "a down file without its up file",
                    "add the up file or remove the down file",
                ));
            };
            if let Some((file, sql)) = down_file {
                up.down = down(&up, &file, sql)?;
            }
            all.push((version, up));
        }
        sort_numeric(self.tool, all)
    }
}
