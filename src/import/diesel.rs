//! diesel: one directory per migration, `<version>_<name>/` with `up.sql` and `down.sql`,
//! the version being the name before its first `_` without its dashes
//! (`2024-01-02-030405_create_users` → `20240102030405`); `metadata.toml` may say
//! `run_in_transaction = false`. `__diesel_schema_migrations` keeps the version and `run_on`.

use super::source_dir::{Entry, entries, read_text};
use super::{ImportError, Part, Source, Tool};

pub fn read(top: &[Entry]) -> Result<Vec<Source>, ImportError> {
    let mut sources = Vec::new();
    for e in top.iter().filter(|e| e.is_dir) {
        let Some((version, name)) = e.name.split_once('_').filter(|(v, _)| {
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'-') && v.bytes().any(|b| b.is_ascii_digit())
        }) else {
            return Err(ImportError::unconvertible(
                &e.name,
                "diesel names migration directories <version>_<name>",
                "rename it, or move it out of the directory if it is not a migration",
            ));
        };
        let inner = entries(&e.path)?;
        let file = |f: &str| format!("{}/{f}", e.name);
        let mut up = None;
        let mut down = None;
        let mut in_transaction = true;
        for f in &inner {
            match f.name.as_str() {
                "up.sql" => up = Some(read_text(&f.path, &file("up.sql"))?),
                "down.sql" => down = Some(read_text(&f.path, &file("down.sql"))?),
                "metadata.toml" => {
                    in_transaction =
                        run_in_transaction(&read_text(&f.path, &file("metadata.toml"))?, &file("metadata.toml"))?
                }
                other if other.ends_with(".rs") || other.ends_with(".sql") => {
                    return Err(ImportError::unconvertible(
                        file(other),
                        "diesel runs up.sql and down.sql only; envdb cannot tell what this file is for",
                        "fold it into up.sql or down.sql, or remove it",
                    ));
                }
                _ => {}
            }
        }
        let Some(up) = up else {
            return Err(ImportError::unconvertible(
                file("up.sql"),
                "the migration has no up.sql",
                "add it or remove the directory",
            ));
        };
        let no_transaction = !in_transaction;
        sources.push(Source {
            old_version: version.replace('-', ""),
            name: name.to_owned(),
            old_file: e.name.clone(),
            up: Part { sql: up, no_transaction },
            // diesel writes an empty down.sql when there is nothing to revert.
            down: down.filter(|d| !d.trim().is_empty()).map(|sql| Part { sql, no_transaction }),
            tool_checksum: None,
        });
    }
    // diesel orders migrations by their version string.
    sources.sort_by(|a, b| a.old_version.cmp(&b.old_version));
    for pair in sources.windows(2) {
        if pair[0].old_version == pair[1].old_version {
            return Err(ImportError::DuplicateVersion {
                tool: Tool::Diesel,
                version: pair[0].old_version.clone(),
                first: pair[0].old_file.clone(),
                second: pair[1].old_file.clone(),
            });
        }
    }
    Ok(sources)
}

/// `run_in_transaction` from a `metadata.toml` (true when absent); any other key is refused.
fn run_in_transaction(text: &str, file: &str) -> Result<bool, ImportError> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| ImportError::unconvertible(file, format!("not valid TOML: {e}"), "fix the file"))?;
    let mut in_transaction = true;
    for (key, value) in &table {
        match (key.as_str(), value.as_bool()) {
            ("run_in_transaction", Some(b)) => in_transaction = b,
            _ => {
                return Err(ImportError::unconvertible(
                    file,
                    format!("`{key}` has no envdb equivalent (envdb knows run_in_transaction = true|false)"),
                    "remove the key if the migration does not need it",
                ));
            }
        }
    }
    Ok(in_transaction)
}
