//! What refuses a migration's SQL before anything runs, decided by one function that both
//! `check` (so the pre-commit hook and build scripts) and the runner call: whatever `migrate`
//! refuses before running, `check` refuses too. Pure, so it builds without SQLite.

use crate::problem::ProblemKind;
use crate::sql_lex::{self, Dialect, Kind, Statement, Token};
use crate::sql_text::{self, DirectiveIssue, Directives};
use std::fmt;

/// envdb's own tables: only envdb writes them.
pub const INTERNAL_TABLES: [&str; 3] = ["envdb_migrations", "envdb_meta", "envdb_lock"];

/// Why a file cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NulByte {
        count: usize,
        dialect: Dialect,
    },
    UnknownDirective(String),
    MisplacedDirective(&'static str),
    /// BEGIN, COMMIT, END or ROLLBACK in a file run inside envdb's transaction.
    TransactionControl(String),
    /// In a `no-transaction` file: BEGIN while the transaction begun on that line is open.
    NestedBegin {
        open: usize,
        dialect: Dialect,
    },
    /// In a `no-transaction` file: COMMIT, END or ROLLBACK with no transaction open.
    UnmatchedEnd(String),
    /// In a `no-transaction` file: a BEGIN that nothing commits.
    UnclosedBegin,
    /// PostgreSQL: a statement it refuses inside a transaction (`CREATE INDEX CONCURRENTLY`,
    /// `VACUUM`…), in a file run in envdb's transaction (`open: None`) or, in a `no-transaction`
    /// file, inside the transaction begun on line `open`.
    OutsideTransactionOnly {
        what: &'static str,
        open: Option<usize>,
    },
    InternalTable {
        table: &'static str,
        verb: &'static str,
    },
}

/// A reason to refuse a file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub reason: Reason,
}

impl Refusal {
    /// The kind `check` reports it as.
    pub fn kind(&self) -> ProblemKind {
        match self.reason {
            Reason::NulByte { .. } => ProblemKind::NulByte,
            Reason::UnknownDirective(_) => ProblemKind::UnknownDirective,
            Reason::MisplacedDirective(_) => ProblemKind::MisplacedDirective,
            Reason::TransactionControl(_)
            | Reason::NestedBegin { .. }
            | Reason::UnmatchedEnd(_)
            | Reason::UnclosedBegin
            | Reason::OutsideTransactionOnly { .. } => ProblemKind::TransactionControl,
            Reason::InternalTable { .. } => ProblemKind::InternalTable,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.reason {
            Reason::NulByte { count, dialect } => {
                let more = if *count > 1 { format!(" (and {} more)", count - 1) } else { String::new() };
                let why = match dialect {
                    Dialect::Sqlite => {
                        "SQLite stops reading at it, so the statements after it would silently never run"
                    }
                    Dialect::Postgres => "PostgreSQL's protocol cannot carry it in SQL text, so the file cannot run",
                };
                write!(f, "a NUL byte{more}: {why}; remove it (a file saved as UTF-16, or binary data pasted in?)")
            }
            Reason::UnknownDirective(word) => {
                write!(f, "unknown directive `{word}` (known: no-transaction, allow-destructive)")
            }
            Reason::MisplacedDirective(place) => write!(
                f,
                "an `envdb:` directive {place} is not honoured; write it as a `-- envdb: …` line before the first statement"
            ),
            Reason::TransactionControl(kw) => write!(
                f,
                "the file controls its own transaction ({kw}); add `-- envdb: no-transaction` before its first statement to run it outside envdb's transaction, or remove the {kw}"
            ),
            Reason::NestedBegin { open, dialect } => {
                let why = match dialect {
                    Dialect::Sqlite => "SQLite cannot nest transactions",
                    Dialect::Postgres => {
                        "PostgreSQL does not nest transactions (it warns and goes on in the outer one)"
                    }
                };
                write!(
                    f,
                    "BEGIN inside the transaction begun on line {open}; {why}: COMMIT that one first (or use SAVEPOINT)"
                )
            }
            Reason::UnmatchedEnd(kw) => write!(
                f,
                "{kw} without a BEGIN before it; outside a transaction it would fail after the statements before it took effect: remove it or add the BEGIN"
            ),
            Reason::OutsideTransactionOnly { what, open: None } => write!(
                f,
                "PostgreSQL cannot run {what} inside a transaction, and this file runs in envdb's; add `-- envdb: no-transaction` before its first statement (its statements then run one at a time, so give the statement a file of its own to keep the others atomic)"
            ),
            Reason::OutsideTransactionOnly { what, open: Some(open) } => write!(
                f,
                "{what} inside the transaction begun on line {open}; PostgreSQL cannot run it in a transaction: move it after the COMMIT"
            ),
            Reason::UnclosedBegin => write!(
                f,
                "BEGIN without a COMMIT: the file would end inside a transaction that nothing commits; add COMMIT after its last statement"
            ),
            Reason::InternalTable { table, verb } => write!(
                f,
                "the statement {verb} {table}, envdb's own table; a migration must not change envdb's history (`cargo envdb baseline` and `repair` do it deliberately): remove the statement"
            ),
        }
    }
}

/// A migration's SQL read once: its directives, its statements, and every reason to refuse it.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    pub directives: Directives,
    pub statements: Vec<Statement<'a>>,
    /// In line order; empty when the file may run.
    pub refusals: Vec<Refusal>,
    /// Every token of the file (for callers that read more, like `check`'s warnings).
    pub tokens: Vec<Token<'a>>,
    /// The range of `tokens` each statement covers, in the order of `statements`.
    pub spans: Vec<std::ops::Range<usize>>,
}

