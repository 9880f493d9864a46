//! The other tool's history table, as that tool writes it, checked for `adopt`: which of its
//! versions are applied and when, refused when the tool left the database dirty or failed, when
//! an applied version is missing from `IMPORTED.md` or leaves a gap, or when a checksum the
//! tool kept does not match the one recorded at import.

use super::Tool;
use super::map::ImportMap;
use crate::db::backend::ColumnKind;

/// How to read a tool's history table.
#[derive(Debug)]
pub struct Query {
    pub table: &'static str,
    pub columns: &'static [(&'static str, ColumnKind)],
    pub order_by: &'static str,
}

use ColumnKind::{Bool, Bytes, Text, Time};

/// The columns `adopt` reads, as each tool creates its table.
pub fn query(tool: Tool) -> Query {
    let (columns, order_by): (&'static [(&'static str, ColumnKind)], _) = match tool {
        Tool::Sqlx => (
            &[("version", Text), ("description", Text), ("installed_on", Time), ("success", Bool), ("checksum", Bytes)],
            "version",
        ),
        Tool::Diesel => (&[("version", Text), ("run_on", Time)], "version"),
        Tool::Refinery => (&[("version", Text), ("name", Text), ("applied_on", Text), ("checksum", Text)], "version"),
        Tool::Dbmate => (&[("version", Text)], "version"),
        Tool::GolangMigrate => (&[("version", Text), ("dirty", Bool)], "version"),
        Tool::Goose => (&[("id", Text), ("version_id", Text), ("is_applied", Bool), ("tstamp", Time)], "id"),
    };
    Query { table: tool.history_table(), columns, order_by }
}

/// One version the other tool records as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignApplied {
    pub old_version: String,
    /// When, as RFC 3339 UTC to the second; `None` where the tool keeps no time.
    pub applied_at: Option<String>,
    pub checksum: Option<String>,
}

/// What the history table says is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignState {
    /// One row per applied version.
    Rows(Vec<ForeignApplied>),
    /// golang-migrate: every version up to this one (none for `None`).
    UpTo(Option<String>),
}

/// The envdb history to record: versions 1 to `applied_at.len()`, at these times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub applied_at: Vec<Option<String>>,
}

/// Why a database cannot be adopted. Nothing is recorded when any of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("{tool}'s migration {version} failed ({table}.success is false), so the database is half-migrated")]
    Failed { tool: Tool, table: &'static str, version: String },
    #[error(
        "golang-migrate left the database dirty at version {version} (a migration failed half-way)\n  help: repair the schema by hand, then `migrate force {version}` (or the version before), and adopt again"
    )]
    Dirty { version: String },
    #[error("{table} holds a value envdb cannot read: {what}")]
    Unreadable { table: &'static str, what: String },
    #[error(
        "{tool} applied version {old_version}, which is not in IMPORTED.md\n  help: import the {tool} migrations this database was migrated with (`cargo envdb import --from {tool} DIR`), then adopt again"
    )]
    NotInMap { tool: Tool, old_version: String },
    #[error(
        "{tool} never applied version {old_version} ({new_file}) but applied a later one ({later}): a gap\n  help: apply the missing migration with {tool} (or remove the later one), then adopt again"
    )]
    Gap { tool: Tool, old_version: String, new_file: String, later: String },
    #[error(
        "the checksum {tool} recorded for version {old_version} ({new_file}) does not match the file imported: the database was migrated with another version of it\n  recorded: {recorded}\n  imported: {imported}\n  help: import the files the database was migrated with, or bring the database in line with {tool}, then adopt again"
    )]
    ChecksumMismatch { tool: Tool, old_version: String, new_file: String, recorded: String, imported: String },
    #[error("IMPORTED.md maps {map_tool}'s migrations, not {tool}'s\n  help: adopt with `--from {map_tool}`")]
    OtherTool { tool: Tool, map_tool: Tool },
    #[error(
        "{tool} has applied nothing here\n  help: there is nothing to adopt; `cargo envdb migrate` applies every migration"
    )]
    NothingApplied { tool: Tool },
}

