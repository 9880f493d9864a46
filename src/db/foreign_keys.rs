//! `PRAGMA foreign_key_check`: the violations as SQLite reports them, and described for people.

use rusqlite::Connection;

/// One row of `PRAGMA foreign_key_check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The child table holding the row.
    pub table: String,
    /// The row (`None` in a `WITHOUT ROWID` table).
    pub rowid: Option<i64>,
    /// The table the key references.
    pub parent: String,
    /// The key's id in `pragma_foreign_key_list(table)`.
    pub key: i64,
}

/// The first `limit` violations, in SQLite's order (table by table, each in rowid order). A
/// schema without foreign keys costs one pass over its table list.
pub fn check(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Violation>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let rows = stmt
        .query_map([], |r| Ok(Violation { table: r.get(0)?, rowid: r.get(1)?, parent: r.get(2)?, key: r.get(3)? }))?;
    rows.take(limit).collect()
}

/// Each violation named by table, rowid and the key's columns, e.g.
/// `child row 1 references a missing row in parent (child.parent_id → parent.id)`. Read in the
/// state that has them: the key's columns come from the schema.
pub fn describe(conn: &Connection, violations: &[Violation]) -> rusqlite::Result<Vec<String>> {
    let mut columns = conn.prepare(
        "SELECT group_concat(\"from\", ', '), group_concat(\"to\", ', ') \
         FROM (SELECT * FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq)",
    )?;
    violations
        .iter()
        .map(|Violation { table, rowid, parent, key }| {
            let (from, to): (Option<String>, Option<String>) =
                columns.query_row(rusqlite::params![table, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let place = match rowid {
                Some(id) => format!("{table} row {id}"),
                None => format!("a row of {table}"),
            };
            Ok(match (from, to) {
                (Some(from), Some(to)) => {
                    format!("{place} references a missing row in {parent} ({table}.{from} → {parent}.{to})")
                }
                // No `to`: the key references the parent's primary key.
                (Some(from), None) => {
                    format!("{place} references a missing row in {parent} ({table}.{from} → {parent})")
                }
                _ => format!("{place} references a missing row in {parent}"),
            })
        })
        .collect()
}
