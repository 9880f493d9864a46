//! The user's PostgreSQL schema as text, read from the system catalogs in a stable order (what
//! `schema dump` prints and `validate` compares), its readable diff, and the INVALID indexes a
//! failed `CREATE INDEX CONCURRENTLY` leaves behind.
//!
//! Every object is `(kind, schema-qualified name, text)`; the text is SQL as the server's own
//! `pg_get_*def` functions write it, read with an empty `search_path` so that every name in it is
//! qualified the same way on every database. Tables list one column per line, so that the diff
//! can say which column changed and how. Only the simple-query protocol is used (PgBouncer in
//! transaction mode has no prepared statements), inside one read-only repeatable-read
//! transaction, so the objects come from one snapshot and `SET LOCAL` ends with it.

mod diff;
mod text;

use crate::db::schema::OTHER_TOOLS_HISTORY;
pub use crate::db::schema::Object;
pub use diff::diff;

use ::postgres::{Client, SimpleQueryMessage};

/// envdb's own tables, never part of the user's schema.
const ENVDB_TABLES: &str = "'envdb_migrations', 'envdb_meta', 'envdb_lock'";

/// The schemas that hold the user's objects: not the system's (`pg_catalog`, `pg_toast*`,
/// `pg_temp_*`: a user cannot create a schema named `pg_…`) nor `information_schema`.
const USER_SCHEMA: &str = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'";

/// Where each kind comes in the dump: what others depend on first.
const KINDS: [&str; 14] = [
    "schema",
    "extension",
    "type",
    "domain",
    "function",
    "aggregate",
    "procedure",
    "sequence",
    "table",
    "constraint",
    "index",
    "view",
    "materialized view",
    "trigger",
];

/// The user's schema objects in a stable order: by kind (see [`KINDS`]), then by name, compared
/// byte by byte (not by the database's collation, which may differ between two databases).
///
/// Left out: the system schemas, objects that belong to an extension (the extension is listed
/// instead), envdb's tables in `history_schema` with everything attached to them, and the
/// `history_schema` itself (envdb creates it). Owners, privileges, comments and statistics are not
/// part of the text.
pub fn objects(client: &mut Client, history_schema: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(::postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    tx.batch_execute("SET LOCAL search_path = ''")?;
    let mut out = Vec::new();
    let hist = literal(history_schema);
    let rels = user_relations(&hist);
    let q = &mut |sql: &str| rows(&mut tx, sql);
    out.extend(schemas(q, &hist)?);
    out.extend(extensions(q)?);
    out.extend(types(q, &rels)?);
    out.extend(functions(q, &hist)?);
    out.extend(sequences(q, &rels)?);
    out.extend(tables(q, &rels)?);
    out.extend(constraints(q, &rels)?);
    out.extend(indexes(q, &rels)?);
    out.extend(views(q, &rels)?);
    out.extend(triggers(q, &rels)?);
    tx.commit()?;
    let rank = |kind: &str| KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len());
    out.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(&b.2)));
    Ok(out)
}

/// The schema as a SQL-ish script, one object after another (as on SQLite).
pub fn render(objects: &[Object]) -> String {
    crate::db::schema::render(objects)
}

/// The indexes that are not valid (`pg_index.indisvalid = false`), as `(schema.index,
/// schema.table)`, sorted: what a failed `CREATE INDEX CONCURRENTLY` leaves behind.
pub fn invalid_indexes(client: &mut Client) -> Result<Vec<(String, String)>, ::postgres::Error> {
    let sql = format!(
        "SELECT {}, {} FROM pg_index i
           JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
           JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
         WHERE NOT i.indisvalid AND {USER_SCHEMA}",
        qualified("n", "ic.relname"),
        qualified("tn", "tc.relname"),
    );
    let mut out: Vec<(String, String)> =
        rows(client, &sql)?.into_iter().map(|r| (text::field(&r, 0), text::field(&r, 1))).collect();
    out.sort();
    Ok(out)
}

/// A row of text values (`None` for NULL).
type Row = Vec<Option<String>>;

