//! What a `pg_dump` archive holds, read without a database: its table of contents
//! (`pg_restore --list`), and its data as `COPY` blocks (`pg_restore --data-only -f -`, or the
//! plain script itself), from which come every table's row count and envdb's own rows (the
//! environment, the project and the history the archive records).

use super::tools::Tool;
use crate::db::backup::options::{Content, Format};
use crate::plan::Applied;
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::Stdio;

/// A table of the database, as the archive and the server name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `schema.name` quoted as `pg_dump` writes it (`quote_ident`).
    pub qualified: String,
    /// A partitioned table holds no rows of its own (its partitions do).
    pub partitioned: bool,
}

/// The user's tables (and envdb's) of a database, extension members left out as `pg_dump`
/// leaves them out: one query, each column as text.
pub const TABLES_SQL: &str = "SELECT n.nspname, c.relname, \
     pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relkind = 'p' \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
     AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 3";

/// Reads [`TABLES_SQL`]'s rows.
pub fn tables(rows: Vec<Vec<Option<String>>>) -> Vec<Table> {
    rows.into_iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Table { schema: text(0), name: text(1), qualified: text(2), partitioned: text(3) == "t" }
        })
        .collect()
}

/// `pg_restore --list` of an archive (custom or directory format): its table of contents, or
/// what `pg_restore` said when it could not read it.
pub fn toc(pg_restore: &Tool, archive: &Path) -> Result<String, String> {
    let out = super::tools::tied(&pg_restore.path)
        .arg("--list")
        .arg(archive)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", pg_restore.path.display()))?;
    if !out.status.success() {
        return Err(format!("pg_restore --list cannot read it: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The tables a table of contents lacks: their definition (`TABLE`) unless data only, their rows
/// (`TABLE DATA`, for tables that hold rows) unless schema only.
pub fn missing_in_toc(toc: &str, tables: &[Table], content: Content) -> Vec<String> {
    let has = |kind: &str, t: &Table| {
        let entry = format!(" {kind} {} {} ", t.schema, t.name);
        toc.lines().any(|l| !l.starts_with(';') && l.contains(&entry))
    };
    tables
        .iter()
        .filter(|t| {
            (content != Content::DataOnly && !has("TABLE", t))
                || (content != Content::SchemaOnly && !t.partitioned && !has("TABLE DATA", t))
        })
        .map(|t| t.qualified.clone())
        .collect()
}

/// The line `pg_dump` ends a complete plain script with.
const PLAIN_END: &str = "-- PostgreSQL database dump complete";

/// What a plain script lacks: its last line (a script cut short), the tables' definitions
/// (`CREATE TABLE`) unless data only, their rows (`COPY`) unless schema only.
pub fn missing_in_plain(script: &Path, tables: &[Table], content: Content) -> std::io::Result<Vec<String>> {
    let mut created = std::collections::HashSet::new();
    let mut copied = std::collections::HashSet::new();
    let mut complete = false;
    for line in std::io::BufReader::new(std::fs::File::open(script)?).split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            created.insert(rest.split(" (").next().unwrap_or_default().trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("COPY ") {
            copied.insert(rest.split(" (").next().unwrap_or_default().trim().to_owned());
        } else if line.starts_with(PLAIN_END) {
            complete = true;
        }
    }
    let mut missing: Vec<String> = tables
        .iter()
        .filter(|t| {
            (content != Content::DataOnly && !created.contains(&t.qualified))
                || (content != Content::SchemaOnly && !t.partitioned && !copied.contains(&t.qualified))
        })
        .map(|t| t.qualified.clone())
        .collect();
    if !complete {
        missing.insert(0, format!("its last line (`{PLAIN_END}`: the script is cut short)"));
    }
    Ok(missing)
}

/// What an archive's data says: every table's row count and envdb's own rows.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// Rows per table, by its quoted qualified name.
    pub counts: BTreeMap<String, u64>,
    pub environment: Option<String>,
    pub project: Option<String>,
    /// Whether the archive holds envdb's history tables (their data) at all.
    pub has_history: bool,
    pub history: Vec<Applied>,
}

/// One value of a `COPY` text row: `\N` is NULL, backslash escapes undone.
fn unescape(field: &str) -> Option<String> {
    if field == "\\N" {
        return None;
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// Reads `COPY … FROM stdin;` blocks from SQL text: counts every table's rows, keeps the rows
/// of envdb's tables in `history_schema`. A block that never ends is an error (a cut archive).
pub fn read_copy(text: impl std::io::Read, history_schema: &str) -> Result<Contents, String> {
    let ident = |s: &str| {
        let plain = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if plain { s.to_owned() } else { format!("\"{}\"", s.replace('"', "\"\"")) }
    };
    let (meta, migrations) =
        (format!("{}.envdb_meta", ident(history_schema)), format!("{}.envdb_migrations", ident(history_schema)));
    let mut out = Contents::default();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in std::io::BufReader::with_capacity(1 << 20, text).split(b'\n') {
        let line = line.map_err(|e| format!("cannot read its data: {e}"))?;
        if let Some((table, columns)) = &current {
            if line == b"\\." {
                current = None;
                continue;
            }
            *out.counts.entry(table.clone()).or_default() += 1;
            if *table == meta || *table == migrations {
                let line = String::from_utf8_lossy(&line);
                let fields: Vec<Option<String>> = line.split('\t').map(unescape).collect();
                let get =
                    |name: &str| columns.iter().position(|c| c == name).and_then(|i| fields.get(i).cloned().flatten());
                if *table == meta {
                    match get("key").as_deref() {
                        Some("environment") => out.environment = get("value"),
                        Some("project") => out.project = get("value"),
                        _ => {}
                    }
                } else {
                    let row = ["version", "name", "checksum", "applied_at", "execution_ms", "tool_version"].map(get);
                    out.history.extend(super::history::applied(row.into()));
                }
            }
            continue;
        }
        let Some(rest) = line.strip_prefix(b"COPY ") else { continue };
        let rest = String::from_utf8_lossy(rest);
        if !rest.ends_with("FROM stdin;") {
            continue;
        }
        let (table, cols) = rest.split_once(" (").unwrap_or((&rest, ""));
        let columns = cols.split(')').next().unwrap_or_default().split(", ").map(|c| c.trim_matches('"').to_owned());
        let table = table.trim().to_owned();
        out.counts.entry(table.clone()).or_default();
        out.has_history |= table == migrations;
        current = Some((table, columns.collect()));
    }
    if let Some((table, _)) = current {
        return Err(format!("the rows of {table} end without their closing `\\.`: the archive is cut short"));
    }
    out.history.sort_by_key(|a| a.version);
    Ok(out)
}

/// Reads an archive's data: the plain script itself, or what `pg_restore --data-only` prints of
/// a custom or directory archive (only envdb's tables when `identity_only`).
pub fn contents(
    pg_restore: &Tool,
    archive: &Path,
    format: Format,
    history_schema: &str,
    identity_only: bool,
) -> Result<Contents, String> {
    if format == Format::Plain {
        let file = std::fs::File::open(archive).map_err(|e| format!("cannot be read: {e}"))?;
        return read_copy(file, history_schema);
    }
    let mut cmd = super::tools::tied(&pg_restore.path);
    cmd.args(["--data-only", "--file=-"]).arg(archive).stdin(Stdio::null()).stdout(Stdio::piped());
    cmd.stderr(Stdio::piped());
    if identity_only {
        cmd.arg(format!("--schema={history_schema}")).args(["--table=envdb_meta", "--table=envdb_migrations"]);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", pg_restore.path.display()))?;
    let stdout = child.stdout.take().ok_or("pg_restore gave no output")?;
    let stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    });
    let read = read_copy(stdout, history_schema);
    let status = child.wait().map_err(|e| format!("pg_restore: {e}"))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("pg_restore cannot read its data: {}", errors.trim()));
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Table {
        Table { schema: "public".into(), name: name.into(), qualified: format!("public.{name}"), partitioned: false }
    }

    #[test]
    fn the_toc_must_list_every_table_and_its_rows() {
        let toc = ";\n; Archive created at 2026-12-06\n215; 1259 16386 TABLE public people envdb_test\n\
                   3345; 0 16386 TABLE DATA public people envdb_test\n216; 1259 16390 TABLE public pets envdb_test\n";
        let tables = [table("people"), table("pets")];
        assert_eq!(missing_in_toc(toc, &tables, Content::Full), ["public.pets"]);
        assert!(missing_in_toc(toc, &tables, Content::SchemaOnly).is_empty());
        assert_eq!(missing_in_toc(toc, &tables, Content::DataOnly), ["public.pets"]);
    }

    #[test]
    fn copy_blocks_give_counts_and_envdb_rows() {
        let sql = "SET x = 1;\nCOPY public.envdb_meta (key, value) FROM stdin;\nenvironment\tprod\nproject\tapp\n\\.\n\
                   COPY public.envdb_migrations (version, name, checksum, applied_at, execution_ms, tool_version) FROM stdin;\n\
                   1\t0001_a.sql\tabc\t2026-01-01 00:00:00+00\t3\t0.1.0\n\\.\n\
                   COPY public.people (id, email) FROM stdin;\n1\ta\\tb\n2\t\\N\n\\.\n";
        let c = read_copy(sql.as_bytes(), "public").unwrap();
        assert_eq!(c.environment.as_deref(), Some("prod"));
        assert_eq!(c.project.as_deref(), Some("app"));
        assert!(c.has_history);
        assert_eq!(c.history.len(), 1);
        assert_eq!(c.history[0].name, "0001_a.sql");
        assert_eq!(c.counts["public.people"], 2);
        let cut = &sql[..sql.len() - 4];
        assert!(read_copy(cut.as_bytes(), "public").unwrap_err().contains("cut short"));
    }
}
