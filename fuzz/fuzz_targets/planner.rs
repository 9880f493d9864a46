//! Any migrations directory (names and contents) and any history: check and the planner never
//! panic, and a plan lists exactly the versions after the history's latest, in order.
#![no_main]
use envdb::migration_dir::MigrationDir;
use envdb::plan::{self, Applied};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|input: (Vec<(String, Vec<u8>)>, Vec<(u16, bool)>, Option<u16>)| {
    let (files, history, target) = input;
    let dir = MigrationDir::from_memory(Path::new("migrations"), files);
    let _ = envdb::check::check(&dir, true);
    let migrations = dir.migrations();
    let applied: Vec<Applied> = history
        .iter()
        .map(|&(v, same)| {
            let found = migrations.iter().find(|m| m.version == u64::from(v));
            Applied {
                version: u64::from(v),
                name: format!("{v:04}"),
                checksum: match (found, same) {
                    (Some(m), true) => m.checksum.to_owned(),
                    _ => "edited".into(),
                },
                applied_at: String::new(),
                execution_ms: 0,
                tool_version: String::new(),
            }
        })
        .collect();
    let sorted = migrations.windows(2).all(|w| w[0].version < w[1].version);
    let history_sorted = applied.windows(2).all(|w| w[0].version < w[1].version);
    if sorted && history_sorted {
        if let Ok(pending) = plan::pending(&migrations, &applied, target.map(u64::from)) {
            let current = applied.last().map_or(0, |a| a.version);
            assert!(pending.iter().all(|m| m.version > current));
            assert!(pending.windows(2).all(|w| w[0].version < w[1].version));
        }
        let _ = plan::drift(&migrations, &applied);
    }
});