fn cell(row: &[Option<String>], i: usize) -> Option<&str> {
    row.get(i).and_then(|c| c.as_deref())
}

/// Reads the rows of `tool`'s history table (as [`query`] selects them).
pub fn interpret(tool: Tool, rows: &[Vec<Option<String>>]) -> Result<ForeignState, AdoptError> {
    let table = tool.history_table();
    let unreadable = |what: String| AdoptError::Unreadable { table, what };
    let version = |row: &[Option<String>]| {
        cell(row, 0).map(str::to_owned).ok_or_else(|| unreadable("a row without a version".into()))
    };
    let time = |value: Option<&str>| -> Result<Option<String>, AdoptError> {
        value.map(|v| normalize_time(v).ok_or_else(|| unreadable(format!("the time {v:?}")))).transpose()
    };
    let mut applied = Vec::new();
    match tool {
        Tool::GolangMigrate => {
            return match rows {
                [] => Ok(ForeignState::UpTo(None)),
                [row] if cell(row, 1) == Some("true") => Err(AdoptError::Dirty { version: version(row)? }),
                [row] => Ok(ForeignState::UpTo(Some(version(row)?))),
                _ => Err(unreadable(format!("{} rows where golang-migrate keeps one", rows.len()))),
            };
        }
        Tool::Goose => {
            // One row per apply and per rollback, oldest first: the last row of a version says
            // whether it is applied. Version 0 is the row goose writes when it creates the table.
            let mut latest: Vec<(u128, ForeignApplied, bool)> = Vec::new();
            for row in rows {
                let old_version = cell(row, 1).ok_or_else(|| unreadable("a row without a version_id".into()))?;
                let n: u128 = old_version.parse().map_err(|_| unreadable(format!("the version_id {old_version:?}")))?;
                if n == 0 {
                    continue;
                }
                let entry =
                    ForeignApplied { old_version: n.to_string(), applied_at: time(cell(row, 3))?, checksum: None };
                let is_applied = cell(row, 2) == Some("true");
                match latest.iter_mut().find(|(v, _, _)| *v == n) {
                    Some(slot) => *slot = (n, entry, is_applied),
                    None => latest.push((n, entry, is_applied)),
                }
            }
            latest.sort_by_key(|(v, _, _)| *v);
            applied = latest.into_iter().filter(|(_, _, on)| *on).map(|(_, e, _)| e).collect();
        }
        _ => {
            for row in rows {
                let old_version = version(row)?;
                let (applied_at, checksum) = match tool {
                    Tool::Sqlx => {
                        if cell(row, 3) != Some("true") {
                            return Err(AdoptError::Failed { tool, table, version: old_version });
                        }
                        (time(cell(row, 2))?, cell(row, 4).map(str::to_owned))
                    }
                    Tool::Diesel => (time(cell(row, 1))?, None),
                    Tool::Refinery => (time(cell(row, 2))?, cell(row, 3).map(str::to_owned)),
                    _ => (None, None),
                };
                applied.push(ForeignApplied { old_version, applied_at, checksum });
            }
        }
    }
    Ok(ForeignState::Rows(applied))
}