/// The rows of one query, sent with the simple-query protocol.
fn rows(client: &mut impl ::postgres::GenericClient, sql: &str) -> Result<Vec<Row>, ::postgres::Error> {
    let messages = client.simple_query(sql)?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect()),
            _ => None,
        })
        .collect())
}

/// `value` as a string literal that means the same whatever `standard_conforming_strings` says.
fn literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// SQL for `schema.name`, each part quoted when it needs to be (`quote_ident`).
fn qualified(namespace: &str, name: &str) -> String {
    format!("quote_ident({namespace}.nspname) || '.' || quote_ident({name})")
}

/// A `WITH` clause defining `envdb` (envdb's tables and the other tools' history tables `adopt`
/// leaves in place) and `user_rels` (the relations of the user:
/// in a user schema, not an extension's, not envdb's nor owned by one of envdb's).
fn user_relations(hist: &str) -> String {
    format!(
        "WITH envdb AS (
           SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = {hist} AND c.relname IN ({ENVDB_TABLES})
           UNION ALL
           SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE {USER_SCHEMA} AND c.relkind = 'r' AND c.relname IN ({OTHER_TOOLS_HISTORY})
         ), user_rels AS (
           SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE {USER_SCHEMA} AND c.oid NOT IN (SELECT oid FROM envdb)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND (d.deptype = 'e' OR (d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass
                                        AND d.refobjid IN (SELECT oid FROM envdb))))
         ) "
    )
}

/// SQL: the object `oid` of catalog `catalog` does not belong to an extension.
fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass AND x.objid = {oid} AND x.deptype = 'e')"
    )
}

type Query<'q> = dyn FnMut(&str) -> Result<Vec<Row>, ::postgres::Error> + 'q;

fn schemas(q: &mut Query<'_>, hist: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "SELECT quote_ident(n.nspname) FROM pg_namespace n
         WHERE {USER_SCHEMA} AND n.nspname <> {hist} AND {}",
        not_extension_member("pg_namespace", "n.oid")
    );
    Ok(q(&sql)?
        .iter()
        .map(|r| text::object("schema", text::field(r, 0), format!("CREATE SCHEMA {}", text::field(r, 0))))
        .collect())
}

fn extensions(q: &mut Query<'_>) -> Result<Vec<Object>, ::postgres::Error> {
    // plpgsql is in every database (template0 has it).
    let sql = "SELECT quote_ident(x.extname), quote_ident(n.nspname), quote_literal(x.extversion)
               FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'";
    Ok(q(sql)?.iter().map(text::extension).collect())
}

fn types(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let types = format!(
        "SELECT t.oid, {name}, t.typtype,
           CASE t.typtype
             WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                            FROM pg_enum e WHERE e.enumtypid = t.oid)
             WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
             WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
           END,
           CASE WHEN t.typtype = 'd' AND t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)
             THEN t.typcollation::regcollation::text END,
           t.typdefault, t.typnotnull, t.typrelid
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE {USER_SCHEMA} AND {ext}
           AND (t.typtype IN ('e', 'd', 'r')
                OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))",
        name = qualified("n", "t.typname"),
        ext = not_extension_member("pg_type", "t.oid"),
    );
    let checks = "SELECT k.contypid, quote_ident(k.conname), pg_get_constraintdef(k.oid) FROM pg_constraint k
                  WHERE k.contypid <> 0 ORDER BY k.contypid, k.conname";
    let columns = columns(q, rels)?;
    let checks = q(checks)?;
    Ok(q(&types)?.iter().map(|t| text::user_type(t, &columns, &checks)).collect())
}

/// The columns of the user's relations (tables and composite types), in their order.
fn columns(q: &mut Query<'_>, rels: &str) -> Result<Vec<Row>, ::postgres::Error> {
    let sql = format!(
        "{rels}SELECT a.attrelid, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
           a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (SELECT oid FROM user_rels)
         ORDER BY a.attrelid, a.attnum"
    );
    q(&sql)
}

