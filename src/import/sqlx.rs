//! sqlx: `<VERSION>_<DESCRIPTION>.sql`, or reversible `.up.sql` / `.down.sql` pairs; a file
//! whose text starts with `-- no-transaction` runs outside a transaction; `_sqlx_migrations`
//! keeps the SHA-384 of each up file's bytes.

use super::source_dir::{Entry, read_text};
use super::{ImportError, Pairs, Part, Source, Tool, parse_version, split_version};
use sha2::{Digest, Sha384};

/// The SHA-384 sqlx records for a migration, as lowercase hex.
pub fn checksum(sql: &str) -> String {
    Sha384::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn part(sql: String) -> Part {
    Part { no_transaction: sql.starts_with("-- no-transaction"), sql }
}

pub fn read(entries: &[Entry]) -> Result<Vec<Source>, ImportError> {
    let mut pairs = Pairs::new(Tool::Sqlx);
    for e in entries.iter().filter(|e| !e.is_dir && e.name.ends_with(".sql")) {
        let stem = e.name.trim_end_matches(".sql");
        let (stem, down) = match (stem.strip_suffix(".up"), stem.strip_suffix(".down")) {
            (Some(s), _) => (s, false),
            (_, Some(s)) => (s, true),
            _ => (stem, false),
        };
        let Some((digits, desc)) = split_version(stem) else {
            return Err(ImportError::unconvertible(
                &e.name,
                "sqlx names migrations <VERSION>_<DESCRIPTION>.sql",
                "rename it, or move it out of the directory if it is not a migration",
            ));
        };
        let version = parse_version(&e.name, digits)?;
        let sql = read_text(&e.path, &e.name)?;
        if down {
            pairs.down(version, digits, &e.name, sql)?;
            continue;
        }
        let source = Source {
            old_version: version.to_string(),
            name: desc.replace('_', " "),
            old_file: e.name.clone(),
            tool_checksum: Some(checksum(&sql)),
            up: part(sql),
            down: None,
        };
        pairs.up(version, digits, source)?;
    }
    pairs.finish(|up, file, sql| {
        if !up.old_file.ends_with(".up.sql") {
            return Err(ImportError::unconvertible(
                file,
                format!("{} is not reversible (.up.sql), so sqlx ignores this down file", up.old_file),
                "rename the up file to .up.sql, or remove the down file",
            ));
        }
        Ok(Some(part(sql)))
    })
}
