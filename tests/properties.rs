//! Property tests of the pure core: the planner, the sum file, `check` after `hash`, and `fix`.

use envdb::Migration;
use envdb::check::check;
use envdb::file_name::{Direction, FileName};
use envdb::fix::{self, Origin};
use envdb::migration_dir::MigrationDir;
use envdb::plan::{self, Applied, PlanError};
use envdb::sum_file::SumFile;
use proptest::prelude::*;
use std::collections::HashSet;
use std::path::Path;

fn migrations(n: u64) -> Vec<Migration<'static>> {
    (1..=n)
        .map(|v| Migration {
            version: v,
            name: Box::leak(format!("{v:04}_m.sql").into_boxed_str()),
            up: "SELECT 1;",
            down: None,
            checksum: Box::leak(format!("sum{v}").into_boxed_str()),
        })
        .collect()
}

fn applied(versions: &[u64], edited: &HashSet<u64>) -> Vec<Applied> {
    versions
        .iter()
        .map(|&v| Applied {
            version: v,
            name: format!("{v:04}_m.sql"),
            checksum: if edited.contains(&v) { "other".into() } else { format!("sum{v}") },
            applied_at: String::new(),
            execution_ms: 0,
            tool_version: String::new(),
        })
        .collect()
}

proptest! {
    /// For files 1..=n (one of them possibly gone) and a history 1..=k (one version possibly
    /// missing, some checksums possibly edited), the plan is exactly the missing versions up to
    /// the target, or exactly the first refusal, with its numbers and names.
    #[test]
    fn planner_applies_exactly_what_is_missing(
        (n, k, hole, gone, edited, target) in (0u64..30).prop_flat_map(|n| (Just(n), 0..=n + 2)).prop_flat_map(|(n, k)| (
            Just(n),
            Just(k),
            proptest::option::weighted(0.2, 1..=k.max(1)),
            proptest::option::weighted(0.2, 1..=n.max(1)),
            proptest::collection::btree_set(1..=n.max(1), 0..2),
            proptest::option::of(0..=n + 2),
        )),
    ) {
        let files: Vec<_> = migrations(n).into_iter().filter(|m| Some(m.version) != gone).collect();
        let history: Vec<u64> = (1..=k).filter(|&v| Some(v) != hole).collect();
        let edited: HashSet<u64> = edited.into_iter().collect();
        let rows = applied(&history, &edited);

        let latest = files.last().map_or(0, |m| m.version);
        let current = history.last().copied().unwrap_or(0);
        let name = |v: u64| format!("{v:04}_m.sql");
        let expected: Result<Vec<u64>, PlanError> = if let Some(h) = hole.filter(|&h| h < k) {
            Err(PlanError::Hole { missing: h, after: h + 1 })
        } else if current > latest {
            Err(PlanError::Newer { database: current, code: latest })
        } else if let Some(&v) = history.iter().find(|&&v| Some(v) == gone || edited.contains(&v)) {
            if Some(v) == gone {
                Err(PlanError::Gone { version: v, name: name(v) })
            } else {
                Err(PlanError::Changed { version: v, name: name(v) })
            }
        } else if let Some(t) = target.filter(|&t| t > latest) {
            Err(PlanError::NoSuchTarget(t, latest))
        } else {
            let upto = target.unwrap_or(latest);
            Ok(files.iter().map(|m| m.version).filter(|&v| v > current && v <= upto).collect())
        };
        let got = plan::pending(&files, &rows, target).map(|p| p.iter().map(|m| m.version).collect::<Vec<_>>());
        prop_assert_eq!(got, expected);
    }

    /// A sum file survives rendering and parsing, whatever the names and checksums.
    #[test]
    fn sum_file_round_trips(entries in proptest::collection::btree_map(1u64..20_000, ("[a-z0-9_]{1,12}", any::<bool>(), "[0-9a-f]{64}"), 0..50)) {
        let names: Vec<(FileName, String)> = entries
            .iter()
            .map(|(v, (slug, down, sum))| (FileName::new(*v, slug.clone(), if *down { Direction::Down } else { Direction::Up }), sum.clone()))
            .collect();
        let sum = SumFile::from_files(names.iter().map(|(n, s)| (n, s.as_str())));
        prop_assert_eq!(SumFile::parse(&sum.to_string()).unwrap(), sum);
    }

    /// `hash` then `check` always passes on files with valid names in sequence.
    #[test]
    fn hash_then_check_passes(contents in proptest::collection::vec("[ -~\\n\\r]{0,80}", 1..30), downs in proptest::collection::vec(any::<bool>(), 30)) {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, c) in contents.iter().enumerate() {
            let v = i as u64 + 1;
            // Non-empty SQL so that no warning is possible either.
            files.push((format!("{v:04}_m{v}.sql"), format!("SELECT {v}; -- {c}\n").into_bytes()));
            if downs[i] {
                // Arbitrary text in a comment: as a statement it may be one `check` refuses (`END`).
                files.push((format!("{v:04}_m{v}.down.sql"), format!("SELECT 0; -- {c}\n").into_bytes()));
            }
        }
        let mut dir = MigrationDir::from_memory(Path::new("migrations"), files);
        dir.sum_text = Some(envdb::authoring::sum_of(&dir).to_string());
        let report = check(&dir, false);
        prop_assert!(report.is_ok(), "{:?}", report.problems);
    }

    /// `fix` yields a gap-free, duplicate-free sequence that keeps each branch's own order.
    #[test]
    fn fix_yields_a_clean_sequence(base in 0u64..10, theirs in 0u64..6, ours in 1u64..6) {
        let mut files = Vec::new();
        let mut their_names = HashSet::new();
        for v in 1..=base + theirs {
            let name = format!("{v:04}_t{v}.sql");
            their_names.insert(name.clone());
            files.push((name, format!("-- t{v}\n").into_bytes()));
        }
        // Our branch numbered its migrations after the base, colliding with theirs.
        let our_names: Vec<String> = (1..=ours).map(|i| format!("{:04}_o{i}.sql", base + i)).collect();
        for name in &our_names {
            files.push((name.clone(), format!("-- {name}\n").into_bytes()));
        }
        let dir = MigrationDir::from_memory(Path::new("migrations"), files);
        let renames = fix::plan(&dir, &Origin::Theirs(their_names), &[], &|_| None).unwrap();
        let sum = fix::renamed_sum(&dir, &renames);
        let versions: Vec<u64> = sum.entries.iter().map(|(f, _)| FileName::parse(f).unwrap().version).collect();
        prop_assert_eq!(versions, (1..=base + theirs + ours).collect::<Vec<_>>());
        // Ours keep their relative order, after all of theirs.
        let ours_after: Vec<&str> = sum.entries.iter().map(|(f, _)| f.as_str()).filter(|f| f.contains("_o")).collect();
        let slugs: Vec<String> = ours_after.iter().map(|f| FileName::parse(f).unwrap().slug).collect();
        prop_assert_eq!(slugs, (1..=ours).map(|i| format!("o{i}")).collect::<Vec<_>>());
    }
}
