//! refinery: `V<n>__<name>.sql` (and `U<n>__<name>.sql`, which refinery also applies in version
//! order), a `-- refinery:noTransaction` line for a file run outside a transaction, Rust
//! migrations (`.rs`) which envdb cannot run. `refinery_schema_history` keeps a SipHash-1-3 of
//! the name, the version (an `i32`) and the SQL, hashed as Rust's `Hash` feeds them.

use super::source_dir::{Entry, read_text};
use super::{ImportError, Part, Source, Tool, sort_numeric};
use std::hash::{Hash, Hasher};

/// The checksum refinery records for a migration, as the decimal text it stores.
pub fn checksum(name: &str, version: i32, sql: &str) -> String {
    let mut hasher = siphasher::sip::SipHasher13::new();
    name.hash(&mut hasher);
    version.hash(&mut hasher);
    sql.hash(&mut hasher);
    hasher.finish().to_string()
}

/// `V12__add_x.sql` → (`V`, 12, `add_x`, extension).
fn parse(file: &str) -> Option<(char, i32, &str, &str)> {
    let prefix = file.chars().next().filter(|c| matches!(c, 'U' | 'V'))?;
    let (version, rest) = file[1..].split_once("__")?;
    let (name, ext) = rest.rsplit_once('.')?;
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) && word(name))
        .then_some(())
        .and_then(|()| version.parse().ok())
        .map(|v| (prefix, v, name, ext))
}

fn no_transaction(sql: &str) -> bool {
    sql.lines().any(|l| {
        let dashes = l.len() - l.trim_start_matches('-').len();
        let rest = &l[dashes..];
        dashes >= 2 && rest.strip_prefix(char::is_whitespace).unwrap_or(rest) == "refinery:noTransaction"
    })
}

pub fn read(entries: &[Entry]) -> Result<Vec<Source>, ImportError> {
    let mut all = Vec::new();
    for e in entries.iter().filter(|e| !e.is_dir) {
        let parsed = parse(&e.name);
        match parsed {
            Some((_, _, _, "rs")) => {
                return Err(ImportError::unconvertible(
                    &e.name,
                    "a Rust migration: its SQL is built by code that envdb cannot run",
                    "write the SQL it produces into a .sql migration of the same version, then import again",
                ));
            }
            Some((_, version, name, "sql")) => {
                let sql = read_text(&e.path, &e.name)?;
                let source = Source {
                    old_version: version.to_string(),
                    name: name.to_owned(),
                    old_file: e.name.clone(),
                    tool_checksum: Some(checksum(name, version, &sql)),
                    up: Part { no_transaction: no_transaction(&sql), sql },
                    down: None,
                };
                all.push((version as u128, source));
            }
            _ if e.name.ends_with(".sql") => {
                return Err(ImportError::unconvertible(
                    &e.name,
                    "refinery names migrations V<n>__<name>.sql or U<n>__<name>.sql",
                    "rename it, or move it out of the directory if it is not a migration",
                ));
            }
            _ => {}
        }
    }
    sort_numeric(Tool::Refinery, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_the_annotation() {
        assert_eq!(parse("V1__init.sql"), Some(('V', 1, "init", "sql")));
        assert_eq!(parse("U12__add_x.rs"), Some(('U', 12, "add_x", "rs")));
        assert_eq!(parse("V1_init.sql"), None);
        assert_eq!(parse("X1__init.sql"), None);
        assert!(no_transaction("-- refinery:noTransaction\nCREATE INDEX i ON t (a);"));
        assert!(no_transaction("SELECT 1;\n---refinery:noTransaction\n"));
        assert!(!no_transaction("-- refinery:noTransaction please\n"));
    }

    #[test]
    fn checksum_is_refinerys() {
        // Computed with refinery-core 0.8.16: `Migration::unapplied("V1__create_users", sql).checksum()`.
        let sql = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n";
        assert_eq!(checksum("create_users", 1, sql), "18435496531957181202");
    }

    #[test]
    fn checksum_is_stable() {
        // The same inputs always give the same decimal u64; a byte more changes it.
        let a = checksum("init", 1, "CREATE TABLE t (a int);");
        assert_eq!(a, checksum("init", 1, "CREATE TABLE t (a int);"));
        assert_ne!(a, checksum("init", 1, "CREATE TABLE t (a int); "));
        assert_ne!(a, checksum("init", 2, "CREATE TABLE t (a int);"));
        assert!(a.parse::<u64>().is_ok());
    }
}
