//! goose: `<version>_<name>.sql` with `-- +goose Up` and `-- +goose Down` sections,
//! `-- +goose StatementBegin` / `StatementEnd` around statements that hold semicolons, and
//! `-- +goose NO TRANSACTION`. Go migrations (`.go`) and `ENVSUB` (environment substitution)
//! cannot be converted. `goose_db_version` keeps one row per apply and per rollback.

use super::source_dir::Entry;
use super::{ImportError, Part, Source, Tool, read_sectioned, split_version};

/// What a `-- +goose` line says.
#[derive(Debug, PartialEq, Eq)]
enum Annotation {
    Up,
    Down,
    Statement,
    NoTransaction,
}

fn annotation(line: &str, file: &str) -> Result<Option<Annotation>, ImportError> {
    let Some(rest) = line.trim_end().strip_prefix("-- +goose") else { return Ok(None) };
    let word = rest.trim().to_ascii_uppercase();
    let found = match word.as_str() {
        "UP" => Annotation::Up,
        "DOWN" => Annotation::Down,
        "STATEMENTBEGIN" | "STATEMENTEND" => Annotation::Statement,
        "NO TRANSACTION" => Annotation::NoTransaction,
        _ => {
            return Err(ImportError::unconvertible(
                file,
                format!("the goose annotation `-- +goose {}` has no envdb equivalent", rest.trim()),
                "write the SQL it stands for (ENVSUB: the values substituted), then import again",
            ));
        }
    };
    Ok(Some(found))
}

/// Splits a goose file into its Up and Down sections. The StatementBegin/End lines stay in the
/// SQL as the comments they are; the Up, Down and NO TRANSACTION lines are dropped.
fn sections(text: &str, file: &str) -> Result<(Part, Option<Part>), ImportError> {
    let mut up: Option<String> = None;
    let mut down: Option<String> = None;
    let mut no_transaction = false;
    for line in text.split_inclusive('\n') {
        match annotation(line, file)? {
            Some(Annotation::Up) if up.is_none() && down.is_none() => up = Some(String::new()),
            Some(Annotation::Down) if up.is_some() && down.is_none() => down = Some(String::new()),
            Some(Annotation::Up | Annotation::Down) => {
                return Err(ImportError::unconvertible(
                    file,
                    "a second or misplaced -- +goose Up/Down",
                    "keep one -- +goose Up section followed by one -- +goose Down section",
                ));
            }
            Some(Annotation::NoTransaction) => no_transaction = true,
            Some(Annotation::Statement) | None => match (&mut up, &mut down) {
                (_, Some(d)) => d.push_str(line),
                (Some(u), None) => u.push_str(line),
                (None, None) if line.trim().is_empty() || line.trim_start().starts_with("--") => {}
                (None, None) => {
                    return Err(ImportError::unconvertible(
                        file,
                        "SQL before -- +goose Up",
                        "move it into the -- +goose Up section",
                    ));
                }
            },
        }
    }
    let Some(up) = up else {
        return Err(ImportError::unconvertible(file, "no -- +goose Up section", "add one"));
    };
    let down = down.filter(|d| !d.trim().is_empty()).map(|sql| Part { sql, no_transaction });
    Ok((Part { sql: up, no_transaction }, down))
}

pub fn read(entries: &[Entry]) -> Result<Vec<Source>, ImportError> {
    if let Some(e) = entries.iter().find(|e| !e.is_dir && e.name.ends_with(".go") && split_version(&e.name).is_some()) {
        return Err(ImportError::unconvertible(
            &e.name,
            "a goose Go migration: its changes are made by Go code that envdb cannot run",
            "write what it does as a .sql migration of the same version, then import again",
        ));
    }
    read_sectioned(Tool::Goose, entries, sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sections() {
        let text = "-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f;\n";
        let (up, down) = sections(text, "1_f.sql").unwrap();
        assert!(up.no_transaction);
        assert_eq!(
            up.sql,
            "-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n"
        );
        assert_eq!(down.unwrap().sql, "DROP FUNCTION f;\n");
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        for (text, why) in [
            ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${X}';\n", "ENVSUB"),
            ("SELECT 1;\n-- +goose Up\n", "before"),
            ("-- +goose Down\nSELECT 1;\n", "misplaced"),
            ("SELECT 1;\n", "before"),
            ("-- just a comment\n", "no -- +goose Up"),
        ] {
            let err = sections(text, "1_x.sql").unwrap_err().to_string();
            assert!(err.contains("1_x.sql") && err.contains(why), "{text:?}: {err}");
        }
    }
}
