//! What a backup of a server database holds and how it is written: `pg_dump`'s format (custom,
//! plain SQL, or a directory dumped by several jobs), all of it or the schema or data alone, and
//! whether it is also restored into a scratch database to prove it restores.

/// `pg_dump --format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Compressed, read by `pg_restore` (`.dump`).
    #[default]
    Custom,
    /// A SQL script for `psql` (`.sql`).
    Plain,
    /// A directory of compressed files, one per table, written by `--jobs` workers (`.dir`).
    Directory,
}

impl Format {
    /// The extension of a backup in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Custom => "dump",
            Format::Plain => "sql",
            Format::Directory => "dir",
        }
    }

    /// `pg_dump --format=` and `pg_restore --format=`.
    pub fn flag(self) -> &'static str {
        match self {
            Format::Custom => "custom",
            Format::Plain => "plain",
            Format::Directory => "directory",
        }
    }

    /// The format a backup's name says it has (`None` for a SQLite `.db` or anything else).
    pub fn of_extension(ext: &str) -> Option<Format> {
        [Format::Custom, Format::Plain, Format::Directory].into_iter().find(|f| f.extension() == ext)
    }
}

/// What a dump holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    #[default]
    Full,
    SchemaOnly,
    DataOnly,
}

/// How to dump a server database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpOptions {
    pub format: Format,
    pub content: Content,
    /// `pg_dump --jobs` (directory format only).
    pub jobs: Option<u32>,
    /// Also restore the dump into a scratch database and compare every table's row count.
    pub verify_restore: bool,
}
