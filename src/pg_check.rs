//! `check`'s PostgreSQL warnings: statements that lock a live table for long, rewrite it, fail
//! once it has rows, or break code that reads the old schema, each with what to write instead.
//! Pure, over the tokens `sql_rules::read_as` read; migrations are linted in version order so a
//! `SET NOT NULL` knows the `CHECK … IS NOT NULL` an earlier migration validated.

use crate::sql_lex::{Kind, Token};
use crate::sql_rules::{Reading, name_at};
use std::collections::{HashMap, HashSet};

/// What a warned statement risks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// It holds a lock that blocks the application (or rewrites the table under one).
    Locking,
    /// It fails as soon as the table has a row.
    FailsOnRows,
    /// It breaks code that reads the old schema (drops, renames).
    Destructive,
}

/// One warning: the line, the risk, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub risk: Risk,
    pub message: String,
}

/// What the migrations linted so far established: the columns with a validated
/// `CHECK (column IS NOT NULL)`, and the `NOT VALID` ones that a later `VALIDATE CONSTRAINT`
/// makes so. Tables and columns are keyed by their folded names, without schema.
#[derive(Debug, Default)]
pub struct Lint {
    validated: HashSet<(String, String)>,
    /// (table, constraint) → column.
    not_valid: HashMap<(String, String), String>,
}

/// Whether `sig[i]` is the keyword `kw`.
fn is(sig: &[Token<'_>], i: usize, kw: &str) -> bool {
    sig.get(i).is_some_and(|t| t.is(kw))
}

fn punct(t: &Token<'_>, p: &str) -> bool {
    t.kind == Kind::Other && t.text == p
}

/// The index after the keywords at `i` that are in `words`.
fn skip(sig: &[Token<'_>], mut i: usize, words: &[&str]) -> usize {
    while words.iter().any(|w| is(sig, i, w)) {
        i += 1;
    }
    i
}

/// Splits `sig` at the commas outside parentheses (ALTER TABLE's actions).
fn top_level_parts<'s, 'a>(sig: &'s [Token<'a>]) -> Vec<&'s [Token<'a>]> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0usize, 0);
    for (i, t) in sig.iter().enumerate() {
        if punct(t, "(") {
            depth += 1;
        } else if punct(t, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && punct(t, ",") {
            parts.push(&sig[from..i]);
            from = i + 1;
        }
    }
    parts.push(&sig[from..]);
    parts
}

/// The tokens of `sig` outside parentheses.
fn top_level<'s, 'a>(sig: &'s [Token<'a>]) -> impl Iterator<Item = (usize, &'s Token<'a>)> {
    let mut depth = 0usize;
    sig.iter().enumerate().filter(move |(_, t)| {
        let before = depth;
        if punct(t, "(") {
            depth += 1;
        } else if punct(t, ")") {
            depth = depth.saturating_sub(1);
        }
        before == 0 && depth == 0
    })
}