/// Functions, procedures and aggregates; not those a type made for itself (a range type's
/// constructors), which the type shows.
/// The user's functions, without the trigger function envdb keeps beside its tables in `hist`.
fn functions(q: &mut Query<'_>, hist: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "SELECT {name} || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.prokind,
           CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) ELSE
             (SELECT 'SFUNC = ' || a.aggtransfn::regproc::text || ', STYPE = ' || format_type(a.aggtranstype, NULL)
                || coalesce(', FINALFUNC = ' || nullif(a.aggfinalfn::oid, 0)::regproc::text, '')
                || coalesce(', COMBINEFUNC = ' || nullif(a.aggcombinefn::oid, 0)::regproc::text, '')
                || coalesce(', INITCOND = ' || quote_literal(a.agginitval), '')
              FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
           END
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE {USER_SCHEMA} AND {ext}
           AND NOT (n.nspname = {hist} AND p.proname = '{trigger}')
           AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_proc'::regclass AND i.objid = p.oid
                           AND i.deptype = 'i')",
        name = qualified("n", "p.proname"),
        ext = not_extension_member("pg_proc", "p.oid"),
        trigger = super::history::TRIGGER_FUNCTION,
    );
    Ok(q(&sql)?.iter().map(text::function).collect())
}

fn sequences(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "{rels}SELECT {name}, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
           s.seqcache, s.seqcycle,
           (SELECT {owner} || '.' || quote_ident(a.attname)
            FROM pg_depend d JOIN pg_class r ON r.oid = d.refobjid JOIN pg_namespace rn ON rn.oid = r.relnamespace
              JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
              AND d.deptype IN ('a', 'i') LIMIT 1)
         FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid IN (SELECT oid FROM user_rels)",
        name = qualified("n", "c.relname"),
        owner = qualified("rn", "r.relname"),
    );
    Ok(q(&sql)?.iter().map(text::sequence).collect())
}

fn tables(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "{rels}SELECT c.oid, {name}, c.relkind, c.relpersistence,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
           CASE WHEN c.relispartition THEN
             (SELECT {parent} FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid)
             || ' ' || pg_get_expr(c.relpartbound, c.oid) END,
           array_to_string(c.reloptions, ', '), c.relrowsecurity, c.relforcerowsecurity
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'f') AND c.oid IN (SELECT oid FROM user_rels)",
        name = qualified("n", "c.relname"),
        parent = qualified("pn", "p.relname"),
    );
    let columns = columns(q, rels)?;
    Ok(q(&sql)?.iter().map(|t| text::table(t, &columns)).collect())
}

fn constraints(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    // NOT NULL constraints (PostgreSQL 18's pg_constraint has them) are shown by their columns.
    let sql = format!(
        "{rels}SELECT {table}, quote_ident(k.conname), pg_get_constraintdef(k.oid)
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.conrelid IN (SELECT oid FROM user_rels) AND k.contype <> 'n'",
        table = qualified("n", "c.relname"),
    );
    Ok(q(&sql)?.iter().map(text::constraint).collect())
}

fn indexes(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    // The index of a primary key, unique or exclusion constraint is the constraint's. An INVALID
    // index (a failed CONCURRENTLY build) is no part of the schema: `invalid_indexes` reports it,
    // once, with the DROP to run.
    let sql = format!(
        "{rels}SELECT {name}, pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE i.indrelid IN (SELECT oid FROM user_rels) AND i.indisvalid
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                           AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))",
        name = qualified("n", "ic.relname"),
    );
    Ok(q(&sql)?.iter().map(|r| text::object("index", text::field(r, 0), text::field(r, 1))).collect())
}

fn views(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "{rels}SELECT {name}, c.relkind, pg_get_viewdef(c.oid), array_to_string(c.reloptions, ', ')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('v', 'm') AND c.oid IN (SELECT oid FROM user_rels)",
        name = qualified("n", "c.relname"),
    );
    Ok(q(&sql)?.iter().map(text::view).collect())
}

fn triggers(q: &mut Query<'_>, rels: &str) -> Result<Vec<Object>, ::postgres::Error> {
    let sql = format!(
        "{rels}SELECT {table}, quote_ident(t.tgname), pg_get_triggerdef(t.oid), t.tgenabled
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND t.tgrelid IN (SELECT oid FROM user_rels)",
        table = qualified("n", "c.relname"),
    );
    Ok(q(&sql)?.iter().map(text::trigger).collect())
}
