//! Costs that grow with the work: with tens of thousands of migrations, the database commands
//! cost about what `check` costs (reading and hashing every file), not a multiple that grows
//! with the number of files.

mod common;

use common::Test;
use std::time::{Duration, Instant};

/// The fastest of three runs of the command, which must succeed.
fn fastest(t: &Test, args: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let out = t.command(args).output().unwrap();
            let took = start.elapsed();
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            took
        })
        .min()
        .unwrap()
}

#[test]
fn database_commands_stay_linear_in_the_number_of_migrations() {
    // Every tenth migration has a down file, so finding down files is part of the work.
    let n = 30_000;
    let t = Test::new();
    for i in 1..=n {
        t.write(&format!("migrations/{i:04}_m{i}.sql"), format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\n"));
        if i % 10 == 0 {
            t.write(&format!("migrations/{i:04}_m{i}.down.sql"), format!("DROP TABLE t{i};\n"));
        }
    }
    t.run(&["hash", "-q"]).success();
    let check = fastest(&t, &["check", "-q"]);
    // Both read and check the same directory, then pair every migration with its down file and
    // compare them with the (absent) history: linear work beside the hashing. A lookup that scans
    // all files for every migration made them 3 times slower than `check` at 20,000 (debug build),
    // 3.7 times at 30,000.
    for args in [&["status", "-q"][..], &["migrate", "--dry-run", "-q"]] {
        let took = fastest(&t, args);
        eprintln!("{args:?}: {took:?}, check: {check:?}");
        assert!(
            took < check * 2 + Duration::from_millis(300),
            "{args:?} took {took:?} at {n} migrations, `check` {check:?}: the cost grows faster than the files"
        );
    }
}