/// Reads SQLite's `sql` and finds every reason to refuse it.
pub fn read(sql: &str) -> Reading<'_> {
    read_as(sql, Dialect::Sqlite)
}

/// Reads `sql` as `dialect` tokenizes and splits it, and finds every reason to refuse it.
pub fn read_as(sql: &str, dialect: Dialect) -> Reading<'_> {
    let tokens = dialect.tokens(sql);
    let (directives, issues) = Directives::parse_tokens(tokens.iter().copied());
    let mut refusals: Vec<Refusal> = issues
        .into_iter()
        .map(|(line, issue)| Refusal {
            line,
            reason: match issue {
                DirectiveIssue::Unknown(word) => Reason::UnknownDirective(word),
                DirectiveIssue::InBlockComment => Reason::MisplacedDirective("in a block comment"),
                DirectiveIssue::AfterFirstStatement => Reason::MisplacedDirective("after the first statement"),
            },
        })
        .collect();
    if let Some(at) = sql.find('\0') {
        let line = 1 + sql[..at].bytes().filter(|&c| c == b'\n').count();
        refusals.push(Refusal {
            line,
            reason: Reason::NulByte { count: sql.bytes().filter(|&c| c == 0).count(), dialect },
        });
    }
    let split = dialect.split_tokens(sql, tokens.iter().copied());
    transactions(
        split.iter().map(|(s, range)| (s.line, &tokens[range.clone()])),
        directives.no_transaction,
        dialect,
        &mut refusals,
    );
    // Every name starts so; most files never mention one, and skip the scan.
    if sql.as_bytes().windows(6).any(|w| w.eq_ignore_ascii_case(b"envdb_")) {
        internal_writes(&tokens, dialect, &mut refusals);
    }
    refusals.sort_by_key(|r| r.line);
    let (statements, spans) = split.into_iter().unzip();
    Reading { directives, statements, refusals, tokens, spans }
}

/// The first keyword of a statement, uppercased.
pub fn keyword(sql: &str) -> Option<String> {
    sql_text::words_iter(sql_lex::tokens(sql)).next().map(|w| w.text.to_ascii_uppercase())
}

/// Whether a statement starts, ends or aborts a transaction.
pub fn is_transaction_control(sql: &str) -> bool {
    matches!(keyword(sql).as_deref(), Some("BEGIN" | "COMMIT" | "END" | "ROLLBACK"))
}

