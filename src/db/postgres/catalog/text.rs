//! The text of each kind of PostgreSQL object, built from the catalog's rows: SQL-ish, one part
//! per line where an object has parts (a table's columns, a sequence's options), so that two texts
//! differ in exactly the lines of the parts that differ.

use super::{Object, Row};

/// Field `i` of a row; NULL as empty.
pub(super) fn field(row: &Row, i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

/// Field `i` of a row; NULL or empty as `None`.
fn optional(row: &Row, i: usize) -> Option<String> {
    row.get(i).cloned().flatten().filter(|s| !s.is_empty())
}

/// A boolean field (`t` or `f`).
fn flag(row: &Row, i: usize) -> bool {
    field(row, i) == "t"
}

pub(super) fn object(kind: &str, name: String, text: String) -> Object {
    (kind.to_owned(), name, text)
}

/// `name, schema, version`.
pub(super) fn extension(row: &Row) -> Object {
    let name = field(row, 0);
    let text = format!("CREATE EXTENSION {name} WITH SCHEMA {} VERSION {}", field(row, 1), field(row, 2));
    object("extension", name, text)
}

/// One column of a table or an attribute of a composite type, as its line shows it:
/// `name type [COLLATE c] [NOT NULL] [GENERATED … AS IDENTITY] [DEFAULT e | GENERATED ALWAYS AS (e) STORED]`.
/// The expression comes last, so that the line can be read back whatever the expression holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Column {
    pub name: String,
    pub ty: String,
    pub collation: Option<String>,
    pub not_null: bool,
    /// `ALWAYS` or `BY DEFAULT`.
    pub identity: Option<&'static str>,
    pub default: Option<String>,
    pub generated: Option<String>,
}

const COLLATE: &str = " COLLATE ";
const NOT_NULL: &str = " NOT NULL";
const IDENTITY: [&str; 2] = ["ALWAYS", "BY DEFAULT"];
const DEFAULT: &str = " DEFAULT ";
const GENERATED: &str = " GENERATED ALWAYS AS (";
const STORED: &str = ") STORED";

impl Column {
    /// From a row of `catalog::columns`: `relid, name, type, collation, notnull, identity,
    /// generated, default`.
    fn of(row: &Row) -> Column {
        let expression = optional(row, 7);
        let generated = field(row, 6) == "s";
        Column {
            name: field(row, 1),
            ty: field(row, 2),
            collation: optional(row, 3),
            not_null: flag(row, 4),
            identity: match field(row, 5).as_str() {
                "a" => Some(IDENTITY[0]),
                "d" => Some(IDENTITY[1]),
                _ => None,
            },
            default: expression.clone().filter(|_| !generated),
            generated: expression.filter(|_| generated),
        }
    }

    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.name, self.ty);
        if let Some(c) = &self.collation {
            line += &format!("{COLLATE}{c}");
        }
        if self.not_null {
            line += NOT_NULL;
        }
        if let Some(how) = self.identity {
            line += &format!(" GENERATED {how} AS IDENTITY");
        }
        if let Some(e) = &self.default {
            line += &format!("{DEFAULT}{e}");
        }
        if let Some(e) = &self.generated {
            line += &format!("{GENERATED}{e}{STORED}");
        }
        line
    }

    /// Reads back a line [`Column::line`] wrote (without its indentation and trailing comma);
    /// `None` for any other line.
    pub fn parse(line: &str) -> Option<Column> {
        let name_end = word_end(line, 0);
        let name = line.get(..name_end)?.to_owned();
        let rest = line.get(name_end..)?.strip_prefix(' ')?;
        let keywords = [COLLATE, NOT_NULL, " GENERATED ", DEFAULT];
        let ty_end = outside_quotes(rest).find(|&i| keywords.iter().any(|k| rest[i..].starts_with(k)));
        let ty_end = ty_end.unwrap_or(rest.len());
        let mut column = Column {
            name,
            ty: rest[..ty_end].to_owned(),
            collation: None,
            not_null: false,
            identity: None,
            default: None,
            generated: None,
        };
        let mut rest = &rest[ty_end..];
        if let Some(after) = rest.strip_prefix(COLLATE) {
            let end = word_end(after, 0);
            column.collation = Some(after[..end].to_owned());
            rest = &after[end..];
        }
        if let Some(after) = rest.strip_prefix(NOT_NULL) {
            column.not_null = true;
            rest = after;
        }
        for how in IDENTITY {
            if let Some(after) = rest.strip_prefix(&format!(" GENERATED {how} AS IDENTITY")) {
                column.identity = Some(how);
                rest = after;
            }
        }
        if let Some(e) = rest.strip_prefix(DEFAULT) {
            column.default = Some(e.to_owned());
        } else if let Some(e) = rest.strip_prefix(GENERATED).and_then(|e| e.strip_suffix(STORED)) {
            column.generated = Some(e.to_owned());
        } else if !rest.is_empty() {
            return None;
        }
        (column.line() == line).then_some(column)
    }
}

