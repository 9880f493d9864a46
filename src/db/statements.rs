//! Splitting a migration into statements where SQLite's `sqlite3_complete` would (trigger
//! bodies, semicolons in strings and comments). The splitter itself is on the file side
//! (`sql_lex::split`, one pass, no SQLite), so that `check` refuses exactly what the runner
//! refuses; the tests here prove it agrees with SQLite's own `sqlite3_complete`.

pub use crate::sql_lex::{Statement, split};
pub use crate::sql_rules::{is_transaction_control, keyword};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::ffi;
    use std::ffi::CStr;

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

    /// The reference: asks `sqlite3_complete` at every semicolon about the text since the last
    /// cut (quadratic, which is why the runner no longer does this).
    fn split_by_sqlite(sql: &str) -> Vec<(&str, usize)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let (mut start, mut lines_before) = (0, 0);
        let mut push = |start: usize, chunk: &str, lines_before: &mut usize| {
            let first = crate::sql_text::words(chunk).first().map_or(1, |w| w.line);
            out.push((&sql[start..start + chunk.len()], *lines_before + first));
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

    fn ours(sql: &str) -> Vec<(&str, usize)> {
        split(sql).into_iter().map(|s| (s.sql, s.line)).collect()
    }

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

    #[test]
    fn agrees_with_sqlite_on_tricky_text() {
        for sql in [
            "",
            ";",
            ";;\n;",
            "EXPLAIN QUERY PLAN CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; SELECT 2;",
            "CREATE TEMP TRIGGER t BEFORE DELETE ON a BEGIN SELECT 1; SELECT 2; END ; END; x;",
            "CREATE TEMPORARY TABLE trigger (end); SELECT end FROM trigger;",
            "CREATE TRIGGER t INSTEAD OF INSERT ON v BEGIN SELECT CASE WHEN 1 THEN 2 END; END; SELECT 3;",
            "SELECT 'it''s;'; SELECT \"a;\"\"b\"; SELECT [x;]; SELECT `y;`;",
            "SELECT 1 -- ; end\n; SELECT /* ; */ 2;",
            "SELECT 'unterminated; SELECT 2;",
            "SELECT 1; /* unterminated ; comment",
            "SELECT 1;\0 SELECT 2; SELECT 3;",
            "SELECT 'a\0b'; SELECT 2;",
            "SELECT é; SELECT 1€; CREATE€ TRIGGER x; SELECT 2;",
            "\u{b}; \x01;",
        ] {
            assert_eq!(ours(sql), split_by_sqlite(sql), "{sql:?}");
        }
    }

    fn fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            ";",
            " ",
            "\n",
            "\t",
            "\r",
            "\u{c}",
            "\u{b}",
            "'",
            "\"",
            "`",
            "[",
            "]",
            "--",
            "-",
            "/*",
            "*/",
            "/",
            "*",
            "CREATE",
            "create",
            "TEMP",
            "temporary",
            "TRIGGER",
            "Trigger",
            "BEGIN",
            "END",
            "end",
            "EXPLAIN",
            "SELECT",
            "x",
            "1",
            "$",
            "_",
            "é",
            "\0",
            "(",
            ")",
            ".",
            "ON",
            "tempx",
            "xend",
        ])
    }

    fn keyword_heavy() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            ";", ";", "CREATE", "TEMP", "TRIGGER", "END", "EXPLAIN", "x", "'", "--\n", "/* */", "\0",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// On any text made of the pieces that matter to `sqlite3_complete`, the one-pass split
        /// cuts exactly where asking SQLite at every semicolon does, with the same lines.
        #[test]
        fn agrees_with_sqlite_complete(pieces in prop::collection::vec(fragment(), 0..40)) {
            let sql = pieces.join("");
            prop_assert_eq!(ours(&sql), split_by_sqlite(&sql));
        }

        #[test]
        fn agrees_with_sqlite_complete_with_words_apart(pieces in prop::collection::vec(fragment(), 0..30)) {
            let sql = pieces.join(" ");
            prop_assert_eq!(ours(&sql), split_by_sqlite(&sql));
        }

        /// Mostly the recogniser's keywords, so that trigger bodies, EXPLAIN and TEMP come up often.
        #[test]
        fn agrees_with_sqlite_complete_on_keywords(pieces in prop::collection::vec(keyword_heavy(), 0..30)) {
            let sql = pieces.join(" ");
            prop_assert_eq!(ours(&sql), split_by_sqlite(&sql));
        }
    }

    /// Inputs that made the old splitter re-copy the statement at every semicolon: a trigger with
    /// many statements, a string full of semicolons, and a quote that never closes. Quadratic
    /// work on these takes minutes; one pass takes milliseconds.
    #[test]
    fn long_files_split_in_linear_time() {
        let n = 200_000;
        let trigger = format!("CREATE TRIGGER t AFTER INSERT ON a BEGIN\n{}END;\nSELECT 1;\n", "SELECT 1;\n".repeat(n));
        let string = format!("INSERT INTO a VALUES ('{}');\nSELECT 2;\n", ";".repeat(10 * n));
        let open = format!("SELECT 'never closed;\n{}", "INSERT INTO a VALUES (1);\n".repeat(n));
        let start = std::time::Instant::now();
        let (t, s, o) = (split(&trigger), split(&string), split(&open));
        let took = start.elapsed();
        assert_eq!((t.len(), t[1].line), (2, n + 3));
        assert_eq!((s.len(), s[1].line), (2, 2));
        assert_eq!((o.len(), o[0].sql.len()), (1, open.len()));
        assert!(took < std::time::Duration::from_secs(5), "splitting took {took:?}");
    }
}