/// A statement PostgreSQL refuses inside a transaction, by its first words.
fn outside_transaction_only(words: &[sql_text::Word<'_>]) -> Option<&'static str> {
    let is = |i: usize, kw: &str| words.get(i).is_some_and(|w| w.is(kw));
    let index = if is(1, "UNIQUE") { 2 } else { 1 };
    if is(0, "CREATE") && is(index, "INDEX") && is(index + 1, "CONCURRENTLY") {
        return Some("CREATE INDEX CONCURRENTLY");
    }
    if is(0, "REINDEX") {
        let what = words
            .iter()
            .take(6)
            .position(|w| ["INDEX", "TABLE", "SCHEMA", "DATABASE", "SYSTEM"].iter().any(|k| w.is(k)));
        return match what {
            Some(k) if is(k, "DATABASE") || is(k, "SYSTEM") => Some("REINDEX DATABASE or SYSTEM"),
            Some(k) if is(k + 1, "CONCURRENTLY") => Some("REINDEX CONCURRENTLY"),
            _ => None,
        };
    }
    let pairs: [(&str, &str, &'static str); 9] = [
        ("DROP", "INDEX", "DROP INDEX CONCURRENTLY"),
        ("CREATE", "DATABASE", "CREATE DATABASE"),
        ("DROP", "DATABASE", "DROP DATABASE"),
        ("CREATE", "TABLESPACE", "CREATE TABLESPACE"),
        ("DROP", "TABLESPACE", "DROP TABLESPACE"),
        ("ALTER", "SYSTEM", "ALTER SYSTEM"),
        ("COMMIT", "PREPARED", "COMMIT PREPARED"),
        ("ROLLBACK", "PREPARED", "ROLLBACK PREPARED"),
        ("VACUUM", "", "VACUUM"),
    ];
    pairs.into_iter().find_map(|(a, b, what)| {
        let second = match what {
            "VACUUM" => true,
            "DROP INDEX CONCURRENTLY" => is(1, b) && is(2, "CONCURRENTLY"),
            _ => is(1, b),
        };
        (is(0, a) && second).then_some(what)
    })
}

/// Transaction control: refused in a file that runs inside envdb's transaction; in a
/// `no-transaction` file, every BEGIN must be closed and nothing closed that was not begun.
/// On PostgreSQL also `START TRANSACTION`, `ABORT` and `PREPARE TRANSACTION`, and the statements
/// it cannot run in a transaction at all. `statements`: each one's line and tokens.
fn transactions<'a>(
    statements: impl Iterator<Item = (usize, &'a [Token<'a>])>,
    no_transaction: bool,
    dialect: Dialect,
    out: &mut Vec<Refusal>,
) {
    let pg = dialect == Dialect::Postgres;
    let mut open = None;
    for (line, tokens) in statements {
        let words: Vec<_> = sql_text::words_iter(tokens.iter().copied()).take(8).collect();
        let is = |i: usize, kw: &str| words.get(i).is_some_and(|w| w.is(kw));
        if pg && let Some(what) = outside_transaction_only(&words) {
            if !no_transaction || open.is_some() {
                out.push(Refusal { line, reason: Reason::OutsideTransactionOnly { what, open } });
            }
            continue;
        }
        let kw = words.first().map(|w| w.text.to_ascii_uppercase()).unwrap_or_default();
        let (kw, begins) = match kw.as_str() {
            "BEGIN" => (kw, true),
            "COMMIT" | "END" | "ROLLBACK" => (kw, false),
            "START" if pg && is(1, "TRANSACTION") => ("START TRANSACTION".to_owned(), true),
            "ABORT" if pg => (kw, false),
            "PREPARE" if pg && is(1, "TRANSACTION") => ("PREPARE TRANSACTION".to_owned(), false),
            _ => continue,
        };
        let savepoint = kw == "ROLLBACK" && words[1..].iter().take(2).any(|w| w.is("TO"));
        let reason = match (no_transaction, begins, open) {
            (false, _, _) => Some(Reason::TransactionControl(kw)),
            (true, true, Some(open)) => Some(Reason::NestedBegin { open, dialect }),
            (true, true, None) => {
                open = Some(line);
                None
            }
            (true, false, _) if savepoint => None,
            (true, false, None) => Some(Reason::UnmatchedEnd(kw)),
            (true, false, Some(_)) => {
                open = None;
                None
            }
        };
        out.extend(reason.map(|reason| Refusal { line, reason }));
    }
    if let Some(line) = open {
        out.push(Refusal { line, reason: Reason::UnclosedBegin });
    }
}

/// A (possibly schema-qualified) name read from significant tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    /// The last part (`schema.name` gives `name`), without quotes; `"a""b"` is `a"b`.
    pub text: String,
    pub line: usize,
    /// Whether the last part was quoted (PostgreSQL folds only unquoted names to lower case).
    pub quoted: bool,
    /// The index of the first token after the name.
    pub next: usize,
}