/// Maps what the other tool applied onto envdb's versions through the import map, refusing a
/// version the map lacks, a gap and a checksum that differs from the one recorded at import.
pub fn adoption(tool: Tool, state: &ForeignState, map: &ImportMap) -> Result<Adoption, AdoptError> {
    if map.tool != tool {
        return Err(AdoptError::OtherTool { tool, map_tool: map.tool });
    }
    let not_in_map = |old: &str| AdoptError::NotInMap { tool, old_version: old.to_owned() };
    let rows: Vec<ForeignApplied> = match state {
        ForeignState::Rows(rows) => rows.clone(),
        ForeignState::UpTo(None) => Vec::new(),
        ForeignState::UpTo(Some(upto)) => {
            let last = map.by_old(upto).ok_or_else(|| not_in_map(upto))?;
            map.entries
                .iter()
                .take_while(|e| e.version <= last.version)
                .map(|e| ForeignApplied { old_version: e.old_version.clone(), applied_at: None, checksum: None })
                .collect()
        }
    };
    let mut by_version = Vec::new();
    for row in &rows {
        let entry = map.by_old(&row.old_version).ok_or_else(|| not_in_map(&row.old_version))?;
        if let (Some(recorded), Some(imported)) = (&row.checksum, &entry.tool_checksum)
            && !recorded.eq_ignore_ascii_case(imported)
        {
            return Err(AdoptError::ChecksumMismatch {
                tool,
                old_version: row.old_version.clone(),
                new_file: entry.new_file.clone(),
                recorded: recorded.clone(),
                imported: imported.clone(),
            });
        }
        by_version.push((entry.version, row));
    }
    by_version.sort_by_key(|(v, _)| *v);
    let Some(&(_, last_row)) = by_version.last() else {
        return Err(AdoptError::NothingApplied { tool });
    };
    for (i, (v, _)) in by_version.iter().enumerate() {
        let expected = i as u64 + 1;
        if *v != expected {
            // IMPORTED.md numbers 1, 2, 3…; a map edited by hand may lack the version.
            let (old_version, new_file) = map.by_version(expected).map_or_else(
                || ("?".to_owned(), format!("migration {expected}")),
                |e| (e.old_version.clone(), e.new_file.clone()),
            );
            return Err(AdoptError::Gap { tool, old_version, new_file, later: last_row.old_version.clone() });
        }
    }
    Ok(Adoption { applied_at: by_version.into_iter().map(|(_, r)| r.applied_at.clone()).collect() })
}

