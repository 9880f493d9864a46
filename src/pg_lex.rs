//! PostgreSQL's SQL text: tokens as PostgreSQL's scanner reads them (dollar quotes, `E''`
//! strings with backslash escapes, `U&''`, nested block comments) and the split of a
//! `no-transaction` file into the statements sent one at a time, where psql would cut. It yields
//! `sql_lex`'s `Token`, `Kind` and `Statement`, so every rule above the lexer (directives, words,
//! refusals, warnings, `line_at`) is shared by both dialects. Pure and one pass.

use crate::sql_lex::{Kind, Statement, Token};
use std::ops::Range;

/// A character that may start an unquoted identifier (and a dollar quote's tag).
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// A character that may continue an unquoted identifier (`$` too, after the first).
fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The tokens of `sql`, in order; together they cover every byte. Quoted text is
/// `Kind::Quoted(q)` with `q` one of `'` (a standard string), `"` (a quoted identifier), `E` (an
/// escape string `E'…'`), `U` (`U&'…'` or `U&"…"`) and `$` (a dollar-quoted string). A doubled
/// quote inside `'…'` or `"…"` gives two adjacent tokens, as in `sql_lex`; one inside `E'…'`
/// stays in its token, with the backslash escapes.
pub fn tokens(sql: &str) -> Tokens<'_> {
    Tokens { sql, pos: 0, line: 1 }
}

/// See [`tokens`].
pub struct Tokens<'a> {
    sql: &'a str,
    pos: usize,
    line: usize,
}

/// The end of the nested block comment that starts at `start`.
fn block_comment_end(b: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut i) = (1usize, start + 2);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => (depth, i) = (depth + 1, i + 2),
            (b'*', b'/') => {
                (depth, i) = (depth - 1, i + 2);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The end of the escape string whose text starts at `from` (after `E'`): a backslash escapes
/// the next byte, `''` is a quote.
fn escape_string_end(b: &[u8], mut i: usize) -> Option<usize> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end of the dollar-quote delimiter (`$$`, `$tag$`) at `start`; `None` for a lone `$` or a
/// parameter like `$1` (a tag cannot start with a digit).
fn dollar_tag_end(b: &[u8], start: usize) -> Option<usize> {
    let first = *b.get(start + 1)?;
    if first == b'$' {
        return Some(start + 2);
    }
    if !is_ident_start(first) {
        return None;
    }
    let end = start + 1 + b[start + 1..].iter().take_while(|&&c| is_ident_cont(c) && c != b'$').count();
    (b.get(end) == Some(&b'$')).then_some(end + 1)
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.sql.as_bytes();
        let start = self.pos;
        let c = *b.get(start)?;
        let at = |i: usize| b.get(i).copied();
        // The end of quoted text closed by `close`, searched from `from`.
        let closed = |q: u8, from: usize, close: &str| match self.sql[from..].find(close) {
            Some(p) => (Kind::Quoted(q), from + p + close.len()),
            None => (Kind::Unterminated, b.len()),
        };
        let (kind, end) = match c {
            b';' => (Kind::Semi, start + 1),
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => {
                let n = b[start..].iter().take_while(|&&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)).count();
                (Kind::Space, start + n)
            }
            b'-' if at(start + 1) == Some(b'-') => {
                (Kind::LineComment, self.sql[start..].find('\n').map_or(b.len(), |p| start + p))
            }
            b'/' if at(start + 1) == Some(b'*') => match block_comment_end(b, start) {
                Some(end) => (Kind::BlockComment, end),
                None => (Kind::Unterminated, b.len()),
            },
            b'\'' => closed(b'\'', start + 1, "'"),
            b'"' => closed(b'"', start + 1, "\""),
            b'e' | b'E' if at(start + 1) == Some(b'\'') => match escape_string_end(b, start + 2) {
                Some(end) => (Kind::Quoted(b'E'), end),
                None => (Kind::Unterminated, b.len()),
            },
            b'u' | b'U' if at(start + 1) == Some(b'&') && matches!(at(start + 2), Some(b'\'' | b'"')) => {
                let q = &self.sql[start + 2..start + 3];
                closed(b'U', start + 3, q)
            }
            b'$' => match dollar_tag_end(b, start) {
                Some(tag_end) => closed(b'$', tag_end, &self.sql[start..tag_end]),
                None => (Kind::Other, start + 1),
            },
            0 => (Kind::Nul, start + 1),
            c if c.is_ascii_digit() => {
                // A number; a `$` after it is not part of it.
                let n = b[start..].iter().take_while(|&&c| is_ident_cont(c) && c != b'$').count();
                (Kind::Word, start + n)
            }
            c if is_ident_start(c) => {
                (Kind::Word, start + b[start..].iter().take_while(|&&c| is_ident_cont(c)).count())
            }
            _ => (Kind::Other, start + 1),
        };
        let text = &self.sql[start..end];
        let token = Token { kind, text, offset: start, line: self.line };
        self.pos = end;
        if !matches!(kind, Kind::Word | Kind::Semi | Kind::Other | Kind::Nul) {
            self.line += text.bytes().filter(|&c| c == b'\n').count();
        }
        Some(token)
    }
}

