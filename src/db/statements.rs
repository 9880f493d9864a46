//! Splitting a migration into statements, by SQLite itself: `sqlite3_complete` decides where a
//! statement ends (trigger bodies, semicolons in strings and comments), never a hand-written
//! grammar. Splitting lets the runner name the line of a failing statement and refuse files that
//! control transactions themselves before anything runs.

use rusqlite::ffi;
use std::ffi::CStr;

/// One statement of a file and the line it starts on (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    pub line: usize,
}

fn complete(buf: &mut Vec<u8>, sql: &str) -> bool {
    buf.clear();
    buf.extend_from_slice(sql.as_bytes());
    buf.push(0);
    match CStr::from_bytes_with_nul(buf) {
        // SAFETY: the pointer is to a NUL-terminated buffer that lives across the call.
        Ok(c) => unsafe { ffi::sqlite3_complete(c.as_ptr()) != 0 },
        Err(_) => false,
    }
}

/// Splits `sql` into statements. Text after the last complete statement is returned as a final
/// statement when it holds any SQL (a missing final semicolon), and dropped when it is only comments.
pub fn split(sql: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let (mut start, mut lines_before) = (0, 0);
    let mut push = |start: usize, chunk: &'_ str, lines_before: &mut usize| {
        // The statement's line is that of its first word, after any leading comments.
        let first = crate::sql_text::words(chunk).first().map_or(1, |w| w.line);
        out.push(Statement { sql: &sql[start..start + chunk.len()], line: *lines_before + first });
        *lines_before += chunk.matches('\n').count();
    };
    for (i, _) in sql.match_indices(';') {
        let chunk = &sql[start..=i];
        if complete(&mut buf, chunk) {
            push(start, chunk, &mut lines_before);
            start = i + 1;
        }
    }
    let rest = &sql[start..];
    if crate::sql_text::has_sql(rest) {
        push(start, rest, &mut lines_before);
    }
    out
}

/// The first keyword of a statement, uppercased.
pub fn keyword(sql: &str) -> Option<String> {
    crate::sql_text::words(sql).into_iter().next().map(|w| w.text.to_ascii_uppercase())
}

/// Whether a statement starts, ends or aborts a transaction.
pub fn is_transaction_control(sql: &str) -> bool {
    matches!(keyword(sql).as_deref(), Some("BEGIN" | "COMMIT" | "END" | "ROLLBACK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sql: &str) -> Vec<(String, usize)> {
        split(sql).into_iter().map(|s| (s.sql.trim().to_owned(), s.line)).collect()
    }

    #[test]
    fn splits_with_lines() {
        let sql = "-- header\nCREATE TABLE a (x);\n\nINSERT INTO a VALUES (';');\n/* c; */ SELECT 1";
        assert_eq!(
            parts(sql),
            [
                ("-- header\nCREATE TABLE a (x);".to_owned(), 2),
                ("INSERT INTO a VALUES (';');".to_owned(), 4),
                ("/* c; */ SELECT 1".to_owned(), 5)
            ]
        );
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 'a;b';\n  DELETE FROM b; -- ; here\nEND;\nSELECT 2;";
        let p = parts(sql);
        assert_eq!(p.len(), 2);
        assert!(p[0].0.ends_with("END;"));
        assert_eq!(p[1], ("SELECT 2;".to_owned(), 5));
    }

    #[test]
    fn trailing_comments_are_not_statements() {
        assert_eq!(parts("SELECT 1;\n-- done\n").len(), 1);
        assert!(parts("-- only a comment\n").is_empty());
    }

    #[test]
    fn finds_transaction_control() {
        let flagged: Vec<_> =
            split("BEGIN;\nCREATE TABLE a (x);\nCOMMIT;\nCREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;")
                .into_iter()
                .map(|s| is_transaction_control(s.sql))
                .collect();
        assert_eq!(flagged, [true, false, true, false]);
    }
}
