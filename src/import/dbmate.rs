//! dbmate: `<version>_<name>.sql`, one file with a `-- migrate:up` section and an optional
//! `-- migrate:down` section, each marker line taking options (`transaction:false`).
//! `schema_migrations` keeps the applied versions only, without times.

use super::source_dir::Entry;
use super::{ImportError, Part, Source, Tool, read_sectioned};

/// A section marker: whether it opens the up section, and its transaction option.
fn marker(line: &str, file: &str) -> Result<Option<(bool, bool)>, ImportError> {
    let Some(rest) = line.strip_prefix("-- migrate:") else { return Ok(None) };
    let mut words = rest.split_whitespace();
    let up = match words.next() {
        Some("up") => true,
        Some("down") => false,
        other => {
            return Err(ImportError::unconvertible(
                file,
                format!("unknown dbmate marker `-- migrate:{}`", other.unwrap_or("")),
                "use -- migrate:up and -- migrate:down",
            ));
        }
    };
    let mut no_transaction = false;
    for option in words {
        match option {
            "transaction:false" => no_transaction = true,
            "transaction:true" => no_transaction = false,
            other => {
                return Err(ImportError::unconvertible(
                    file,
                    format!("the dbmate option `{other}` has no envdb equivalent"),
                    "remove the option, or keep this migration in dbmate",
                ));
            }
        }
    }
    Ok(Some((up, no_transaction)))
}

/// Splits a dbmate file into its up and down sections, each with its option.
fn sections(text: &str, file: &str) -> Result<(Part, Option<Part>), ImportError> {
    let mut up: Option<Part> = None;
    let mut down: Option<Part> = None;
    let mut current: Option<bool> = None;
    for line in text.split_inclusive('\n') {
        if let Some((is_up, no_transaction)) = marker(line.trim_end(), file)? {
            let misplaced = if is_up { up.is_some() || down.is_some() } else { down.is_some() };
            if misplaced {
                return Err(ImportError::unconvertible(
                    file,
                    "a second or misplaced -- migrate: marker",
                    "keep one -- migrate:up section followed by one -- migrate:down section",
                ));
            }
            let part = Some(Part { sql: String::new(), no_transaction });
            if is_up {
                up = part
            } else {
                down = part
            }
            current = Some(is_up);
            continue;
        }
        match current {
            Some(true) => up.as_mut().map(|p| p.sql.push_str(line)),
            Some(false) => down.as_mut().map(|p| p.sql.push_str(line)),
            None if line.trim().is_empty() || line.trim_start().starts_with("--") => None,
            None => {
                return Err(ImportError::unconvertible(
                    file,
                    "SQL before the -- migrate:up marker, which dbmate refuses",
                    "move it into the -- migrate:up section",
                ));
            }
        };
    }
    let Some(up) = up else {
        return Err(ImportError::unconvertible(file, "no -- migrate:up section", "add one"));
    };
    Ok((up, down.filter(|d| !d.sql.trim().is_empty())))
}

pub fn read(entries: &[Entry]) -> Result<Vec<Source>, ImportError> {
    read_sectioned(Tool::Dbmate, entries, sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sections_keeping_their_text() {
        let text = "-- migrate:up transaction:false\nCREATE INDEX i ON t (a);\n\n-- migrate:down\nDROP INDEX i;\n";
        let (up, down) = sections(text, "1_x.sql").unwrap();
        assert_eq!(up, Part { sql: "CREATE INDEX i ON t (a);\n\n".into(), no_transaction: true });
        assert_eq!(down, Some(Part { sql: "DROP INDEX i;\n".into(), no_transaction: false }));
        let (_, down) = sections("-- migrate:up\nSELECT 1;\n-- migrate:down\n\n", "1_x.sql").unwrap();
        assert_eq!(down, None);
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        for (text, why) in [
            ("SELECT 1;\n-- migrate:up\n", "before"),
            ("-- migrate:up transaction:maybe\n", "option"),
            ("-- migrate:down\nSELECT 1;\n", "no -- migrate:up"),
            ("-- migrate:up\n-- migrate:up\n", "second"),
            ("-- migrate:sideways\n", "unknown"),
        ] {
            let err = sections(text, "1_x.sql").unwrap_err().to_string();
            assert!(err.contains("1_x.sql") && err.contains(why), "{text:?}: {err}");
        }
    }
}
