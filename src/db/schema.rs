//! The schema as SQL text in a stable order (tables, indexes, views, triggers; by name), without
//! envdb's own tables: what `schema dump` writes and what `validate` and `baseline` compare; the
//! in-memory replay of the migrations, sandboxed so that it never touches a file.

use rusqlite::Connection;

/// The history tables of the tools `import` and `adopt` move from (dbmate and golang-migrate
/// share `schema_migrations`): `adopt` leaves them in place so that switching back works, so
/// they are no part of the schema envdb compares or dumps, on either backend.
pub const OTHER_TOOLS_HISTORY: &str = "'_sqlx_migrations', '__diesel_schema_migrations', 'refinery_schema_history', 'schema_migrations', 'goose_db_version'";

/// One schema object: `(type, name, sql)`.
pub type Object = (String, String, String);

/// The user's schema objects, in a stable order.
pub fn objects(conn: &Connection) -> rusqlite::Result<Vec<Object>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT type, name, sql FROM sqlite_schema
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND tbl_name NOT IN ('envdb_migrations', 'envdb_meta')
           AND NOT (type IN ('table', 'index') AND tbl_name IN ({OTHER_TOOLS_HISTORY}))
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name"
    ))?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The schema as a SQL script.
pub fn render(objects: &[Object]) -> String {
    objects.iter().map(|(_, _, sql)| format!("{sql};\n")).collect()
}

/// Why the migrations could not be replayed in memory. It is never about the user's database,
/// which a replay does not open.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "the replay of the migrations in memory failed at {file}{at}: {message}\n  {REPLAY_NOTE}\n  help: make {file} run on an empty database (in the replay, a file it ATTACHes is an empty in-memory database)",
        at = line.map(|l| format!(" line {l}")).unwrap_or_default()
    )]
    Migration { file: String, line: Option<usize>, message: String },
    #[error("the replay of the migrations in memory failed: {0}\n  {REPLAY_NOTE}")]
    Other(super::DbError),
    #[error(
        "the replay of the migrations in a scratch database failed at {file}{at}: {message}\n  {SCRATCH_NOTE}\n  help: make {file} run on an empty database",
        at = line.map(|l| format!(" line {l}")).unwrap_or_default()
    )]
    ScratchMigration { file: String, line: Option<usize>, message: String },
    #[error("the replay of the migrations in a scratch database failed: {0}\n  {SCRATCH_NOTE}")]
    Scratch(String),
}

const SCRATCH_NOTE: &str = "note: this comes from the replay (a scratch database envdb creates on the same server, runs the migrations in to learn the schema they produce, and drops), not from your database, which the replay does not touch";

const REPLAY_NOTE: &str = "note: this comes from the replay (an empty in-memory database where envdb runs the migrations to learn the schema they produce), not from your database, which the replay does not touch";

