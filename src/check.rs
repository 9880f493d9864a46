//! The rules of a sound migrations directory, as one pure function over what was read.
//!
//! Every problem is reported in one run, each naming its file, so a user fixes them all at once.

use crate::file_name::Direction;
use crate::migration_dir::MigrationDir;
use crate::pg_check::{self, Risk};
use crate::problem::{Problem, ProblemKind as K, Report};
use crate::sql_lex::Dialect;
use crate::sql_text;
use crate::sum_file::{self, SumFile};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Checks `dir`, whose SQL is SQLite's. With `strict`, warnings count as errors.
pub fn check(dir: &MigrationDir, strict: bool) -> Report {
    check_as(dir, strict, Dialect::Sqlite)
}

/// Checks `dir`, reading its SQL as `dialect`: the same rules, with that dialect's refusals and
/// its warnings (on PostgreSQL, `pg_check`'s). With `strict`, warnings count as errors.
pub fn check_as(dir: &MigrationDir, strict: bool, dialect: Dialect) -> Report {
    let mut problems = Vec::new();
    let mut lint = pg_check::Lint::default();
    let show = |f: &str| Some(dir.show(f));

    for (name, reason) in &dir.invalid {
        problems.push(Problem::error(
            K::InvalidName,
            show(name),
            None,
            format!("not a migration file name: {reason} (expected {})", crate::file_name::PATTERN),
        ));
    }

    for (name, reason) in &dir.unreadable {
        let version = crate::file_name::FileName::parse(name).ok().map(|n| n.version);
        problems.push(Problem::error(
            K::Unreadable,
            show(name),
            version,
            format!("cannot be read: {reason}; replace it with a regular file or remove it"),
        ));
    }

    // Versions: duplicates, down files without up files, gaps.
    let mut ups: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for f in dir.ups() {
        ups.entry(f.name.version).or_default().push(&f.file_name);
    }
    // An unreadable file is reported above; its version is not also a gap.
    let unreadable: BTreeMap<u64, &str> = dir
        .unreadable
        .iter()
        .filter_map(|(n, _)| crate::file_name::FileName::parse(n).ok().map(|p| (p.version, n.as_str())))
        .collect();
    for (v, names) in &ups {
        if names.len() > 1 {
            for name in names {
                let others: Vec<_> = names.iter().filter(|n| *n != name).copied().collect();
                problems.push(Problem::error(
                    K::DuplicateVersion,
                    show(name),
                    Some(*v),
                    format!(
                        "version {v} is also used by {}; run `cargo envdb fix` after a merge, or renumber one of them",
                        others.join(", ")
                    ),
                ));
            }
        }
    }
    let mut downs: HashMap<u64, Vec<&str>> = HashMap::new();
    let names: std::collections::HashSet<&str> = dir.files.iter().map(|f| f.file_name.as_str()).collect();
    for f in dir.files.iter().filter(|f| f.name.direction == Direction::Down) {
        downs.entry(f.name.version).or_default().push(&f.file_name);
        let up_name = f.name.up().to_string();
        if !names.contains(up_name.as_str()) {
            problems.push(Problem::error(
                K::DownWithoutUp,
                show(&f.file_name),
                Some(f.name.version),
                format!("down file without its up file {up_name}"),
            ));
        }
    }
    let mut expected = 1;
    let versions: std::collections::BTreeSet<u64> = ups.keys().chain(unreadable.keys()).copied().collect();
    for v in versions {
        if v > expected {
            let missing = if v - 1 == expected {
                format!("version {expected} is missing")
            } else {
                format!("versions {expected} to {} are missing", v - 1)
            };
            problems.push(Problem::error(
                K::Gap,
                show(ups.get(&v).map_or_else(|| unreadable[&v], |names| names[0])),
                Some(v),
                format!("{missing} before this file; versions must run 1, 2, 3… without gaps"),
            ));
        }
        expected = v + 1;
    }

    // Content.
    for f in &dir.files {
        let Some(sql) = &f.sql else {
            problems.push(Problem::error(
                K::NotUtf8,
                show(&f.file_name),
                Some(f.name.version),
                "content is not valid UTF-8; save the file as UTF-8".into(),
            ));
            continue;
        };
        // What the runner refuses before anything runs, by the same function.
        let reading = crate::sql_rules::read_as(sql, dialect);
        for r in &reading.refusals {
            problems.push(Problem::error(r.kind(), show(&f.file_name), Some(f.name.version), r.to_string()));
        }
        let directives = reading.directives;
        if f.name.direction == Direction::Down {
            continue;
        }
        let words = sql_text::words_of(reading.tokens.iter().copied());
        if !sql_text::has_sql_words(&words) {
            problems.push(Problem::warning(
                K::Empty,
                show(&f.file_name),
                Some(f.name.version),
                "the migration holds no SQL".into(),
            ));
        }
        // `dir.files` is in version order, so the lint knows what earlier migrations validated.
        let warnings = match dialect {
            Dialect::Sqlite => Vec::new(),
            Dialect::Postgres => lint.file(&reading),
        };
        if dialect == Dialect::Postgres && !directives.allow_destructive {
            for w in warnings {
                let kind = match w.risk {
                    Risk::Locking => K::Locking,
                    Risk::FailsOnRows => K::FailsOnRows,
                    Risk::Destructive => K::Destructive,
                };
                problems.push(Problem::warning(
                    kind,
                    show(&f.file_name),
                    Some(f.name.version),
                    format!(
                        "line {}: {} (add `-- envdb: allow-destructive` at the top once that is intended)",
                        w.line, w.message
                    ),
                ));
            }
        } else if dialect == Dialect::Sqlite && !directives.allow_destructive {
            for d in sql_text::destructive_words(&words) {
                problems.push(Problem::warning(
                    K::Destructive,
                    show(&f.file_name),
                    Some(f.name.version),
                    format!(
                        "line {}: {} breaks code that reads the old schema (add `-- envdb: allow-destructive` at the top once that is intended)",
                        d.line, d.what
                    ),
                ));
            }
        }
    }

    check_sum(dir, &mut problems);

    problems.sort_by_key(|p| p.severity);
    let report = Report { problems };
    if strict { report.strict() } else { report }
}