/// The byte offsets of `s` that are outside double quotes.
fn outside_quotes(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut quoted = false;
    s.char_indices().filter_map(move |(i, c)| {
        if c == '"' {
            quoted = !quoted;
        }
        (!quoted && c != '"').then_some(i)
    })
}

/// Where the word starting at `from` ends: the first space outside double quotes.
fn word_end(s: &str, from: usize) -> usize {
    let tail = &s[from..];
    outside_quotes(tail).find(|&i| tail[i..].starts_with(' ')).map_or(s.len(), |i| from + i)
}

/// The column lines of relation `relid`, each indented, all but the last ending with a comma.
fn column_lines(relid: &str, columns: &[Row]) -> String {
    let lines: Vec<String> =
        columns.iter().filter(|c| field(c, 0) == relid).map(|c| format!("    {}", Column::of(c).line())).collect();
    lines.join(",\n")
}

/// `oid, name, typtype, detail, collation, default, notnull, typrelid` (see `catalog::types`).
pub(super) fn user_type(row: &Row, columns: &[Row], checks: &[Row]) -> Object {
    let name = field(row, 1);
    let detail = field(row, 3);
    let (kind, text) = match field(row, 2).as_str() {
        "e" => ("type", format!("CREATE TYPE {name} AS ENUM ({detail})")),
        "r" => ("type", format!("CREATE TYPE {name} AS RANGE (SUBTYPE = {detail})")),
        "c" => ("type", format!("CREATE TYPE {name} AS (\n{}\n)", column_lines(&field(row, 7), columns))),
        _ => {
            let mut text = format!("CREATE DOMAIN {name} AS {detail}");
            if let Some(c) = optional(row, 4) {
                text += &format!("\n    COLLATE {c}");
            }
            if let Some(d) = optional(row, 5) {
                text += &format!("\n    DEFAULT {d}");
            }
            if flag(row, 6) {
                text += "\n    NOT NULL";
            }
            for check in checks.iter().filter(|c| field(c, 0) == field(row, 0)) {
                text += &format!("\n    CONSTRAINT {} {}", field(check, 1), field(check, 2));
            }
            ("domain", text)
        }
    };
    object(kind, name, text)
}

/// `name(args), prokind, definition` (an aggregate's definition is its options).
pub(super) fn function(row: &Row) -> Object {
    let name = field(row, 0);
    let definition = field(row, 2);
    match field(row, 1).as_str() {
        "a" => {
            let text = format!("CREATE AGGREGATE {name} ({definition})");
            object("aggregate", name, text)
        }
        "p" => object("procedure", name, definition.trim_end().to_owned()),
        _ => object("function", name, definition.trim_end().to_owned()),
    }
}

/// `name, type, start, increment, min, max, cache, cycle, owner column`.
pub(super) fn sequence(row: &Row) -> Object {
    let name = field(row, 0);
    let mut text = format!(
        "CREATE SEQUENCE {name}\n    AS {}\n    START WITH {}\n    INCREMENT BY {}\n    MINVALUE {}\n    MAXVALUE {}\n    CACHE {}\n    {}",
        field(row, 1),
        field(row, 2),
        field(row, 3),
        field(row, 4),
        field(row, 5),
        field(row, 6),
        if flag(row, 7) { "CYCLE" } else { "NO CYCLE" },
    );
    if let Some(owner) = optional(row, 8) {
        text += &format!("\n    OWNED BY {owner}");
    }
    object("sequence", name, text)
}