/// The schema the migrations (up to `upto`) produce, replayed on a fresh in-memory database.
///
/// The replay touches no file: the database lives on SQLite's `memdb` VFS, so everything it
/// opens (a file a migration ATTACHes, `VACUUM INTO`, journals, temporary files) is in memory
/// too, and an authorizer refuses what could still reach the disk (see [`refusal`]).
pub fn of_migrations(
    migrations: &[crate::Migration<'_>],
    upto: Option<u64>,
    progress: &mut dyn FnMut(super::apply::Progress<'_>),
) -> Result<Vec<Object>, ReplayError> {
    let label = std::path::Path::new("(the migrations replayed in memory)");
    let sqlite = |e| ReplayError::Other(super::DbError::sqlite(label, e, std::time::Duration::ZERO));
    let refused = std::sync::Arc::new(std::sync::Mutex::new(None));
    let memory = sandbox(refused.clone()).map_err(sqlite)?;
    let opts = super::apply::MigrateOptions { target: upto, ..Default::default() };
    match super::apply::migrate(&memory, label, migrations, &opts, std::time::Duration::ZERO, progress) {
        Ok(_) => {}
        Err(super::DbError::Migration(failed)) => {
            let failed = *failed;
            let why = refused.lock().ok().and_then(|mut r| r.take());
            let message = match why {
                Some(why) => format!("{} (the replay refuses {why})", failed.message),
                None => failed.message,
            };
            return Err(ReplayError::Migration { file: failed.file, line: failed.line, message });
        }
        Err(other) => return Err(ReplayError::Other(other)),
    }
    objects(&memory).map_err(sqlite)
}

/// An empty database in memory whose every file stays in memory, with [`refusal`] installed as
/// its authorizer; what it refuses is left in `refused` for the error message.
fn sandbox(refused: std::sync::Arc<std::sync::Mutex<Option<String>>>) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    use rusqlite::hooks::Authorization;
    // No SQLITE_OPEN_URI; the bundled SQLite honours URIs anyway (SQLITE_USE_URI), which is why
    // the authorizer refuses them.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags_and_vfs("envdb-replay", flags, c"memdb")?;
    conn.authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| match refusal(ctx.action) {
        Some(Verdict::Deny(why)) => {
            if let Ok(mut slot) = refused.lock() {
                *slot = Some(why);
            }
            Authorization::Deny
        }
        Some(Verdict::Ignore) => Authorization::Ignore,
        None => Authorization::Allow,
    }))?;
    Ok(conn)
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The statement fails, for this reason.
    Deny(String),
    /// The statement is a no-op.
    Ignore,
}

/// What the replay does not allow, because it could reach the file system despite `memdb`:
/// a URI file name (its `vfs=` parameter picks a VFS that writes real files), a file name
/// computed at run time (the authorizer cannot read it), `load_extension` (reads a library from
/// disk), and the pragmas that move SQLite's process-wide directories (ignored).
fn refusal(action: rusqlite::hooks::AuthAction<'_>) -> Option<Verdict> {
    use rusqlite::hooks::AuthAction;
    match action {
        AuthAction::Attach { filename } if filename.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:")) => Some(
            Verdict::Deny(format!("the URI file name '{filename}': a URI may choose a VFS that writes real files")),
        ),
        AuthAction::Unknown { code: rusqlite::ffi::SQLITE_ATTACH, .. } => Some(Verdict::Deny(
            "an ATTACH whose file name is computed: only a literal name can be kept in memory".into(),
        )),
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Some(Verdict::Deny("load_extension(), which loads a library from disk".into()))
        }
        AuthAction::Pragma { pragma_name, .. }
            if ["temp_store_directory", "data_store_directory"].iter().any(|p| pragma_name.eq_ignore_ascii_case(p)) =>
        {
            Some(Verdict::Ignore)
        }
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::{Verdict, refusal};
    use rusqlite::hooks::AuthAction;

    #[test]
    fn the_replay_refuses_uris_and_computed_names_and_allows_plain_names() {
        let attach = |filename| refusal(AuthAction::Attach { filename });
        assert!(matches!(attach("file:x.db?vfs=unix"), Some(Verdict::Deny(_))));
        assert!(matches!(attach("FILE:x.db"), Some(Verdict::Deny(_))));
        assert_eq!(attach("x.db"), None);
        assert_eq!(attach("/abs/file:x.db"), None);
        assert_eq!(attach(":memory:"), None);
        let computed = AuthAction::Unknown { code: rusqlite::ffi::SQLITE_ATTACH, arg1: None, arg2: None };
        assert!(matches!(refusal(computed), Some(Verdict::Deny(_))));
        let load = AuthAction::Function { function_name: "LOAD_EXTENSION" };
        assert!(matches!(refusal(load), Some(Verdict::Deny(_))));
        assert_eq!(refusal(AuthAction::Function { function_name: "lower" }), None);
        let pragma = AuthAction::Pragma { pragma_name: "temp_store_directory", pragma_value: Some("'/tmp'") };
        assert_eq!(refusal(pragma), Some(Verdict::Ignore));
    }
}