/// A time as the tools store it (`2024-01-02 03:04:05`, `2024-01-02T03:04:05.123+02:00`, …;
/// no offset means UTC) as RFC 3339 UTC to the second, as envdb records times.
pub fn normalize_time(text: &str) -> Option<String> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
    let t = text.trim();
    let num = |s: &str| s.parse::<i32>().ok();
    let (date, rest) = (t.get(..10)?, t.get(11..)?);
    if !matches!(t.as_bytes().get(10), Some(b' ' | b'T')) {
        return None;
    }
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let (hh, mm, ss) = (num(rest.get(..2)?)?, num(rest.get(3..5)?)?, num(rest.get(6..8)?)?);
    let mut tail = rest.get(8..)?;
    if let Some(frac) = tail.strip_prefix('.') {
        tail = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let tail = tail.trim_start();
    let offset = match tail {
        "" | "Z" | "z" | "UTC" => UtcOffset::UTC,
        _ => {
            let sign = match tail.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = tail[1..].chars().filter(char::is_ascii_digit).collect();
            let (oh, om) = (num(digits.get(..2)?)?, digits.get(2..4).and_then(num).unwrap_or(0));
            UtcOffset::from_hms((sign * oh) as i8, (sign * om) as i8, 0).ok()?
        }
    };
    let date = Date::from_calendar_date(y, Month::try_from(m as u8).ok()?, day as u8).ok()?;
    let at = PrimitiveDateTime::new(date, Time::from_hms(hh as u8, mm as u8, ss as u8).ok()?).assume_offset(offset);
    at.to_offset(UtcOffset::UTC).format(&time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::map::MapEntry;

    fn map(tool: Tool, olds: &[(&str, Option<&str>)]) -> ImportMap {
        let entries = olds
            .iter()
            .enumerate()
            .map(|(i, (old, sum))| MapEntry {
                old_version: old.to_string(),
                old_file: format!("{old}_x.sql"),
                new_file: format!("{:04}_x.sql", i + 1),
                version: i as u64 + 1,
                tool_checksum: sum.map(str::to_owned),
            })
            .collect();
        ImportMap { tool, entries }
    }

    fn row(cells: &[&str]) -> Vec<Option<String>> {
        cells.iter().map(|c| (*c != "NULL").then(|| c.to_string())).collect()
    }

    #[test]
    fn normalizes_the_tools_times() {
        for (input, out) in [
            ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z"),
            ("2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05Z"),
            ("2024-01-02 03:04:05.5+02:00", "2024-01-02T01:04:05Z"),
            ("2024-01-02 03:04:05 -0130", "2024-01-02T04:34:05Z"),
        ] {
            assert_eq!(normalize_time(input).as_deref(), Some(out), "{input}");
        }
        assert_eq!(normalize_time("yesterday"), None);
        assert_eq!(normalize_time("2024-13-02 03:04:05"), None);
    }

    #[test]
    fn sqlx_failed_and_checksums() {
        let rows = [
            row(&["1", "a", "2024-01-02 03:04:05", "true", "aa"]),
            row(&["2", "b", "2024-01-03 00:00:00", "false", "bb"]),
        ];
        assert!(matches!(interpret(Tool::Sqlx, &rows), Err(AdoptError::Failed { .. })));
        let state = interpret(Tool::Sqlx, &rows[..1]).unwrap();
        let ok = adoption(Tool::Sqlx, &state, &map(Tool::Sqlx, &[("1", Some("AA")), ("2", None)])).unwrap();
        assert_eq!(ok.applied_at, [Some("2024-01-02T03:04:05Z".to_owned())]);
        let err = adoption(Tool::Sqlx, &state, &map(Tool::Sqlx, &[("1", Some("ab"))])).unwrap_err();
        assert!(matches!(err, AdoptError::ChecksumMismatch { .. }), "{err}");
    }

    #[test]
    fn gaps_and_unknown_versions() {
        let state = ForeignState::Rows(
            ["1", "3"].map(|v| ForeignApplied { old_version: v.into(), applied_at: None, checksum: None }).to_vec(),
        );
        let m = map(Tool::Dbmate, &[("1", None), ("2", None), ("3", None)]);
        let err = adoption(Tool::Dbmate, &state, &m).unwrap_err().to_string();
        assert!(err.contains("never applied version 2") && err.contains("0002_x.sql"), "{err}");
        let err = adoption(Tool::Dbmate, &state, &map(Tool::Dbmate, &[("1", None)])).unwrap_err();
        assert!(matches!(err, AdoptError::NotInMap { .. }));
        assert!(matches!(adoption(Tool::Sqlx, &state, &m), Err(AdoptError::OtherTool { .. })));
    }

    #[test]
    fn golang_migrate_one_row() {
        assert!(matches!(interpret(Tool::GolangMigrate, &[row(&["2", "true"])]), Err(AdoptError::Dirty { .. })));
        let state = interpret(Tool::GolangMigrate, &[row(&["2", "false"])]).unwrap();
        let m = map(Tool::GolangMigrate, &[("1", None), ("2", None), ("3", None)]);
        assert_eq!(adoption(Tool::GolangMigrate, &state, &m).unwrap().applied_at, [None, None]);
    }

    #[test]
    fn goose_last_row_wins() {
        let rows = [
            row(&["1", "0", "true", "2024-01-01 00:00:00"]),
            row(&["2", "1", "true", "2024-01-02 00:00:00"]),
            row(&["3", "2", "true", "2024-01-03 00:00:00"]),
            row(&["4", "2", "false", "2024-01-04 00:00:00"]),
        ];
        let ForeignState::Rows(applied) = interpret(Tool::Goose, &rows).unwrap() else { panic!() };
        assert_eq!(applied.iter().map(|a| a.old_version.as_str()).collect::<Vec<_>>(), ["1"]);
    }
}
