//! SQL text for the simple-query protocol, which has no parameters: identifiers and literals
//! quoted here, and the text rows the server answers with.

use ::postgres::{Client, SimpleQueryMessage};

/// `"name"`, with inner quotes doubled: safe for any name, whatever `search_path` says.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal that reads the same whatever `standard_conforming_strings` is: `'…'`, or
/// `E'…'` with backslashes doubled when the text has one.
pub fn literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') { format!("E'{}'", quoted.replace('\\', "\\\\")) } else { format!("'{quoted}'") }
}

/// The rows of every statement of `sql`, each column as text (`None` for NULL).
pub fn rows(client: &mut Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, ::postgres::Error> {
    Ok(client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect()),
            _ => None,
        })
        .collect())
}

/// The first column of the first row, when there is one.
pub fn value(client: &mut Client, sql: &str) -> Result<Option<String>, ::postgres::Error> {
    Ok(rows(client, sql)?.into_iter().next().and_then(|r| r.into_iter().next().flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'b"), "E'a\\\\''b'");
    }
}
