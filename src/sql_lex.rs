//! SQL text read the way SQLite's `sqlite3_complete` reads it: tokens (words, quoted text,
//! comments, semicolons) with their lines, and the statements they form. Pure Rust and one pass,
//! so the file side (`check`, a host's build script) splits a migration exactly where the runner
//! does without compiling SQLite; `db::statements` proves the split agrees with `sqlite3_complete`.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A run of spaces, tabs, line breaks, carriage returns and form feeds.
    Space,
    /// `-- …` up to, not including, the line break.
    LineComment,
    /// `/* … */`.
    BlockComment,
    /// `'…'`, `"…"`, `` `…` `` or `[…]`; the byte is the opening delimiter.
    Quoted(u8),
    /// A run of identifier characters: a keyword, a name or a number.
    Word,
    Semi,
    /// A NUL byte outside quotes and comments.
    Nul,
    /// A quote or block comment that never closes: the rest of the text.
    Unterminated,
    /// Any other single character: operators, parentheses, dots.
    Other,
}

/// One token, with its byte offset in the text and the (1-based) line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub offset: usize,
    pub line: usize,
}

impl Token<'_> {
    /// Whether it is a keyword (`kw` in any case).
    pub fn is(&self, kw: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// An identifier's name: a word as written, quoted text without its quotes (doubled quotes
    /// are two tokens; `sql_rules` joins them).
    pub fn name(&self) -> Option<&str> {
        match self.kind {
            Kind::Word => Some(self.text),
            Kind::Quoted(_) => Some(&self.text[1..self.text.len() - 1]),
            _ => None,
        }
    }
}

/// SQLite's identifier characters: ASCII letters, digits, `_`, `$`, and every byte of a
/// non-ASCII character.
fn is_id(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The tokens of `sql`, in order; together they cover every byte.
pub fn tokens(sql: &str) -> Tokens<'_> {
    Tokens { sql, pos: 0, line: 1 }
}

/// See [`tokens`].
pub struct Tokens<'a> {
    sql: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.sql.as_bytes();
        let start = self.pos;
        let c = *b.get(start)?;
        let after = |from: usize, pat: &str| self.sql[from..].find(pat).map(|p| from + p);
        let (kind, end) = match c {
            b';' => (Kind::Semi, start + 1),
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => {
                let n = b[start..].iter().take_while(|&&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)).count();
                (Kind::Space, start + n)
            }
            b'-' if b.get(start + 1) == Some(&b'-') => (Kind::LineComment, after(start, "\n").unwrap_or(b.len())),
            b'/' if b.get(start + 1) == Some(&b'*') => match after(start + 2, "*/") {
                Some(p) => (Kind::BlockComment, p + 2),
                None => (Kind::Unterminated, b.len()),
            },
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { "]" } else { &self.sql[start..start + 1] };
                match after(start + 1, close) {
                    Some(p) => (Kind::Quoted(c), p + 1),
                    None => (Kind::Unterminated, b.len()),
                }
            }
            0 => (Kind::Nul, start + 1),
            c if is_id(c) => (Kind::Word, start + b[start..].iter().take_while(|&&c| is_id(c)).count()),
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

/// The keywords-and-names of a word token as `sql_text::words` sees them: each run that starts
/// with an ASCII letter or `_` and goes on with letters, digits, `_` or `$`.
pub fn bare_words<'a>(token: Token<'a>) -> impl Iterator<Item = &'a str> {
    let text = if token.kind == Kind::Word { token.text } else { "" };
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if b[i].is_ascii_alphabetic() || b[i] == b'_' {
                let end =
                    i + b[i..].iter().take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$').count();
                let word = &text[i..end];
                i = end;
                return Some(word);
            }
            i += 1;
        }
        None
    })
}

/// One statement of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Its text, with the comments and spaces that lead it.
    pub sql: &'a str,
    /// The line of its first word (1-based): where it is reported.
    pub line: usize,
    /// The line its text starts on.
    pub start_line: usize,
}

impl Statement<'_> {
    /// The file's line of byte `offset` of this statement's text (never before its first word).
    pub fn line_at(&self, offset: usize) -> usize {
        let upto = &self.sql.as_bytes()[..offset.min(self.sql.len())];
        (self.start_line + upto.iter().filter(|&&c| c == b'\n').count()).max(self.line)
    }

    /// The file's line of a server's error position: a 1-based offset in characters (not bytes)
    /// into this statement's text, as PostgreSQL reports it. Past the end: the last line.
    pub fn line_at_char(&self, position: usize) -> usize {
        let offset = self.sql.char_indices().nth(position.saturating_sub(1)).map_or(self.sql.len(), |(i, _)| i);
        self.line_at(offset)
    }
}

/// Whose SQL a migrations directory holds: how its text is tokenized and split. The rules above
/// the lexer (`sql_rules`, `sql_text`, `check`) take tokens of either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    #[default]
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Every token of `sql`.
    pub fn tokens(self, sql: &str) -> Vec<Token<'_>> {
        let mut out = Vec::with_capacity(sql.len() / 4);
        match self {
            Dialect::Sqlite => out.extend(tokens(sql)),
            Dialect::Postgres => out.extend(crate::pg_lex::tokens(sql)),
        }
        out
    }

    /// The statements of `sql` (its tokens given), each with the range of token indices it covers.
    pub fn split_tokens<'a>(
        self,
        sql: &'a str,
        tokens: impl IntoIterator<Item = Token<'a>>,
    ) -> Vec<(Statement<'a>, std::ops::Range<usize>)> {
        match self {
            Dialect::Sqlite => split_tokens(sql, tokens),
            Dialect::Postgres => crate::pg_lex::split_tokens(sql, tokens),
        }
    }
}