impl Name {
    /// The name as PostgreSQL stores it: unquoted names fold to lower case.
    pub fn folded(&self) -> String {
        if self.quoted { self.text.clone() } else { self.text.to_lowercase() }
    }
}

/// The name at `sig[i]`, `sig` being tokens without spaces and comments.
pub(crate) fn name_at(sig: &[Token<'_>], i: usize) -> Option<Name> {
    let first = sig.get(i)?;
    let mut text = first.name()?.to_owned();
    let mut j = i + 1;
    let mut end = first.offset + first.text.len();
    while let (Kind::Quoted(q), Some(next)) = (first.kind, sig.get(j))
        && q != b'['
        && next.kind == first.kind
        && next.offset == end
    {
        text.push(q as char);
        text.push_str(next.name().unwrap_or_default());
        end = next.offset + next.text.len();
        j += 1;
    }
    match sig.get(j) {
        Some(dot) if dot.kind == Kind::Other && dot.text == "." => name_at(sig, j + 1),
        _ => Some(Name { text, line: first.line, quoted: first.kind != Kind::Word, next: j }),
    }
}

/// The names of a list at `sig[i]` (`a, s.b, "c"`).
fn names_at<'s>(sig: &'s [Token<'s>], i: usize) -> impl Iterator<Item = Name> + 's {
    let mut at = Some(i);
    std::iter::from_fn(move || {
        let name = name_at(sig, at?)?;
        at = sig.get(name.next).filter(|t| t.kind == Kind::Other && t.text == ",").map(|_| name.next + 1);
        Some(name)
    })
}

/// Statements that write envdb's own tables: INSERT/REPLACE INTO, UPDATE, DELETE FROM, DROP,
/// ALTER, CREATE TABLE/VIEW of that name, an index or trigger on it, a table renamed to it, and
/// the same inside trigger bodies; on PostgreSQL also `ONLY`, lists of tables, TRUNCATE and
/// COPY … FROM, and a quoted name must match exactly (unquoted ones in any case). Each shape is
/// a few tokens long, so the whole file is scanned at once.
fn internal_writes(tokens: &[Token<'_>], dialect: Dialect, out: &mut Vec<Refusal>) {
    let pg = dialect == Dialect::Postgres;
    let sig: Vec<Token<'_>> = tokens
        .iter()
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::LineComment | Kind::BlockComment))
        .copied()
        .collect();
    let is = |i: usize, kw: &str| sig.get(i).is_some_and(|t| t.is(kw));
    let skip = |mut i: usize, words: &[&str]| {
        while words.iter().any(|w| is(i, w)) {
            i += 1;
        }
        i
    };
    let only = |i: usize| if pg { skip(i, &["ONLY"]) } else { i };
    let statement = |i: usize| sig[i..].iter().take_while(|t| t.kind != Kind::Semi);
    for (i, t) in sig.iter().enumerate() {
        let target = if t.is("INTO") {
            Some((i + 1, "writes into"))
        } else if t.is("UPDATE") {
            Some((if is(i + 1, "OR") { i + 3 } else { only(i + 1) }, "updates"))
        } else if t.is("DELETE") && is(i + 1, "FROM") {
            Some((only(i + 2), "deletes from"))
        } else if t.is("DROP") && (is(i + 1, "TABLE") || is(i + 1, "VIEW")) {
            Some((skip(i + 2, &["IF", "EXISTS"]), "drops"))
        } else if t.is("ALTER") && is(i + 1, "TABLE") {
            Some((if pg { only(skip(i + 2, &["IF", "EXISTS"])) } else { i + 2 }, "alters"))
        } else if t.is("RENAME") && is(i + 1, "TO") {
            Some((i + 2, "renames a table to"))
        } else if pg && t.is("TRUNCATE") {
            Some((only(skip(i + 1, &["TABLE"])), "truncates"))
        } else if pg && t.is("COPY") && statement(i).any(|t| t.is("FROM")) {
            Some((i + 1, "copies into"))
        } else if t.is("CREATE") {
            let k = skip(
                i + 1,
                if pg {
                    &["TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE"]
                } else {
                    &["TEMP", "TEMPORARY", "VIRTUAL", "UNIQUE"]
                },
            );
            if is(k, "TABLE") || is(k, "VIEW") {
                Some((skip(k + 1, &["IF", "NOT", "EXISTS"]), "creates"))
            } else if is(k, "INDEX") || is(k, "TRIGGER") {
                let on = statement(k).position(|t| t.is("ON"));
                on.map(|p| (only(k + p + 1), "adds an index or a trigger to"))
            } else {
                None
            }
        } else {
            None
        };
        let Some((at, verb)) = target else { continue };
        // SQLite names one table; PostgreSQL's DROP and TRUNCATE take a list.
        let list = pg && matches!(verb, "drops" | "truncates");
        for name in names_at(&sig, at).take(if list { usize::MAX } else { 1 }) {
            let matches =
                |t: &&&str| if pg && name.quoted { **t == name.text } else { t.eq_ignore_ascii_case(&name.text) };
            if let Some(table) = INTERNAL_TABLES.iter().find(matches) {
                out.push(Refusal { line: name.line, reason: Reason::InternalTable { table, verb } });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusals(sql: &str) -> Vec<(usize, ProblemKind)> {
        read(sql).refusals.iter().map(|r| (r.line, r.kind())).collect()
    }

    #[test]
    fn a_clean_file_runs() {
        let sql = "-- envdb: allow-destructive\nCREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 1;\nEND;\nINSERT INTO a SELECT value FROM envdb_meta;\nSELECT * FROM envdb_migrations;\n";
        assert_eq!(refusals(sql), []);
    }

    #[test]
    fn nul_bytes_name_their_first_line() {
        let r = read("SELECT 1;\nSELECT 2;\0\nSELECT\0 3;");
        assert_eq!(r.refusals.len(), 1);
        assert_eq!(r.refusals[0].to_string().split(':').next(), Some("line 2"));
        assert!(r.refusals[0].to_string().contains("(and 1 more)"));
    }

    #[test]
    fn transaction_control() {
        use ProblemKind::TransactionControl as T;
        assert_eq!(refusals("BEGIN;\nCREATE TABLE a (x);\nCOMMIT;\n"), [(1, T), (3, T)]);
        let nt = "-- envdb: no-transaction\n";
        assert_eq!(refusals(&format!("{nt}BEGIN;\nCREATE TABLE a (x);\nCOMMIT;\nVACUUM;\n")), []);
        assert_eq!(refusals(&format!("{nt}PRAGMA x;\nBEGIN;\nCREATE TABLE a (x);\n")), [(3, T)]);
        assert_eq!(
            read(&format!("{nt}BEGIN;\nBEGIN;\nCOMMIT;\n")).refusals[0].reason,
            Reason::NestedBegin { open: 2, dialect: Dialect::Sqlite }
        );
        assert_eq!(refusals(&format!("{nt}COMMIT;\n")), [(2, T)]);
        let savepoints =
            format!("{nt}BEGIN;\nSAVEPOINT s;\nROLLBACK TO s;\nROLLBACK TRANSACTION TO SAVEPOINT s;\nEND;\n");
        assert_eq!(refusals(&savepoints), []);
    }

    #[test]
    fn writes_to_envdb_tables() {
        use ProblemKind::InternalTable as I;
        for sql in [
            "INSERT INTO envdb_meta VALUES (1, 2);",
            "INSERT OR REPLACE INTO \"ENVDB_META\" VALUES (1, 2);",
            "REPLACE INTO main.[envdb_migrations] VALUES (1);",
            "UPDATE OR IGNORE envdb_migrations SET checksum = '';",
            "DELETE FROM `envdb_migrations`;",
            "DROP TABLE IF EXISTS envdb_meta;",
            "ALTER TABLE envdb_meta ADD COLUMN y;",
            "ALTER TABLE t RENAME TO envdb_meta;",
            "CREATE TABLE IF NOT EXISTS envdb_meta (k, v);",
            "CREATE UNIQUE INDEX i ON envdb_migrations (name);",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM envdb_meta; END;",
            "CREATE TEMP TRIGGER t AFTER UPDATE ON envdb_meta BEGIN SELECT 1; END;",
            "DELETE FROM envdb_lock;",
        ] {
            assert_eq!(refusals(&format!("SELECT 1;\n{sql}")), [(2, I)], "{sql}");
        }
        assert_eq!(refusals("INSERT INTO 'envdb''meta' VALUES (1);"), []);
        assert_eq!(refusals("-- INSERT INTO envdb_meta\nSELECT 'DELETE FROM envdb_meta';"), []);
    }

    proptest::proptest! {
        /// Any text at all: no panic, and every refusal names a line of the file.
        #[test]
        fn never_panics(sql in ".{0,200}", extra in "[-/*';\\[\\]\"`\n\0a-zA-Z_ ]{0,80}") {
            let sql = format!("{sql}{extra}");
            let lines = sql.matches('\n').count() + 1;
            for r in read(&sql).refusals {
                proptest::prop_assert!((1..=lines).contains(&r.line), "{r} in {sql:?}");
            }
        }
    }

    fn pg_refusals(sql: &str) -> Vec<(usize, ProblemKind)> {
        read_as(sql, Dialect::Postgres).refusals.iter().map(|r| (r.line, r.kind())).collect()
    }

    #[test]
    fn postgres_reads_its_own_quoting() {
        // Semicolons and transaction words inside dollar quotes, E'' strings and nested comments.
        let sql = "CREATE FUNCTION f() RETURNS void AS $$\nBEGIN\n  COMMIT;\nEND;\n$$ LANGUAGE plpgsql;\n\
                   SELECT E'\\'; COMMIT;' /* /* */ BEGIN; */;\nDO $x$ BEGIN DELETE FROM envdb_meta; END $x$;\n";
        assert_eq!(pg_refusals(sql), []);
        // SQLite reads the same text differently: it sees the COMMIT after `E'\'`.
        assert_ne!(refusals(sql), []);
        let r = read_as(sql, Dialect::Postgres);
        assert_eq!(r.statements.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 6, 7]);
        assert_eq!(r.spans.len(), r.statements.len());
    }

    #[test]
    fn postgres_transaction_control() {
        use ProblemKind::TransactionControl as T;
        let nt = "-- envdb: no-transaction\n";
        assert_eq!(pg_refusals("START TRANSACTION;\nSELECT 1;\nABORT;\n"), [(1, T), (3, T)]);
        assert_eq!(pg_refusals(&format!("{nt}START TRANSACTION;\nSELECT 1;\nPREPARE TRANSACTION 'x';\n")), []);
        assert_eq!(pg_refusals(&format!("{nt}ABORT;\n")), [(2, T)]);
        let text = format!("{nt}BEGIN;\nBEGIN;\nCOMMIT;\n");
        let nested = read_as(&text, Dialect::Postgres);
        assert!(nested.refusals[0].to_string().contains("PostgreSQL does not nest"), "{}", nested.refusals[0]);
        // What PostgreSQL cannot run in a transaction: refused in envdb's, and inside BEGIN.
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON t (a);",
            "create unique index concurrently if not exists i on t (a);",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX (VERBOSE) TABLE CONCURRENTLY t;",
            "REINDEX DATABASE d;",
            "VACUUM (ANALYZE) t;",
            "CREATE DATABASE d;",
            "ALTER SYSTEM SET work_mem = '1MB';",
            "COMMIT PREPARED 'x';",
        ] {
            let text = format!("SELECT 1;\n{sql}\n");
            let r = read_as(&text, Dialect::Postgres);
            assert_eq!(r.refusals.iter().map(|r| (r.line, r.kind())).collect::<Vec<_>>(), [(2, T)], "{sql}");
            assert!(r.refusals[0].to_string().contains("-- envdb: no-transaction"), "{}", r.refusals[0]);
            assert_eq!(pg_refusals(&format!("{nt}SELECT 1;\n{sql}\n")), [], "{sql}");
            let text = format!("{nt}BEGIN;\n{sql}\nCOMMIT;\n");
            let inside = read_as(&text, Dialect::Postgres);
            assert_eq!(inside.refusals.len(), 1, "{sql}");
            assert!(inside.refusals[0].to_string().contains("begun on line 2"), "{}", inside.refusals[0]);
        }
        for fine in
            ["CREATE INDEX i ON t (a);", "CREATE INDEX concurrently_i ON t (a);", "DROP INDEX i;", "REINDEX INDEX i;"]
        {
            assert_eq!(pg_refusals(fine), [], "{fine}");
        }
        // SQLite is unchanged: these are not its statements, and START/ABORT are not its words.
        assert_eq!(refusals("CREATE INDEX CONCURRENTLY i ON t (a);\nABORT;\n"), []);
    }

    #[test]
    fn postgres_writes_to_envdb_tables() {
        use ProblemKind::InternalTable as I;
        for sql in [
            "UPDATE ONLY public.envdb_meta SET value = '';",
            "DELETE FROM ONLY envdb_migrations;",
            "ALTER TABLE IF EXISTS ONLY Envdb_Meta ADD COLUMN y int;",
            "DROP TABLE IF EXISTS a, envdb_meta CASCADE;",
            "TRUNCATE TABLE ONLY x, \"envdb_migrations\";",
            "COPY envdb_meta (key, value) FROM stdin;",
            "CREATE UNLOGGED TABLE envdb_meta (k text);",
            "CREATE INDEX CONCURRENTLY i ON ONLY envdb_migrations (name);",
        ] {
            assert_eq!(pg_refusals(&format!("-- envdb: no-transaction\nSELECT 1;\n{sql}")), [(3, I)], "{sql}");
        }
        // A quoted name is exact on PostgreSQL: "ENVDB_META" is another table; reading is fine.
        assert_eq!(pg_refusals("INSERT INTO \"ENVDB_META\" VALUES (1);\nCOPY envdb_meta TO stdout;\n"), []);
        assert_eq!(pg_refusals("SELECT $$DELETE FROM envdb_meta$$, E'\\'DELETE FROM envdb_meta';"), []);
    }

    #[test]
    fn postgres_nul_bytes() {
        let r = read_as("SELECT 1;\0", Dialect::Postgres);
        assert!(r.refusals[0].to_string().contains("PostgreSQL's protocol"), "{}", r.refusals[0]);
    }

    #[test]
    fn directive_issues_are_refusals() {
        let r = read("SELECT 1;\n-- envdb: no-transaction\n/* envdb: allow-destructive */\n");
        assert_eq!(r.refusals.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ProblemKind::MisplacedDirective; 2]);
        assert!(r.refusals[0].to_string().contains("after the first statement"));
    }
}