/// Splits `sql` into statements where psql would: at each semicolon outside quotes, comments
/// and parentheses, and outside the `BEGIN … END` body of a `CREATE [OR REPLACE] FUNCTION` or
/// `PROCEDURE` (SQL-standard bodies; `CASE … END` inside one is counted too). Text after the last
/// semicolon is a final statement when it holds anything but spaces and comments. One pass.
pub fn split(sql: &str) -> Vec<Statement<'_>> {
    split_tokens(sql, tokens(sql)).into_iter().map(|(s, _)| s).collect()
}

/// Recognises `CREATE [OR REPLACE] {FUNCTION | PROCEDURE}` from a statement's first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    Start,
    Create,
    CreateOr,
    CreateOrReplace,
    Routine,
    Other,
}

impl Head {
    fn step(self, t: &Token<'_>) -> Head {
        let routine = t.is("FUNCTION") || t.is("PROCEDURE");
        match self {
            Head::Start if t.is("CREATE") => Head::Create,
            Head::Create if t.is("OR") => Head::CreateOr,
            Head::CreateOr if t.is("REPLACE") => Head::CreateOrReplace,
            Head::Create | Head::CreateOrReplace if routine => Head::Routine,
            Head::Routine => Head::Routine,
            _ => Head::Other,
        }
    }
}