fn check_sum(dir: &MigrationDir, problems: &mut Vec<Problem>) {
    let sum_path = Some(dir.show(sum_file::FILE_NAME));
    let unreadable: HashSet<&str> = dir.unreadable.iter().map(|(n, _)| n.as_str()).collect();
    let Some(text) = &dir.sum_text else {
        if unreadable.contains(sum_file::FILE_NAME) {
            return;
        }
        problems.push(Problem::error(
            K::SumMissing,
            sum_path,
            None,
            "the sum file is missing; run `cargo envdb hash` to create it".into(),
        ));
        return;
    };
    let sum = match SumFile::parse(text) {
        Ok(sum) => sum,
        Err(e) => {
            let (kind, help) = if e.wants_fix() {
                (K::SumConflict, "run `cargo envdb fix` to renumber this branch's migrations and rewrite it")
            } else {
                (K::SumEdited, "run `cargo envdb hash` to rewrite it from the files, after checking them")
            };
            problems.push(Problem::error(kind, sum_path, None, format!("{e}; {help}")));
            return;
        }
    };
    let on_disk: HashSet<&str> = dir.files.iter().map(|f| f.file_name.as_str()).collect();
    let recorded: HashMap<&str, &str> = sum.entries.iter().map(|(f, s)| (f.as_str(), s.as_str())).collect();
    for f in &dir.files {
        match recorded.get(f.file_name.as_str()).copied() {
            Some(recorded) if recorded != f.checksum => problems.push(Problem::error(
                K::ChecksumMismatch,
                Some(dir.show(&f.file_name)),
                Some(f.name.version),
                "content differs from the checksum in the sum file; if the edit is intended and the migration is not yet applied anywhere, run `cargo envdb hash`, otherwise revert it and write a new migration".into(),
            )),
            Some(_) => {}
            None => problems.push(Problem::error(
                K::NotInSum,
                Some(dir.show(&f.file_name)),
                Some(f.name.version),
                "not recorded in the sum file; run `cargo envdb hash` (or create migrations with `cargo envdb new`)".into(),
            )),
        }
    }
    for (file, _) in &sum.entries {
        if !on_disk.contains(file.as_str()) && !unreadable.contains(file.as_str()) {
            let version = crate::file_name::FileName::parse(file).ok().map(|n| n.version);
            problems.push(Problem::error(
                K::FileGone,
                Some(dir.show(file)),
                version,
                "listed in the sum file but the file is gone; restore it, or run `cargo envdb hash` if it was never applied anywhere".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::Severity;
    use std::path::Path;

    fn dir(files: &[(&str, &str)]) -> MigrationDir {
        MigrationDir::from_memory(
            Path::new("migrations"),
            files.iter().map(|(n, c)| (n.to_string(), c.as_bytes().to_vec())),
        )
    }

    /// The same directory with a freshly written sum file.
    fn hashed(files: &[(&str, &str)]) -> MigrationDir {
        let mut d = dir(files);
        let sum = SumFile::from_files(d.files.iter().map(|f| (&f.name, f.checksum.as_str())));
        d.sum_text = Some(sum.to_string());
        d
    }

    fn kinds(report: &Report) -> Vec<(K, Severity, Option<String>)> {
        report.problems.iter().map(|p| (p.kind, p.severity, p.file.clone())).collect()
    }

    #[test]
    fn clean_directory_passes() {
        let d = hashed(&[
            ("0001_a.sql", "CREATE TABLE a (x);"),
            ("0002_b.sql", "CREATE TABLE b (x);"),
            ("0002_b.down.sql", "DROP TABLE b;"),
        ]);
        let r = check(&d, true);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn reports_every_problem_in_one_run() {
        let mut d = hashed(&[
            ("0001_a.sql", "CREATE TABLE a (x);"),
            ("0001_dup.sql", "CREATE TABLE d (x);"),
            ("0004_c.sql", "CREATE TABLE c (x);"),
            ("0009_orphan.down.sql", "SELECT 1;"),
            ("1_bad.sql", "SELECT 1;"),
            ("README.md", "hi"),
        ]);
        d.files.retain(|f| f.file_name != "0004_c.sql");
        d.files.push(
            crate::migration_dir::MigrationDir::from_memory(
                Path::new("migrations"),
                [("0005_e.sql".to_owned(), b"\xff".to_vec())],
            )
            .files
            .remove(0),
        );
        let r = check(&d, false);
        let k: Vec<_> = kinds(&r).into_iter().map(|(k, _, f)| (k, f.unwrap())).collect();
        for expected in [
            (K::InvalidName, "migrations/1_bad.sql"),
            (K::DuplicateVersion, "migrations/0001_a.sql"),
            (K::DuplicateVersion, "migrations/0001_dup.sql"),
            (K::DownWithoutUp, "migrations/0009_orphan.down.sql"),
            (K::Gap, "migrations/0005_e.sql"),
            (K::NotUtf8, "migrations/0005_e.sql"),
            (K::FileGone, "migrations/0004_c.sql"),
            (K::NotInSum, "migrations/0005_e.sql"),
        ] {
            assert!(k.contains(&(expected.0, expected.1.to_owned())), "missing {expected:?} in {k:#?}");
        }
        assert_eq!(d.ignored, ["README.md"]);
    }

    #[test]
    fn gap_message_names_the_range() {
        let d = hashed(&[("0001_a.sql", "SELECT 1;"), ("0005_b.sql", "SELECT 1;")]);
        let r = check(&d, false);
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].message.contains("versions 2 to 4 are missing"), "{}", r.problems[0].message);
    }

    #[test]
    fn sum_file_problems() {
        let mut d = hashed(&[("0001_a.sql", "SELECT 1;")]);
        d.sum_text = None;
        assert_eq!(kinds(&check(&d, false))[0].0, K::SumMissing);
        d.sum_text = Some("<<<<<<< HEAD\n=======\n>>>>>>> x\n".into());
        let r = check(&d, false);
        assert_eq!(r.problems[0].kind, K::SumConflict);
        assert!(r.problems[0].message.contains("cargo envdb fix"));
        let mut d = hashed(&[("0001_a.sql", "SELECT 1;")]);
        d.sum_text = d.sum_text.map(|s| s.replace("0001_a", "0001_b"));
        assert_eq!(kinds(&check(&d, false))[0].0, K::SumEdited);
        let mut d = hashed(&[("0001_a.sql", "SELECT 1;")]);
        d.files[0].checksum = "0".repeat(64);
        assert_eq!(kinds(&check(&d, false))[0].0, K::ChecksumMismatch);
    }

    #[test]
    fn postgres_dialect_reads_its_sql_and_warns() {
        let files = [
            ("0001_a.sql", "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\n"),
            ("0002_b.sql", "-- a comment\nCREATE INDEX t_a2 ON t (a);\n"),
            ("0003_c.sql", "ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"),
            ("0004_d.sql", "ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n"),
            ("0005_e.sql", "ALTER TABLE t ALTER a SET NOT NULL, ADD b int NOT NULL;\n"),
            ("0005_e.down.sql", "ALTER TABLE t DROP COLUMN b;\n"),
            (
                "0006_f.sql",
                "-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY t_b ON t (b);\nDROP INDEX CONCURRENTLY t_a2;\n",
            ),
            ("0007_g.sql", "CREATE FUNCTION f() RETURNS int AS $$ BEGIN COMMIT; RETURN 1; END $$ LANGUAGE plpgsql;\n"),
        ];
        let d = hashed(&files);
        let pg = check_as(&d, false, Dialect::Postgres);
        let found: Vec<_> = pg.problems.iter().map(|p| (p.kind, p.severity, p.file.clone().unwrap())).collect();
        assert_eq!(
            found,
            [
                (K::Locking, Severity::Warning, "migrations/0002_b.sql".into()),
                (K::FailsOnRows, Severity::Warning, "migrations/0005_e.sql".into()),
            ],
            "{:#?}",
            pg.problems
        );
        assert!(pg.problems[0].message.starts_with("line 2: CREATE INDEX without CONCURRENTLY"), "{}", pg.problems[0]);
        assert!(
            pg.problems[0].message.ends_with("(add `-- envdb: allow-destructive` at the top once that is intended)")
        );
        assert!(!check_as(&d, true, Dialect::Postgres).is_ok());
        // SQLite reads the same files as before: its own rules, none of PostgreSQL's warnings,
        // and the COMMIT it sees in the function body (SQLite has no dollar quotes).
        let sqlite: Vec<_> = check(&d, false).problems.iter().map(|p| (p.kind, p.file.clone().unwrap())).collect();
        assert_eq!(sqlite, [(K::TransactionControl, "migrations/0007_g.sql".to_owned())]);
        assert_eq!(check_as(&d, false, Dialect::Sqlite).problems, check(&d, false).problems);
        // A refusal: PostgreSQL cannot build an index concurrently inside envdb's transaction.
        let d = hashed(&[(
            "0001_a.sql",
            "-- envdb: allow-destructive\nCREATE INDEX CONCURRENTLY i ON t (a);\nDROP TABLE old;\n",
        )]);
        let r = check_as(&d, false, Dialect::Postgres);
        assert_eq!(kinds(&r), [(K::TransactionControl, Severity::Error, Some("migrations/0001_a.sql".into()))]);
        assert!(
            r.problems[0].message.contains("line 2: PostgreSQL cannot run CREATE INDEX CONCURRENTLY"),
            "{}",
            r.problems[0]
        );
    }

    #[test]
    fn warnings_become_errors_when_strict() {
        let d = hashed(&[("0001_a.sql", "-- nothing yet\n"), ("0002_b.sql", "DROP TABLE a;")]);
        let r = check(&d, false);
        assert!(r.is_ok());
        assert_eq!(
            kinds(&r).into_iter().map(|(k, s, _)| (k, s)).collect::<Vec<_>>(),
            [(K::Empty, Severity::Warning), (K::Destructive, Severity::Warning)]
        );
        assert!(!check(&d, true).is_ok());
        let d = hashed(&[("0001_a.sql", "-- envdb: allow-destructive\nDROP TABLE a;")]);
        assert!(check(&d, true).problems.is_empty());
    }
}