/// The states of `sqlite3_complete`'s recogniser: a statement ends at a semicolon that leaves it
/// in `Start`; inside `CREATE TRIGGER … BEGIN … END` semicolons do not end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Invalid,
    Start,
    Normal,
    Explain,
    Create,
    Trigger,
    Semi,
    End,
}

/// The token classes the recogniser tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Semi,
    Space,
    Other,
    Explain,
    Create,
    Temp,
    Trigger,
    End,
}

fn class(t: &Token<'_>) -> Class {
    match t.kind {
        Kind::Semi => Class::Semi,
        Kind::Space | Kind::LineComment | Kind::BlockComment => Class::Space,
        Kind::Word => {
            let w = t.text;
            if w.eq_ignore_ascii_case("create") {
                Class::Create
            } else if w.eq_ignore_ascii_case("temp") || w.eq_ignore_ascii_case("temporary") {
                Class::Temp
            } else if w.eq_ignore_ascii_case("trigger") {
                Class::Trigger
            } else if w.eq_ignore_ascii_case("end") {
                Class::End
            } else if w.eq_ignore_ascii_case("explain") {
                Class::Explain
            } else {
                Class::Other
            }
        }
        _ => Class::Other,
    }
}

fn step(state: State, class: Class) -> State {
    use {Class as C, State as S};
    match (state, class) {
        (s, C::Space) => s,
        (S::Trigger | S::Semi, C::Semi) => S::Semi,
        (S::Semi, C::End) => S::End,
        (S::End, C::Semi) => S::Start,
        (S::Trigger | S::Semi | S::End, _) => S::Trigger,
        (_, C::Semi) => S::Start,
        (S::Invalid | S::Start, C::Explain) => S::Explain,
        (S::Invalid | S::Start | S::Explain, C::Create) => S::Create,
        (S::Explain, C::Other) => S::Explain,
        (S::Create, C::Temp) => S::Create,
        (S::Create, C::Trigger) => S::Trigger,
        _ => S::Normal,
    }
}

/// Splits `sql` into statements where `sqlite3_complete` would: at each semicolon that completes
/// one (trigger bodies, semicolons in strings and comments stay inside). Text after the last
/// complete statement is a final statement when it holds a word, and dropped when it is only
/// comments. Nothing is cut after a NUL byte (SQLite stops reading there). One pass: linear in
/// the length of the text.
pub fn split(sql: &str) -> Vec<Statement<'_>> {
    split_tokens(sql, tokens(sql)).into_iter().map(|(s, _)| s).collect()
}

/// [`split`] over `sql`'s tokens, with the range of token indices each statement covers.
pub fn split_tokens<'a>(
    sql: &'a str,
    tokens: impl IntoIterator<Item = Token<'a>>,
) -> Vec<(Statement<'a>, std::ops::Range<usize>)> {
    let nul = sql.find('\0').unwrap_or(sql.len());
    let mut out = Vec::new();
    let (mut start, mut start_line, mut state, mut first_token, mut count) = (0, 1, State::Invalid, 0, 0);
    // The line of the statement's first word or semicolon, and whether it has a word.
    let (mut first, mut has_word) = (None, false);
    for (i, t) in tokens.into_iter().enumerate() {
        count = i + 1;
        if t.kind == Kind::Semi {
            first = first.or(Some(t.line));
        } else if bare_words(t).next().is_some() {
            first = first.or(Some(t.line));
            has_word = true;
        }
        state = step(state, class(&t));
        if t.kind == Kind::Semi && state == State::Start && t.offset < nul {
            let end = t.offset + 1;
            let statement = Statement { sql: &sql[start..end], line: first.unwrap_or(start_line), start_line };
            out.push((statement, first_token..i + 1));
            (start, start_line, state, first, has_word, first_token) =
                (end, t.line, State::Invalid, None, false, i + 1);
        }
    }
    if has_word {
        let statement = Statement { sql: &sql[start..], line: first.unwrap_or(start_line), start_line };
        out.push((statement, first_token..count));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_every_byte_with_lines() {
        let sql = "SELECT 'a;\nb' -- c\n/* d\n*/ [x y] \"q\" `r` 1.5e3 é;\0x 'open";
        let toks: Vec<_> = tokens(sql).collect();
        assert_eq!(toks.iter().map(|t| t.text).collect::<String>(), sql);
        let find = |text: &str| toks.iter().find(|t| t.text == text).unwrap();
        assert_eq!((find("'a;\nb'").kind, find("'a;\nb'").line), (Kind::Quoted(b'\''), 1));
        assert_eq!((find("-- c").kind, find("/* d\n*/").line), (Kind::LineComment, 3));
        assert_eq!((find("[x y]").name(), find("é").kind, find("\0").kind), (Some("x y"), Kind::Word, Kind::Nul));
        assert_eq!(toks.last().unwrap().kind, Kind::Unterminated);
    }

    #[test]
    fn bare_words_are_those_of_the_old_lexer() {
        let t = tokens("1abc$d_e2é9f").next().unwrap();
        assert_eq!(bare_words(t).collect::<Vec<_>>(), ["abc$d_e2", "f"]);
    }

    #[test]
    fn statement_lines() {
        let s = split("-- a\n-- b\n\nCREATE TABLE t (x;\n");
        assert_eq!((s[0].line, s[0].start_line, s[0].line_at(s[0].sql.find(';').unwrap())), (4, 1, 4));
    }
}