/// [`split`] over `sql`'s tokens, with the range of token indices each statement covers.
pub fn split_tokens<'a>(
    sql: &'a str,
    tokens: impl IntoIterator<Item = Token<'a>>,
) -> Vec<(Statement<'a>, Range<usize>)> {
    let mut out = Vec::new();
    let (mut start, mut start_line, mut first_token, mut count) = (0, 1, 0, 0);
    // The line of the statement's first token that is not space or a comment.
    let mut first = None;
    let (mut parens, mut body, mut head) = (0usize, 0usize, Head::Start);
    for (i, t) in tokens.into_iter().enumerate() {
        count = i + 1;
        if matches!(t.kind, Kind::Space | Kind::LineComment | Kind::BlockComment) {
            continue;
        }
        first = first.or(Some(t.line));
        match t.kind {
            Kind::Other if t.text == "(" => parens += 1,
            Kind::Other if t.text == ")" => parens = parens.saturating_sub(1),
            Kind::Word => {
                head = head.step(&t);
                if head == Head::Routine && parens == 0 {
                    if t.is("BEGIN") || (t.is("CASE") && body > 0) {
                        body += 1;
                    } else if t.is("END") {
                        body = body.saturating_sub(1);
                    }
                }
            }
            Kind::Semi if parens == 0 && body == 0 => {
                let end = t.offset + 1;
                let statement = Statement { sql: &sql[start..end], line: first.unwrap_or(start_line), start_line };
                out.push((statement, first_token..i + 1));
                (start, start_line, first_token, first, head) = (end, t.line, i + 1, None, Head::Start);
            }
            _ => {}
        }
    }
    if first.is_some() {
        let statement = Statement { sql: &sql[start..], line: first.unwrap_or(start_line), start_line };
        out.push((statement, first_token..count));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(Kind, &str)> {
        tokens(sql).map(|t| (t.kind, t.text)).collect()
    }

    fn pieces(sql: &str) -> Vec<(&str, usize)> {
        split(sql).into_iter().map(|s| (s.sql.trim(), s.line)).collect()
    }

    #[test]
    fn dollar_quotes_and_parameters() {
        assert_eq!(
            kinds("$$a;$b$$ $x_1$ $$ $x_1$$1"),
            [
                (Kind::Quoted(b'$'), "$$a;$b$$"),
                (Kind::Space, " "),
                (Kind::Quoted(b'$'), "$x_1$ $$ $x_1$"),
                (Kind::Other, "$"),
                (Kind::Word, "1"),
            ]
        );
        // `$` continues an identifier, so no quote starts inside `a$b$`; a digit cannot start a tag.
        assert_eq!(
            kinds("a$b$ $1$"),
            [(Kind::Word, "a$b$"), (Kind::Space, " "), (Kind::Other, "$"), (Kind::Word, "1"), (Kind::Other, "$")]
        );
        // A tag that only starts like the closing one does not close it.
        assert_eq!(kinds("$a$ $ab$ $a$")[0], (Kind::Quoted(b'$'), "$a$ $ab$ $a$"));
        assert_eq!(kinds("$é$x;$é$")[0], (Kind::Quoted(b'$'), "$é$x;$é$"));
        assert_eq!(kinds("$t$ never closed $$")[0], (Kind::Unterminated, "$t$ never closed $$"));
    }

    #[test]
    fn strings_identifiers_and_comments() {
        assert_eq!(
            kinds(r"E'\'' e'a\\' E'it''s;'"),
            [
                (Kind::Quoted(b'E'), r"E'\''"),
                (Kind::Space, " "),
                (Kind::Quoted(b'E'), r"e'a\\'"),
                (Kind::Space, " "),
                (Kind::Quoted(b'E'), "E'it''s;'"),
            ]
        );
        // A standard string: the backslash is a character, `''` two tokens as in `sql_lex`.
        assert_eq!(
            kinds(r"'a\' 'b''c'"),
            [
                (Kind::Quoted(b'\''), r"'a\'"),
                (Kind::Space, " "),
                (Kind::Quoted(b'\''), "'b'"),
                (Kind::Quoted(b'\''), "'c'"),
            ]
        );
        assert_eq!(kinds("U&'d\\0061t;a' u&\"x;\"")[0], (Kind::Quoted(b'U'), "U&'d\\0061t;a'"));
        assert_eq!(kinds("U&'d' u&\"x;\"")[2], (Kind::Quoted(b'U'), "u&\"x;\""));
        assert_eq!(kinds("\"a;\"\"b\"")[..2], [(Kind::Quoted(b'"'), "\"a;\""), (Kind::Quoted(b'"'), "\"b\"")]);
        assert_eq!(kinds("/* a /* b; */ c; */x")[0], (Kind::BlockComment, "/* a /* b; */ c; */"));
        assert_eq!(kinds("/* a /* b */")[0], (Kind::Unterminated, "/* a /* b */"));
        assert_eq!(kinds("/*/ x */")[0], (Kind::BlockComment, "/*/ x */"));
        assert_eq!(kinds("-- a; b\nc")[..2], [(Kind::LineComment, "-- a; b"), (Kind::Space, "\n")]);
        // Not an escape string: `E` inside a word, or an `E` word before a space.
        assert_eq!(kinds("typE'x'")[0], (Kind::Word, "typE"));
        assert_eq!(kinds("x'1F' b'01'")[0], (Kind::Word, "x"));
    }

    #[test]
    fn lines_count_the_breaks_inside_tokens() {
        let sql = "SELECT $$\n;\n$$, E'\\\n', /* \n /*\n */ */ x;";
        let toks: Vec<_> = tokens(sql).collect();
        assert_eq!(toks.iter().map(|t| t.text).collect::<String>(), sql);
        assert_eq!(toks.iter().find(|t| t.text == "x").unwrap().line, 6);
    }

    #[test]
    fn a_function_body_is_one_statement() {
        let sql = "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  UPDATE t SET x = 1;\n  RETURN NEW;\nEND;\n$$;\nCREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\n";
        assert_eq!(pieces(sql).iter().map(|p| p.1).collect::<Vec<_>>(), [1, 7], "{:#?}", pieces(sql));
        let tagged = "DO $body$\nBEGIN\n  PERFORM $$;$$;\n  RAISE NOTICE 'x;';\nEND\n$body$;\nSELECT 1;";
        assert_eq!(pieces(tagged)[1], ("SELECT 1;", 7));
        assert_eq!(pieces(tagged).len(), 2);
    }

    #[test]
    fn sql_standard_bodies_and_parentheses() {
        let sql = "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT 3;\nEND;\nCREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;\nSELECT (1;\n2);\nBEGIN;\nSELECT 'end';\nEND;";
        let p = pieces(sql);
        assert_eq!(p.iter().map(|p| p.1).collect::<Vec<_>>(), [1, 6, 7, 9, 10, 11], "{p:#?}");
        // BEGIN of a transaction (not in a routine) does not open a body.
        assert_eq!(p[3].0, "BEGIN;");
    }

    #[test]
    fn concurrently_between_other_statements() {
        let sql = "-- envdb: no-transaction\n-- build the index without blocking writes\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n/* then */ CREATE UNIQUE INDEX CONCURRENTLY j ON t (b) WHERE c <> ';';\nANALYZE t;\n-- done\n";
        let s = split(sql);
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(s[0].start_line, 1);
        assert!(s[1].sql.ends_with("';';"));
        // The trailing comment belongs to no statement.
        assert_eq!(s.iter().map(|s| s.sql).collect::<String>() + "\n-- done\n", sql);
    }

    #[test]
    fn the_tail_is_a_statement_unless_only_comments() {
        assert_eq!(pieces("SELECT 1; SELECT 2"), [("SELECT 1;", 1), ("SELECT 2", 1)]);
        assert_eq!(pieces("SELECT 1; -- x\n/* y */"), [("SELECT 1;", 1)]);
        // Anything else is kept for the server to judge, never silently dropped.
        assert_eq!(pieces("SELECT 1; 'x'"), [("SELECT 1;", 1), ("'x'", 1)]);
        assert_eq!(pieces("SELECT $$ never closed;"), [("SELECT $$ never closed;", 1)]);
    }

    #[test]
    fn server_positions_map_to_lines() {
        // PostgreSQL reports a 1-based position in characters, not bytes.
        let sql = "-- é\nCREATE TABLE t (a int);\n-- ü\nSELECT\n  nope FROM t;";
        let s = split(sql);
        let at = |stmt: &Statement<'_>, needle: &str| stmt.sql[..stmt.sql.find(needle).unwrap()].chars().count() + 1;
        assert_eq!(s[1].line_at_char(at(&s[1], "nope")), 5);
        assert_eq!(s[0].line_at_char(at(&s[0], "a int")), 2);
        // Out of range: the statement's last line, never a panic; 0 is its first line.
        assert_eq!(s[1].line_at_char(10_000), 5);
        assert_eq!(s[1].line_at_char(0), 4);
    }

    #[test]
    fn linear_on_hostile_text() {
        // Each would take minutes if any scan restarted from every position.
        for unit in ["/*", "$a", "$a$$b$", "(", "E'\\", "u&", "a$", "1$", "BEGIN CASE ", "'';"] {
            let sql = unit.repeat(200_000 / unit.len());
            let started = std::time::Instant::now();
            let n = split(&sql).len() + tokens(&sql).count();
            assert!(n > 0 && started.elapsed().as_secs() < 5, "{unit:?} took {:?}", started.elapsed());
        }
    }

    proptest::proptest! {
        /// Any text: no panic; tokens cover every byte; the statements, rejoined, are the input
        /// up to a tail of spaces and comments; and each statement split again is itself.
        #[test]
        fn splitting_never_panics_and_rejoins(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    ".{0,12}",
                    proptest::strategy::Just("$$".to_owned()),
                    proptest::strategy::Just("$t$".to_owned()),
                    proptest::strategy::Just("E'\\'".to_owned()),
                    "[-/*;'\"()$\\\\EeU&\n ]{1,6}",
                    "(create|function|begin|case|end|atomic|or|replace)",
                ],
                0..24,
            )
        ) {
            let sql = parts.concat();
            let toks: Vec<_> = tokens(&sql).collect();
            proptest::prop_assert_eq!(toks.iter().map(|t| t.text).collect::<String>(), sql.clone());
            let statements = split(&sql);
            let joined: String = statements.iter().map(|s| s.sql).collect();
            proptest::prop_assert!(sql.starts_with(&joined));
            let tail = &sql[joined.len()..];
            proptest::prop_assert!(
                tokens(tail).all(|t| matches!(t.kind, Kind::Space | Kind::LineComment | Kind::BlockComment)),
                "tail {:?} of {:?}", tail, sql
            );
            let lines = sql.matches('\n').count() + 1;
            for s in &statements {
                proptest::prop_assert!(s.start_line <= s.line && s.line <= lines);
                let again = split(s.sql);
                proptest::prop_assert_eq!(again.len(), 1, "{:?} of {:?}", s.sql, sql);
                proptest::prop_assert_eq!(again[0].sql, s.sql);
            }
        }
    }
}
