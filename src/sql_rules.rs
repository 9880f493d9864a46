//! What refuses a migration's SQL before anything runs, decided by one function that both
//! `check` (so the pre-commit hook and build scripts) and the runner call: whatever `migrate`
//! refuses before running, `check` refuses too. Pure, so it builds without SQLite.

use crate::problem::ProblemKind;
use crate::sql_lex::{self, Kind, Statement, Token};
use crate::sql_text::{self, DirectiveIssue, Directives};
use std::fmt;

/// envdb's own tables: only envdb writes them.
pub const INTERNAL_TABLES: [&str; 2] = ["envdb_migrations", "envdb_meta"];

/// Why a file cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    NulByte {
        count: usize,
    },
    UnknownDirective(String),
    MisplacedDirective(&'static str),
    /// BEGIN, COMMIT, END or ROLLBACK in a file run inside envdb's transaction.
    TransactionControl(String),
    /// In a `no-transaction` file: BEGIN while the transaction begun on that line is open.
    NestedBegin {
        open: usize,
    },
    /// In a `no-transaction` file: COMMIT, END or ROLLBACK with no transaction open.
    UnmatchedEnd(String),
    /// In a `no-transaction` file: a BEGIN that nothing commits.
    UnclosedBegin,
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
            | Reason::UnclosedBegin => ProblemKind::TransactionControl,
            Reason::InternalTable { .. } => ProblemKind::InternalTable,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.reason {
            Reason::NulByte { count } => {
                let more = if *count > 1 { format!(" (and {} more)", count - 1) } else { String::new() };
                write!(
                    f,
                    "a NUL byte{more}: SQLite stops reading at it, so the statements after it would silently never run; remove it (a file saved as UTF-16, or binary data pasted in?)"
                )
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
            Reason::NestedBegin { open } => write!(
                f,
                "BEGIN inside the transaction begun on line {open}; SQLite cannot nest transactions: COMMIT that one first (or use SAVEPOINT)"
            ),
            Reason::UnmatchedEnd(kw) => write!(
                f,
                "{kw} without a BEGIN before it; outside a transaction it would fail after the statements before it took effect: remove it or add the BEGIN"
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
}

/// Reads `sql` and finds every reason to refuse it.
pub fn read(sql: &str) -> Reading<'_> {
    let mut tokens: Vec<Token<'_>> = Vec::with_capacity(sql.len() / 4);
    tokens.extend(sql_lex::tokens(sql));
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
        refusals.push(Refusal { line, reason: Reason::NulByte { count: sql.bytes().filter(|&c| c == 0).count() } });
    }
    let split = sql_lex::split_tokens(sql, tokens.iter().copied());
    transactions(
        split.iter().map(|(s, range)| (s.line, &tokens[range.clone()])),
        directives.no_transaction,
        &mut refusals,
    );
    // Both names start so; most files never mention them, and skip the scan.
    if sql.as_bytes().windows(7).any(|w| w.eq_ignore_ascii_case(b"envdb_m")) {
        internal_writes(&tokens, &mut refusals);
    }
    refusals.sort_by_key(|r| r.line);
    Reading { directives, statements: split.into_iter().map(|(s, _)| s).collect(), refusals, tokens }
}

/// The first keyword of a statement, uppercased.
pub fn keyword(sql: &str) -> Option<String> {
    sql_text::words_iter(sql_lex::tokens(sql)).next().map(|w| w.text.to_ascii_uppercase())
}

/// Whether a statement starts, ends or aborts a transaction.
pub fn is_transaction_control(sql: &str) -> bool {
    matches!(keyword(sql).as_deref(), Some("BEGIN" | "COMMIT" | "END" | "ROLLBACK"))
}

/// Transaction control: refused in a file that runs inside envdb's transaction; in a
/// `no-transaction` file, every BEGIN must be closed and nothing closed that was not begun.
/// `statements`: each one's line and tokens.
fn transactions<'a>(
    statements: impl Iterator<Item = (usize, &'a [Token<'a>])>,
    no_transaction: bool,
    out: &mut Vec<Refusal>,
) {
    let mut open = None;
    for (line, tokens) in statements {
        let mut words = sql_text::words_iter(tokens.iter().copied());
        let kw = words.next().map(|w| w.text.to_ascii_uppercase()).unwrap_or_default();
        if !matches!(kw.as_str(), "BEGIN" | "COMMIT" | "END" | "ROLLBACK") {
            continue;
        }
        let savepoint = kw == "ROLLBACK" && words.take(2).any(|w| w.is("TO"));
        let reason = match (no_transaction, kw.as_str(), open) {
            (false, _, _) => Some(Reason::TransactionControl(kw)),
            (true, "BEGIN", Some(open)) => Some(Reason::NestedBegin { open }),
            (true, "BEGIN", None) => {
                open = Some(line);
                None
            }
            (true, _, _) if savepoint => None,
            (true, _, None) => Some(Reason::UnmatchedEnd(kw)),
            (true, _, Some(_)) => {
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

/// The name at `sig[i]` (`schema.name` gives `name`; `"a""b"` is one name), with its line.
fn name_at(sig: &[Token<'_>], i: usize) -> Option<(String, usize)> {
    let first = sig.get(i)?;
    let mut name = first.name()?.to_owned();
    let mut j = i + 1;
    let mut end = first.offset + first.text.len();
    while let (Kind::Quoted(q), Some(next)) = (first.kind, sig.get(j))
        && q != b'['
        && next.kind == first.kind
        && next.offset == end
    {
        name.push(q as char);
        name.push_str(next.name().unwrap_or_default());
        end = next.offset + next.text.len();
        j += 1;
    }
    match sig.get(j) {
        Some(dot) if dot.kind == Kind::Other && dot.text == "." => name_at(sig, j + 1),
        _ => Some((name, first.line)),
    }
}

/// Statements that write envdb's own tables: INSERT/REPLACE INTO, UPDATE, DELETE FROM, DROP,
/// ALTER, CREATE TABLE/VIEW of that name, an index or trigger on it, a table renamed to it, and
/// the same inside trigger bodies. Each shape is a few tokens long, so the whole file is scanned
/// at once.
fn internal_writes(tokens: &[Token<'_>], out: &mut Vec<Refusal>) {
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
    for (i, t) in sig.iter().enumerate() {
        let target = if t.is("INTO") {
            Some((i + 1, "writes into"))
        } else if t.is("UPDATE") {
            Some((if is(i + 1, "OR") { i + 3 } else { i + 1 }, "updates"))
        } else if t.is("DELETE") && is(i + 1, "FROM") {
            Some((i + 2, "deletes from"))
        } else if t.is("DROP") && (is(i + 1, "TABLE") || is(i + 1, "VIEW")) {
            Some((skip(i + 2, &["IF", "EXISTS"]), "drops"))
        } else if t.is("ALTER") && is(i + 1, "TABLE") {
            Some((i + 2, "alters"))
        } else if t.is("RENAME") && is(i + 1, "TO") {
            Some((i + 2, "renames a table to"))
        } else if t.is("CREATE") {
            let k = skip(i + 1, &["TEMP", "TEMPORARY", "VIRTUAL", "UNIQUE"]);
            if is(k, "TABLE") || is(k, "VIEW") {
                Some((skip(k + 1, &["IF", "NOT", "EXISTS"]), "creates"))
            } else if is(k, "INDEX") || is(k, "TRIGGER") {
                let on = sig[k..].iter().take_while(|t| t.kind != Kind::Semi).position(|t| t.is("ON"));
                on.map(|p| (k + p + 1, "adds an index or a trigger to"))
            } else {
                None
            }
        } else {
            None
        };
        let Some((at, verb)) = target else { continue };
        if let Some((name, line)) = name_at(&sig, at)
            && let Some(table) = INTERNAL_TABLES.iter().find(|t| t.eq_ignore_ascii_case(&name))
        {
            out.push(Refusal { line, reason: Reason::InternalTable { table, verb } });
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
        assert_eq!(read(&format!("{nt}BEGIN;\nBEGIN;\nCOMMIT;\n")).refusals[0].reason, Reason::NestedBegin { open: 2 });
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

    #[test]
    fn directive_issues_are_refusals() {
        let r = read("SELECT 1;\n-- envdb: no-transaction\n/* envdb: allow-destructive */\n");
        assert_eq!(r.refusals.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ProblemKind::MisplacedDirective; 2]);
        assert!(r.refusals[0].to_string().contains("after the first statement"));
    }
}
