//! The row counts a PostgreSQL backup records beside its archive (`<backup>.rows`): every table's
//! rows counted in the snapshot `pg_dump` dumped, bound to the archive by its SHA-256, so that a
//! restore proves its load against the source database without reading the archive's data.

use crate::db::backup::{BackupError, write_error};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows per table, by its quoted qualified name (as `pg_dump` writes it).
pub type Counts = BTreeMap<String, u64>;

const HEADER: &str = "# envdb row counts, counted in the snapshot pg_dump dumped; archive sha256 ";

/// The file beside `backup`: `<backup>.rows`.
pub fn path(backup: &Path) -> PathBuf {
    crate::db::companion(backup, ".rows")
}

/// The counting query for `tables` (quoted qualified names): each table's own rows (`ONLY`, as
/// `pg_dump` copies them), a few hundred tables a statement. Each row: the name, the count.
pub fn queries<'a>(tables: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let tables: Vec<&str> = tables.into_iter().collect();
    tables
        .chunks(200)
        .map(|chunk| {
            chunk
                .iter()
                .map(|t| format!("SELECT {}, count(*) FROM ONLY {t}", super::sql::literal(t)))
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        })
        .collect()
}

/// Runs [`queries`] on `client`.
pub fn count<'a>(
    client: &mut ::postgres::Client,
    tables: impl IntoIterator<Item = &'a str>,
) -> Result<Counts, ::postgres::Error> {
    let mut out = Counts::new();
    for sql in queries(tables) {
        for row in super::sql::rows(client, &sql)? {
            let name = row.first().cloned().flatten().unwrap_or_default();
            let n = row.get(1).cloned().flatten().and_then(|n| n.parse().ok()).unwrap_or(0);
            out.insert(name, n);
        }
    }
    Ok(out)
}

/// Writes `<dest>.rows` (0600, synced, never over a file) for the archive about to be put at
/// `dest` whose SHA-256 is `digest`.
pub fn write(dest: &Path, digest: &str, counts: &Counts) -> Result<(), BackupError> {
    let file = path(dest);
    let mut text = format!("{HEADER}{digest}\n");
    for (table, n) in counts {
        text += &format!("{n}\t{table}\n");
    }
    crate::fs_util::create_new(&file, text.as_bytes()).map_err(|e| write_error(&file, e))?;
    crate::db::backup::private(&file)
}

/// The counts recorded beside `backup` for the archive whose SHA-256 is `digest`; `None` when
/// there are none, they were recorded for another file, or the file is not one envdb wrote (the
/// restore then reads the counts from the archive itself).
pub fn read(backup: &Path, digest: &str) -> Option<Counts> {
    let text = std::fs::read_to_string(path(backup)).ok()?;
    let mut lines = text.lines();
    if lines.next()?.strip_prefix(HEADER)? != digest {
        return None;
    }
    lines
        .map(|line| {
            let (n, table) = line.split_once('\t')?;
            Some((table.to_owned(), n.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_read_back_only_for_the_archive_they_were_recorded_for() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("app.dev.20261206T000000Z.v3.dump");
        let counts = Counts::from([("public.a".to_owned(), 3), ("\"odd\"\"name\".\"t b\"".to_owned(), 0)]);
        write(&backup, "abc", &counts).unwrap();
        assert_eq!(read(&backup, "abc"), Some(counts.clone()));
        assert_eq!(read(&backup, "abd"), None, "another archive's counts");
        assert!(write(&backup, "abc", &counts).is_err(), "never over a file");
        std::fs::write(path(&backup), format!("{HEADER}abc\nthree\tpublic.a\n")).unwrap();
        assert_eq!(read(&backup, "abc"), None, "not a count");
        assert_eq!(read(&dir.path().join("other.dump"), "abc"), None);
    }

    #[test]
    fn each_table_counts_only_its_own_rows() {
        let sql = queries(["public.a", "\"S\".\"t\""]);
        assert_eq!(
            sql,
            [
                "SELECT 'public.a', count(*) FROM ONLY public.a UNION ALL SELECT '\"S\".\"t\"', count(*) FROM ONLY \"S\".\"t\""
            ]
        );
        assert_eq!(queries((0..450).map(|_| "public.a")).len(), 3);
    }
}
