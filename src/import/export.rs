//! `export`: envdb's migrations written back in sqlx's or dbmate's layout. A migration that came
//! from that tool (per `IMPORTED.md`) gets its old version and file name back, and its SQL the
//! bytes it had, so that the tool's recorded checksums still match; a newer one follows the last
//! version with the next number. `no-transaction` becomes the tool's own marker.

use super::map::ImportMap;
use super::write::NO_TRANSACTION;
use super::{ImportError, Tool};
use crate::embedded::Migration;
use crate::sql_text::Directives;

/// The SQL without the directive line `import` put first, and whether it runs outside a transaction.
fn unwrap(sql: &str) -> (&str, bool) {
    let no_transaction = Directives::parse(sql).0.no_transaction;
    (sql.strip_prefix(NO_TRANSACTION).unwrap_or(sql), no_transaction)
}

/// The files of `migrations` in `tool`'s layout, `(name, content)`; `map` is `IMPORTED.md` when
/// there is one.
pub fn files(
    tool: Tool,
    migrations: &[Migration<'_>],
    map: Option<&ImportMap>,
) -> Result<Vec<(String, String)>, ImportError> {
    let map = map.filter(|m| m.tool == tool);
    let mut files = Vec::new();
    let mut last: u128 = 0;
    for m in migrations {
        let slug = m.name.trim_end_matches(".sql").split_once('_').map_or(m.name, |(_, s)| s);
        let (version, old_file) = match map.and_then(|map| map.by_version(m.version)) {
            Some(e) => (e.old_version.parse::<u128>().unwrap_or(last + 1), Some(e.old_file.as_str())),
            None => (last + 1, None),
        };
        if version <= last {
            return Err(ImportError::unconvertible(
                m.name,
                format!("its {tool} version {version} would not come after {last}"),
                "renumber IMPORTED.md's old versions in order",
            ));
        }
        last = version;
        let (up, up_nt) = unwrap(m.up);
        let down = m.down.map(unwrap);
        match tool {
            Tool::Sqlx => {
                let marked = |sql: &str, nt: bool| {
                    if nt && !sql.starts_with("-- no-transaction") {
                        format!("-- no-transaction\n{sql}")
                    } else {
                        sql.to_owned()
                    }
                };
                let base = old_file
                    .map(|f| f.trim_end_matches(".sql").trim_end_matches(".up").to_owned())
                    .unwrap_or_else(|| format!("{version}_{slug}"));
                match down {
                    Some((down, down_nt)) => {
                        files.push((format!("{base}.up.sql"), marked(up, up_nt)));
                        files.push((format!("{base}.down.sql"), marked(down, down_nt)));
                    }
                    None => {
                        files.push((old_file.map_or_else(|| format!("{base}.sql"), str::to_owned), marked(up, up_nt)))
                    }
                }
            }
            Tool::Dbmate => {
                let marker =
                    |dir: &str, nt: bool| format!("-- migrate:{dir}{}\n", if nt { " transaction:false" } else { "" });
                let ended =
                    |sql: &str| if sql.is_empty() || sql.ends_with('\n') { sql.to_owned() } else { format!("{sql}\n") };
                let mut text = marker("up", up_nt) + &ended(up);
                let (down, down_nt) = down.unwrap_or(("", false));
                text += &(marker("down", down_nt) + &ended(down));
                files.push((old_file.map_or_else(|| format!("{version}_{slug}.sql"), str::to_owned), text));
            }
            other => {
                return Err(ImportError::unconvertible(
                    m.name,
                    format!("export writes sqlx's and dbmate's layouts, not {other}'s"),
                    "export --to sqlx or --to dbmate",
                ));
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Part, Source, write};
    use std::path::Path;

    #[test]
    fn a_sqlx_import_exports_back_to_the_same_bytes() {
        let sources = [
            Source {
                old_version: "20240101".into(),
                name: "a".into(),
                old_file: "20240101_a.sql".into(),
                up: Part { sql: "-- no-transaction\nCREATE INDEX i ON t (a);\n".into(), no_transaction: true },
                down: None,
                tool_checksum: None,
            },
            Source {
                old_version: "20240202".into(),
                name: "b".into(),
                old_file: "20240202_b.up.sql".into(),
                up: Part { sql: "CREATE TABLE t (a int);\n".into(), no_transaction: false },
                down: Some(Part { sql: "DROP TABLE t;\n".into(), no_transaction: false }),
                tool_checksum: None,
            },
        ];
        let planned = write::plan(Tool::Sqlx, &sources, crate::sql_lex::Dialect::Sqlite, Path::new("m")).unwrap();
        let dir = crate::migration_dir::MigrationDir::from_memory(Path::new("m"), planned.files.clone());
        let mut migrations = dir.migrations();
        let extra = Migration {
            version: 3,
            name: "0003_c.sql",
            up: "-- envdb: no-transaction\nVACUUM;\n",
            down: None,
            checksum: "",
        };
        migrations.push(extra);
        let out = files(Tool::Sqlx, &migrations, Some(&planned.map)).unwrap();
        assert_eq!(
            out,
            [
                ("20240101_a.sql".to_owned(), "-- no-transaction\nCREATE INDEX i ON t (a);\n".to_owned()),
                ("20240202_b.up.sql".to_owned(), "CREATE TABLE t (a int);\n".to_owned()),
                ("20240202_b.down.sql".to_owned(), "DROP TABLE t;\n".to_owned()),
                ("20240203_c.sql".to_owned(), "-- no-transaction\nVACUUM;\n".to_owned()),
            ]
        );
        let dbmate = files(Tool::Dbmate, &migrations[2..], None).unwrap();
        assert_eq!(
            dbmate,
            [("1_c.sql".to_owned(), "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\n".to_owned())]
        );
    }
}