/// `oid, name, relkind, persistence, partition key, parent and bound, options, row security,
/// forced row security`.
pub(super) fn table(row: &Row, columns: &[Row]) -> Object {
    let name = field(row, 1);
    let kind = match (field(row, 2).as_str(), field(row, 3).as_str()) {
        ("f", _) => "FOREIGN TABLE",
        (_, "u") => "UNLOGGED TABLE",
        _ => "TABLE",
    };
    let mut text = format!("CREATE {kind} {name}");
    if let Some(parent) = optional(row, 5) {
        text += &format!(" PARTITION OF {parent}");
    }
    text += &format!(" (\n{}\n)", column_lines(&field(row, 0), columns));
    if let Some(key) = optional(row, 4) {
        text += &format!(" PARTITION BY {key}");
    }
    if let Some(options) = optional(row, 6) {
        text += &format!(" WITH ({options})");
    }
    if flag(row, 7) {
        text += &format!(";\nALTER TABLE {name} ENABLE ROW LEVEL SECURITY");
    }
    if flag(row, 8) {
        text += &format!(";\nALTER TABLE {name} FORCE ROW LEVEL SECURITY");
    }
    object("table", name, text)
}

/// `table, constraint name, definition`.
pub(super) fn constraint(row: &Row) -> Object {
    let (table, name) = (field(row, 0), field(row, 1));
    let text = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {}", field(row, 2));
    object("constraint", format!("{table}.{name}"), text)
}

/// `name, relkind, definition, options`.
pub(super) fn view(row: &Row) -> Object {
    let name = field(row, 0);
    let kind = if field(row, 1) == "m" { "materialized view" } else { "view" };
    let options = optional(row, 3).map(|o| format!(" WITH ({o})")).unwrap_or_default();
    let definition = field(row, 2);
    let definition = definition.trim_end().trim_end_matches(';');
    let text = format!("CREATE {} {name}{options} AS\n{definition}", kind.to_uppercase());
    object(kind, name, text)
}

/// `table, trigger name, definition, enabled`.
pub(super) fn trigger(row: &Row) -> Object {
    let (table, name) = (field(row, 0), field(row, 1));
    let mut text = field(row, 2);
    let state = match field(row, 3).as_str() {
        "D" => Some("DISABLE"),
        "R" => Some("ENABLE REPLICA"),
        "A" => Some("ENABLE ALWAYS"),
        _ => None,
    };
    if let Some(state) = state {
        text += &format!(";\nALTER TABLE {table} {state} TRIGGER {name}");
    }
    object("trigger", format!("{table}.{name}"), text)
}

#[cfg(test)]
mod tests {
    use super::Column;

    #[test]
    fn a_column_line_reads_back_whatever_its_names_and_expressions_hold() {
        let plain = Column {
            name: "x".into(),
            ty: "integer".into(),
            collation: None,
            not_null: false,
            identity: None,
            default: None,
            generated: None,
        };
        let cases = [
            plain.clone(),
            Column { not_null: true, default: Some("0".into()), ..plain.clone() },
            Column { name: "\"a b DEFAULT\"".into(), ty: "public.\"my NOT NULL type\"[]".into(), ..plain.clone() },
            Column { collation: Some("\"C\"".into()), ty: "character varying(20)".into(), ..plain.clone() },
            Column { identity: Some("BY DEFAULT"), not_null: true, ..plain.clone() },
            Column { default: Some("'x NOT NULL DEFAULT y'::text".into()), ..plain.clone() },
            Column { generated: Some("(a + b) STORED) STORED".into()), ..plain.clone() },
            Column { ty: "timestamp(3) with time zone".into(), default: Some("now()".into()), ..plain },
        ];
        for c in cases {
            assert_eq!(Column::parse(&c.line()), Some(c.clone()), "{}", c.line());
        }
        // Only a table's indented lines are read as columns; these are none.
        for other in ["", "x", "x integer NOT NULL junk", "\"x", "x integer GENERATED ALWAYS AS (a)"] {
            assert_eq!(Column::parse(other), None, "{other}");
        }
    }
}
