//! A light reading of SQL text over `sql_lex`'s tokens: directives, whether a file holds any SQL
//! at all, and the destructive statements that `check` warns about. Where statements end is
//! `sql_lex::split`'s job; what refuses a file before it runs is `sql_rules`.

use crate::sql_lex::{self, Kind, Token};

/// Options a migration file sets with `-- envdb: …` comment lines before its first statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// Run the file outside a transaction (`-- envdb: no-transaction`).
    pub no_transaction: bool,
    /// Silence the destructive-statement warning (`-- envdb: allow-destructive`).
    pub allow_destructive: bool,
}

/// A directive that is not honoured, and why; `sql_rules` turns each into a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectiveIssue {
    Unknown(String),
    InBlockComment,
    AfterFirstStatement,
}

impl Directives {
    /// Reads the directives: `-- envdb:` comments (any case) before the first statement, several
    /// per line separated by commas. Every other comment that starts with `envdb:` (a block
    /// comment, or one after the first statement) is returned as an issue with its line, as is an
    /// unknown directive: a directive is honoured or refused, never silently ignored.
    pub fn parse(sql: &str) -> (Directives, Vec<(usize, DirectiveIssue)>) {
        Directives::parse_tokens(sql_lex::tokens(sql))
    }

    /// [`Directives::parse`] over tokens already read.
    pub fn parse_tokens<'a>(tokens: impl IntoIterator<Item = Token<'a>>) -> (Directives, Vec<(usize, DirectiveIssue)>) {
        let mut d = Directives::default();
        let mut issues = Vec::new();
        let mut leading = true;
        for t in tokens {
            let body = match t.kind {
                Kind::Space => continue,
                Kind::LineComment => &t.text[2..],
                Kind::BlockComment => &t.text[2..t.text.len() - 2],
                _ => {
                    leading = false;
                    continue;
                }
            };
            let body = body.trim_start();
            let Some(list) = body.get(..6).filter(|p| p.eq_ignore_ascii_case("envdb:")).map(|_| &body[6..]) else {
                continue;
            };
            if t.kind == Kind::BlockComment {
                issues.push((t.line, DirectiveIssue::InBlockComment));
            } else if !leading {
                issues.push((t.line, DirectiveIssue::AfterFirstStatement));
            } else {
                for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                    match word.to_ascii_lowercase().as_str() {
                        "no-transaction" => d.no_transaction = true,
                        "allow-destructive" => d.allow_destructive = true,
                        _ => issues.push((t.line, DirectiveIssue::Unknown(word.to_owned()))),
                    }
                }
            }
        }
        (d, issues)
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
    words_of(sql_lex::tokens(sql))
}

/// [`words`] of tokens already read.
pub fn words_of<'a>(tokens: impl IntoIterator<Item = Token<'a>>) -> Vec<Word<'a>> {
    words_iter(tokens).collect()
}

/// [`words_of`], lazily.
pub fn words_iter<'a>(tokens: impl IntoIterator<Item = Token<'a>>) -> impl Iterator<Item = Word<'a>> {
    tokens.into_iter().flat_map(|t| {
        let semi = (t.kind == Kind::Semi).then_some(";");
        semi.into_iter().chain(sql_lex::bare_words(t)).map(move |text| Word { text, line: t.line })
    })
}

/// Whether the text holds any keyword at all, besides comments, whitespace and semicolons.
pub fn has_sql(sql: &str) -> bool {
    has_sql_words(&words(sql))
}

/// [`has_sql`] of words already read.
pub fn has_sql_words(words: &[Word<'_>]) -> bool {
    words.iter().any(|w| w.text != ";")
}

/// A statement that breaks readers of the old schema: what it is and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct Destructive {
    pub what: &'static str,
    pub line: usize,
}

/// Finds `DROP TABLE`, `ALTER TABLE … DROP [COLUMN]` and `… RENAME …` statements.
pub fn destructive(sql: &str) -> Vec<Destructive> {
    destructive_words(&words(sql))
}

/// [`destructive`] of words already read.
pub fn destructive_words(words: &[Word<'_>]) -> Vec<Destructive> {
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
    fn directives_are_honoured_or_refused() {
        let (d, bad) = Directives::parse("-- created 2026\n-- envdb: no-transaction, allow-destructive\nSELECT 1;\n");
        assert_eq!(d, Directives { no_transaction: true, allow_destructive: true });
        assert!(bad.is_empty());
        // After a leading block comment, and in capitals: honoured.
        let (d, bad) = Directives::parse("/* header */\n--ENVDB: No-Transaction\nSELECT 1;\n");
        assert!(d.no_transaction && bad.is_empty(), "{bad:?}");
        let (d, bad) = Directives::parse("SELECT 1;\n-- envdb: no-transaction\n");
        assert!(!d.no_transaction);
        assert_eq!(bad, [(2, DirectiveIssue::AfterFirstStatement)]);
        let (d, bad) = Directives::parse("/* envdb: no-transaction */\nSELECT 1; /* Envdb: x */");
        assert!(!d.no_transaction);
        assert_eq!(bad, [(1, DirectiveIssue::InBlockComment), (2, DirectiveIssue::InBlockComment)]);
        let (_, bad) = Directives::parse("-- envdb: no-transactoin\n-- not envdb: a directive\n");
        assert_eq!(bad, [(1, DirectiveIssue::Unknown("no-transactoin".to_owned()))]);
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