/// The column of `CHECK (column IS NOT NULL)` whose `CHECK` is `sig[i]` (parentheses around
/// its parts allowed).
fn not_null_check(sig: &[Token<'_>], i: usize) -> Option<String> {
    if !sig.get(i + 1).is_some_and(|t| punct(t, "(")) {
        return None;
    }
    let (mut depth, mut inner) = (0usize, Vec::new());
    for t in &sig[i + 1..] {
        if punct(t, "(") {
            depth += 1;
        } else if punct(t, ")") {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else {
            inner.push(*t);
        }
    }
    let column = name_at(&inner, 0)?;
    let rest = &inner[column.next..];
    (rest.len() == 3 && rest[0].is("IS") && rest[1].is("NOT") && rest[2].is("NULL")).then(|| column.folded())
}

impl Lint {
    /// The warnings of one up migration (`reading` from `sql_rules::read_as` with
    /// `Dialect::Postgres`), learning what it validates. Call in version order.
    pub fn file(&mut self, reading: &Reading<'_>) -> Vec<Warning> {
        let mut out = Vec::new();
        // Tables this file creates: empty and unused until it commits, so nothing to warn about.
        let mut created = HashSet::new();
        // Checks validated by this file: they count for later statements only once committed,
        // which is at once in a no-transaction file.
        let mut validated = Vec::new();
        for span in &reading.spans {
            let sig: Vec<Token<'_>> = reading.tokens[span.clone()]
                .iter()
                .filter(|t| !matches!(t.kind, Kind::Space | Kind::LineComment | Kind::BlockComment | Kind::Semi))
                .copied()
                .collect();
            self.statement(&sig, &mut created, &mut validated, &mut out);
            if reading.directives.no_transaction {
                self.validated.extend(validated.drain(..));
            }
        }
        self.validated.extend(validated);
        out
    }

    fn statement(
        &mut self,
        sig: &[Token<'_>],
        created: &mut HashSet<String>,
        validated: &mut Vec<(String, String)>,
        out: &mut Vec<Warning>,
    ) {
        let Some(first) = sig.first() else { return };
        let mut warn = |line: usize, risk: Risk, message: String| out.push(Warning { line, risk, message });
        if first.is("CREATE") {
            let k = skip(sig, 1, &["GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED", "UNIQUE"]);
            if is(sig, k, "TABLE") {
                if let Some(name) = name_at(sig, skip(sig, k + 1, &["IF", "NOT", "EXISTS"])) {
                    created.insert(name.folded());
                }
            } else if is(sig, k, "INDEX") && !is(sig, k + 1, "CONCURRENTLY") {
                let on = top_level(sig).find(|(_, t)| t.is("ON")).map(|(i, _)| i);
                let table = on.and_then(|on| name_at(sig, skip(sig, on + 1, &["ONLY"])));
                if let Some(table) = table.filter(|t| !created.contains(&t.folded())) {
                    warn(
                        first.line,
                        Risk::Locking,
                        format!(
                            "CREATE INDEX without CONCURRENTLY blocks every write to {} while the index builds; build it with CREATE INDEX CONCURRENTLY in a migration of its own that starts with `-- envdb: no-transaction`",
                            table.text
                        ),
                    );
                }
            }
        } else if first.is("DROP") {
            let what =
                ["TABLE", "VIEW", "MATERIALIZED", "SCHEMA", "TYPE", "DOMAIN", "FUNCTION", "PROCEDURE", "SEQUENCE"]
                    .into_iter()
                    .find(|w| is(sig, 1, w));
            if is(sig, 1, "INDEX") && !is(sig, 2, "CONCURRENTLY") {
                warn(
                    first.line,
                    Risk::Locking,
                    "DROP INDEX without CONCURRENTLY locks its table against reads and writes (and waits behind every running query on it); use DROP INDEX CONCURRENTLY in a migration of its own that starts with `-- envdb: no-transaction`".into(),
                );
            } else if let Some(what) = what {
                let names = skip(sig, if what == "MATERIALIZED" { 3 } else { 2 }, &["IF", "EXISTS"]);
                let new_tables = what == "TABLE" && name_at(sig, names).is_some_and(|n| created.contains(&n.folded()));
                if !new_tables {
                    let what = if what == "MATERIALIZED" { "MATERIALIZED VIEW".to_owned() } else { what.to_owned() };
                    warn(first.line, Risk::Destructive, format!("DROP {what} breaks code that reads the old schema"));
                }
            }
        } else if first.is("ALTER") && is(sig, 1, "TABLE") {
            let Some(table) = name_at(sig, skip(sig, skip(sig, 2, &["IF", "EXISTS"]), &["ONLY"])) else { return };
            let key = table.folded();
            if created.contains(&key) {
                return;
            }
            let star = sig.get(table.next).is_some_and(|t| punct(t, "*"));
            for action in top_level_parts(&sig[table.next + usize::from(star)..]) {
                self.action(&table.text, &key, action, validated, &mut warn);
            }
        } else if first.is("ALTER")
            && let Some(rename) = top_level(sig).find(|(_, t)| t.is("RENAME"))
            && !is(sig, 1, "INDEX")
        {
            let what =
                if is(sig, 1, "MATERIALIZED") { "MATERIALIZED VIEW".to_owned() } else { sig[1].text.to_uppercase() };
            warn(rename.1.line, Risk::Destructive, format!("RENAME of a {what} breaks code that reads the old schema"));
        }
    }

    /// One action of `ALTER TABLE table …`.
    fn action(
        &mut self,
        table: &str,
        key: &str,
        a: &[Token<'_>],
        validated: &mut Vec<(String, String)>,
        warn: &mut impl FnMut(usize, Risk, String),
    ) {
        let Some(first) = a.first() else { return };
        let line = first.line;
        if first.is("ADD") {
            let check = top_level(a).find(|(_, t)| t.is("CHECK")).map(|(i, _)| i);
            let constraint = is(a, 1, "CONSTRAINT").then(|| name_at(a, 2)).flatten();
            if let Some(column) = check.and_then(|i| not_null_check(a, i)) {
                let not_valid = top_level(a).any(|(i, t)| t.is("NOT") && is(a, i + 1, "VALID"));
                match (not_valid, constraint) {
                    (false, _) => validated.push((key.to_owned(), column)),
                    (true, Some(c)) => {
                        self.not_valid.insert((key.to_owned(), c.folded()), column);
                    }
                    (true, None) => {}
                }
                return;
            }
            if constraint.is_some() || ["CHECK", "PRIMARY", "UNIQUE", "FOREIGN", "EXCLUDE"].iter().any(|w| is(a, 1, w))
            {
                return;
            }
            let Some(column) = name_at(a, skip(a, 1, &["COLUMN", "IF", "NOT", "EXISTS"])) else { return };
            let top: Vec<_> = top_level(a).map(|(i, _)| i).collect();
            let has = |kw: &str| top.iter().any(|&i| a[i].is(kw));
            let not_null = top.iter().any(|&i| a[i].is("NOT") && is(a, i + 1, "NULL")) || has("PRIMARY");
            // serial types and identity or generated columns fill the column themselves.
            let serial = a.get(column.next).is_some_and(|t| {
                let ty = t.text.to_ascii_lowercase();
                ty.ends_with("serial") || ty.starts_with("serial")
            });
            let filled = has("DEFAULT") || has("GENERATED") || serial;
            if not_null && !filled {
                warn(
                    line,
                    Risk::FailsOnRows,
                    format!(
                        "ADD COLUMN {} … NOT NULL without a DEFAULT fails as soon as {table} has a row; give it a DEFAULT (a constant one rewrites nothing since PostgreSQL 11), or add it nullable, backfill it, and set NOT NULL in a later migration",
                        column.text
                    ),
                );
            }
        } else if first.is("ALTER") {
            let Some(column) = name_at(a, skip(a, 1, &["COLUMN"])) else { return };
            let n = column.next;
            if is(a, n, "TYPE") || (is(a, n, "SET") && is(a, n + 1, "DATA") && is(a, n + 2, "TYPE")) {
                warn(
                    a[n].line,
                    Risk::Locking,
                    format!(
                        "ALTER COLUMN {} TYPE rewrites {table} and its indexes under a lock that blocks reads and writes (unless the new type is binary-compatible, like a longer varchar); add a new column, backfill it in batches, switch the code to it, then drop the old one",
                        column.text
                    ),
                );
            } else if is(a, n, "SET")
                && is(a, n + 1, "NOT")
                && is(a, n + 2, "NULL")
                && !self.validated.contains(&(key.to_owned(), column.folded()))
            {
                let c = &column.text;
                warn(
                    a[n].line,
                    Risk::Locking,
                    format!(
                        "SET NOT NULL on {table}.{c} scans the whole table under a lock that blocks reads and writes; first add `CHECK ({c} IS NOT NULL) NOT VALID` and VALIDATE CONSTRAINT it in an earlier migration (PostgreSQL 12+ then skips the scan)"
                    ),
                );
            }
        } else if first.is("VALIDATE") && is(a, 1, "CONSTRAINT") {
            if let Some(c) = name_at(a, 2)
                && let Some(column) = self.not_valid.remove(&(key.to_owned(), c.folded()))
            {
                validated.push((key.to_owned(), column));
            }
        } else if first.is("DROP") && !is(a, 1, "CONSTRAINT") {
            warn(line, Risk::Destructive, "DROP COLUMN breaks code that reads the old schema".into());
        } else if first.is("RENAME") && !is(a, 1, "CONSTRAINT") {
            let what = if is(a, 1, "TO") { "RENAME TABLE" } else { "RENAME COLUMN" };
            warn(line, Risk::Destructive, format!("{what} breaks code that reads the old schema"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql_lex::Dialect;
    use crate::sql_rules::read_as;

    /// The warnings of each file, linted in order, as (line, risk, first words of the message).
    fn lint(files: &[&str]) -> Vec<Vec<(usize, Risk, String)>> {
        let mut lint = Lint::default();
        files
            .iter()
            .map(|sql| {
                let reading = read_as(sql, Dialect::Postgres);
                lint.file(&reading)
                    .into_iter()
                    .map(|w| (w.line, w.risk, w.message.split(" without").next().unwrap_or_default().to_owned()))
                    .collect()
            })
            .collect()
    }

    fn one(sql: &str) -> Vec<(usize, Risk, String)> {
        lint(&[sql]).remove(0)
    }

    #[test]
    fn create_index_needs_concurrently() {
        let w = one(
            "SELECT 1;\nCREATE INDEX i ON public.t (a);\nCREATE UNIQUE INDEX IF NOT EXISTS j ON ONLY t USING btree (lower(b));\n",
        );
        assert_eq!(w, [(2, Risk::Locking, "CREATE INDEX".into()), (3, Risk::Locking, "CREATE INDEX".into())]);
        let message = &Lint::default().file(&read_as("CREATE INDEX i ON t (a);", Dialect::Postgres))[0].message;
        assert!(message.contains("CREATE INDEX CONCURRENTLY") && message.contains("no-transaction"), "{message}");
        assert_eq!(one("-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"), []);
        // A table this file creates is empty and unseen: no lock to fear.
        assert_eq!(
            one(
                "CREATE TABLE \"T\" (a int);\nCREATE INDEX i ON \"T\" (a);\nCREATE TABLE u (a int);\nCREATE INDEX k ON U (a);"
            ),
            []
        );
        // Quoted names keep their case: "U" is not u.
        assert_eq!(one("CREATE TABLE u (a int);\nCREATE INDEX k ON \"U\" (a);").len(), 1);
        // Words in strings, dollar quotes and comments are not statements.
        assert_eq!(one("SELECT 'CREATE INDEX i ON t (a)', $$DROP TABLE t$$; -- ALTER TABLE t DROP c\n"), []);
    }

    #[test]
    fn add_column_not_null_needs_a_default() {
        let w = one(
            "ALTER TABLE t ADD COLUMN a int NOT NULL,\n  ADD b text NOT NULL DEFAULT '',\n  ADD COLUMN IF NOT EXISTS c bigint PRIMARY KEY,\n  ADD d int CHECK (d IS NOT NULL),\n  ADD e bigserial NOT NULL,\n  ADD f int GENERATED ALWAYS AS IDENTITY NOT NULL,\n  ADD g int NULL REFERENCES u ON DELETE SET NULL;",
        );
        assert_eq!(w.iter().map(|w| (w.0, w.1)).collect::<Vec<_>>(), [(1, Risk::FailsOnRows), (3, Risk::FailsOnRows)]);
        assert!(w[0].2.starts_with("ADD COLUMN a … NOT NULL"), "{w:?}");
        assert_eq!(
            one("ALTER TABLE t ADD CONSTRAINT c UNIQUE (a), ADD PRIMARY KEY (b), ADD CHECK (x IS NOT NULL) NOT VALID;"),
            []
        );
    }

    #[test]
    fn alter_column_type() {
        let w = one(
            "ALTER TABLE t\n  ALTER COLUMN a TYPE bigint,\n  ALTER b SET DATA TYPE text USING b::text,\n  ALTER c SET DEFAULT 1,\n  ALTER c DROP NOT NULL;",
        );
        assert_eq!(w.iter().map(|w| (w.0, w.1)).collect::<Vec<_>>(), [(2, Risk::Locking), (3, Risk::Locking)]);
        assert!(w[0].2.starts_with("ALTER COLUMN a TYPE rewrites t"), "{w:?}");
    }

    #[test]
    fn set_not_null_needs_a_validated_check_from_an_earlier_migration() {
        let set = "ALTER TABLE t ALTER COLUMN a SET NOT NULL;";
        assert_eq!(
            one(set),
            [(
                1,
                Risk::Locking,
                "SET NOT NULL on t.a scans the whole table under a lock that blocks reads and writes; first add `CHECK (a IS NOT NULL) NOT VALID` and VALIDATE CONSTRAINT it in an earlier migration (PostgreSQL 12+ then skips the scan)"
                    .to_owned()
            )]
        );
        let add = "ALTER TABLE public.t ADD CONSTRAINT t_a_nn CHECK ((a) IS NOT NULL) NOT VALID;";
        let validate = "ALTER TABLE t VALIDATE CONSTRAINT T_A_NN;";
        // Added NOT VALID, validated later, then SET NOT NULL: no warning.
        assert_eq!(lint(&[add, validate, set]), [vec![], vec![], vec![]]);
        // Never validated: still a full scan.
        assert_eq!(lint(&[add, set])[1].len(), 1);
        // Validated in the same transaction as SET NOT NULL: the locks are held together.
        assert_eq!(lint(&[add, &format!("{validate}\n{set}")])[1].len(), 1);
        // In a no-transaction file each statement commits, so the earlier VALIDATE counts.
        assert_eq!(lint(&[add, &format!("-- envdb: no-transaction\n{validate}\n{set}")])[1], []);
        // A check added validated in an earlier migration counts; on another column it does not.
        assert_eq!(lint(&["ALTER TABLE t ADD CHECK (a IS NOT NULL);", set])[1], []);
        assert_eq!(lint(&["ALTER TABLE t ADD CHECK (b IS NOT NULL);", set])[1].len(), 1);
        // A check that is not exactly `column IS NOT NULL` does not prove it.
        assert_eq!(lint(&["ALTER TABLE t ADD CHECK (a IS NOT NULL OR b > 0);", set])[1].len(), 1);
    }

    #[test]
    fn renames_and_drops() {
        let sql = "DROP TABLE IF EXISTS old;\nALTER TABLE t DROP COLUMN c, DROP CONSTRAINT k;\nALTER TABLE t RENAME TO u;\nALTER TABLE u RENAME COLUMN a TO b;\nALTER TABLE u RENAME CONSTRAINT k TO l;\nDROP INDEX i;\nDROP INDEX CONCURRENTLY j;\nALTER VIEW v RENAME TO w;\nDROP MATERIALIZED VIEW m;\nALTER INDEX i RENAME TO j;\nDROP TYPE mood;";
        assert_eq!(
            one(sql),
            [
                (1, Risk::Destructive, "DROP TABLE breaks code that reads the old schema".into()),
                (2, Risk::Destructive, "DROP COLUMN breaks code that reads the old schema".into()),
                (3, Risk::Destructive, "RENAME TABLE breaks code that reads the old schema".into()),
                (4, Risk::Destructive, "RENAME COLUMN breaks code that reads the old schema".into()),
                (6, Risk::Locking, "DROP INDEX".into()),
                (8, Risk::Destructive, "RENAME of a VIEW breaks code that reads the old schema".into()),
                (9, Risk::Destructive, "DROP MATERIALIZED VIEW breaks code that reads the old schema".into()),
                (11, Risk::Destructive, "DROP TYPE breaks code that reads the old schema".into()),
            ]
        );
        // A table this file created can be dropped or renamed freely.
        assert_eq!(
            one("CREATE TEMP TABLE scratch (a int);\nALTER TABLE scratch RENAME a TO b;\nDROP TABLE scratch;"),
            []
        );
    }

    proptest::proptest! {
        /// Any text: no panic, and every warning names a line of the file.
        #[test]
        fn never_panics(parts in proptest::collection::vec(proptest::prop_oneof![
            ".{0,8}",
            "(ALTER|TABLE|ADD|COLUMN|CHECK|NOT|NULL|VALID|VALIDATE|CONSTRAINT|SET|TYPE|DROP|RENAME|CREATE|INDEX|ON|ONLY|IF|EXISTS|DEFAULT) ",
            "[(),;.*\"' \n]",
        ], 0..40)) {
            let sql = parts.concat();
            let lines = sql.matches('\n').count() + 1;
            let mut lint = Lint::default();
            for w in lint.file(&read_as(&sql, Dialect::Postgres)) {
                proptest::prop_assert!((1..=lines).contains(&w.line), "{w:?} in {sql:?}");
            }
        }
    }
}
