//! A light reading of SQL text that never decides where statements end: directives in the
//! leading comment block, whether a file holds any SQL at all, and the destructive statements
//! that `check` warns about. Splitting into statements is SQLite's job (see `statements`).

/// Options a migration file sets in its leading comment block with `-- envdb: …` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// Run the file outside a transaction (`-- envdb: no-transaction`).
    pub no_transaction: bool,
    /// Silence the destructive-statement warning (`-- envdb: allow-destructive`).
    pub allow_destructive: bool,
}

impl Directives {
    /// Reads the `-- envdb:` lines that come before the first statement. Several directives may
    /// share a line, separated by commas. Unknown ones are returned as errors with their line.
    pub fn parse(sql: &str) -> (Directives, Vec<(usize, String)>) {
        let mut d = Directives::default();
        let mut unknown = Vec::new();
        for (i, line) in sql.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("--") else {
                break;
            };
            let Some(list) = comment.trim_start().strip_prefix("envdb:") else {
                continue;
            };
            for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                match word {
                    "no-transaction" => d.no_transaction = true,
                    "allow-destructive" => d.allow_destructive = true,
                    other => unknown.push((i + 1, other.to_owned())),
                }
            }
        }
        (d, unknown)
    }
}

/// A word of SQL outside strings, quoted identifiers and comments, with its line.
#[derive(Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub text: &'a str,
    pub line: usize,
}

impl Word<'_> {
    /// Case-insensitive keyword comparison (`kw` in uppercase).
    pub fn is(&self, kw: &str) -> bool {
        self.text.eq_ignore_ascii_case(kw)
    }
}

/// The bare words of `sql` (keywords and unquoted identifiers), skipping comments, string
/// literals and quoted identifiers. Punctuation is returned as one-character words so that
/// statement boundaries (`;`) stay visible to callers that only look at keyword sequences.
pub fn words(sql: &str) -> Vec<Word<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        *line += b[*i..end].iter().filter(|&&c| c == b'\n').count();
        *i = end;
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let end = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p);
                skip_to(&mut i, &mut line, end);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                skip_to(&mut i, &mut line, end);
            }
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == close {
                        // A doubled quote inside a literal is an escaped quote.
                        if close != b']' && b.get(j + 1) == Some(&close) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                skip_to(&mut i, &mut line, (j + 1).min(b.len()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = b[i..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$'))
                    .map_or(b.len(), |p| i + p);
                out.push(Word { text: &sql[i..end], line });
                i = end;
            }
            b';' => {
                out.push(Word { text: ";", line });
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether the text holds any keyword at all, besides comments, whitespace and semicolons.
pub fn has_sql(sql: &str) -> bool {
    words(sql).iter().any(|w| w.text != ";")
}

/// A statement that breaks readers of the old schema: what it is and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct Destructive {
    pub what: &'static str,
    pub line: usize,
}

/// Finds `DROP TABLE`, `ALTER TABLE … DROP [COLUMN]` and `… RENAME …` statements.
pub fn destructive(sql: &str) -> Vec<Destructive> {
    let words = words(sql);
    let mut found = Vec::new();
    let mut statement_start = 0;
    for (i, w) in words.iter().enumerate() {
        if w.text == ";" {
            statement_start = i + 1;
            continue;
        }
        let first = &words[statement_start];
        let next_is = |kw: &str| words.get(i + 1).is_some_and(|n| n.is(kw));
        let what = if w.is("DROP") && i == statement_start && next_is("TABLE") {
            Some("DROP TABLE")
        } else if w.is("DROP") && first.is("ALTER") {
            Some("DROP COLUMN")
        } else if w.is("RENAME") && first.is("ALTER") {
            Some(if next_is("TO") { "RENAME TABLE" } else { "RENAME COLUMN" })
        } else {
            None
        };
        if let Some(what) = what {
            found.push(Destructive { what, line: w.line });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_in_leading_comments_only() {
        let (d, bad) = Directives::parse("-- created 2026\n-- envdb: no-transaction, allow-destructive\nSELECT 1;\n");
        assert_eq!(d, Directives { no_transaction: true, allow_destructive: true });
        assert!(bad.is_empty());
        let (d, _) = Directives::parse("SELECT 1;\n-- envdb: no-transaction\n");
        assert!(!d.no_transaction);
        let (_, bad) = Directives::parse("-- envdb: no-transactoin\n");
        assert_eq!(bad, [(1, "no-transactoin".to_owned())]);
    }

    #[test]
    fn words_skip_strings_and_comments() {
        let w: Vec<_> = words("select 'drop table x' -- drop table y\n/* drop\ntable */ \"drop\" from [t]; x")
            .into_iter()
            .map(|w| (w.text, w.line))
            .collect();
        assert_eq!(w, [("select", 1), ("from", 3), (";", 3), ("x", 3)]);
    }

    #[test]
    fn empty_means_only_comments() {
        assert!(!has_sql(""));
        assert!(!has_sql("-- nothing\n/* here */\n;\n"));
        assert!(has_sql("-- c\nCREATE TABLE t (a);"));
    }

    #[test]
    fn finds_destructive_statements() {
        let sql = "CREATE TABLE a (x);\nDROP TABLE old;\nALTER TABLE t DROP COLUMN c;\nALTER TABLE t RENAME TO u;\n\
                   ALTER TABLE u RENAME COLUMN a TO b;\nDROP INDEX i;\nINSERT INTO t VALUES ('DROP TABLE');\n";
        let found: Vec<_> = destructive(sql).into_iter().map(|d| (d.what, d.line)).collect();
        assert_eq!(found, [("DROP TABLE", 2), ("DROP COLUMN", 3), ("RENAME TABLE", 4), ("RENAME COLUMN", 5)]);
    }
}
