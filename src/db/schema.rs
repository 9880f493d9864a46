//! The schema as SQL text in a stable order (tables, indexes, views, triggers; by name), without
//! envdb's own tables: what `schema dump` writes and what `validate` compares.

use rusqlite::Connection;

/// One schema object: `(type, name, sql)`.
pub type Object = (String, String, String);

/// The user's schema objects, in a stable order.
pub fn objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, sql FROM sqlite_schema
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND tbl_name NOT IN ('envdb_migrations', 'envdb_meta')
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The schema as a SQL script.
pub fn render(objects: &[Object]) -> String {
    objects.iter().map(|(_, _, sql)| format!("{sql};\n")).collect()
}

/// The schema the migrations (up to `upto`) produce, replayed on a fresh in-memory database.
pub fn of_migrations(migrations: &[crate::Migration<'_>], upto: Option<u64>) -> Result<Vec<Object>, super::DbError> {
    let label = std::path::Path::new("(the migrations replayed in memory)");
    let sqlite = |e| super::DbError::sqlite(label, e, std::time::Duration::ZERO);
    let memory = Connection::open_in_memory().map_err(sqlite)?;
    let opts = super::apply::MigrateOptions { target: upto, ..Default::default() };
    super::apply::migrate(&memory, label, migrations, &opts, std::time::Duration::ZERO, &mut |_| {})?;
    objects(&memory).map_err(sqlite)
}

/// A readable list of differences between the actual and the expected schema; empty when equal.
pub fn diff(actual: &[Object], expected: &[Object]) -> Vec<String> {
    let mut out = Vec::new();
    for (ty, name, sql) in expected {
        match actual.iter().find(|(t, n, _)| t == ty && n == name) {
            None => out.push(format!("missing {ty} {name}; the migrations create:\n    {sql}")),
            Some((_, _, actual_sql)) if actual_sql != sql => {
                out.push(format!("{ty} {name} differs:\n    database:   {actual_sql}\n    migrations: {sql}"))
            }
            Some(_) => {}
        }
    }
    for (ty, name, sql) in actual {
        if !expected.iter().any(|(t, n, _)| t == ty && n == name) {
            out.push(format!("unexpected {ty} {name}, not created by any migration:\n    {sql}"));
        }
    }
    out
}
