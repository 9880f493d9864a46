//! Faults, each bounded in time: processes killed mid-run, concurrent runners, a writer that
//! holds the database too long.

mod common;
use common::*;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Migrations that each create a table and fill it, slow enough to be killed in the middle.
fn slow_project(n: usize) -> Test {
    let t = Test::new();
    for i in 1..=n {
        t.write(
            &format!("migrations/{i:04}_m{i}.sql"),
            format!(
                "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);\n\
                 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)\n\
                 INSERT INTO t{i} (v) SELECT hex(randomblob(16)) FROM c;\n"
            ),
        );
    }
    t.run(&["hash", "-q"]).success();
    t
}

/// The history and the schema agree exactly: table t<i> exists if and only if version i is applied.
fn consistent(t: &Test) -> usize {
    let db = t.db();
    let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let has_history: i64 =
        db.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'envdb_migrations'", [], |r| r.get(0)).unwrap();
    let versions: Vec<i64> = if has_history == 1 {
        db.prepare("SELECT version FROM envdb_migrations ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    } else {
        Vec::new()
    };
    let tables: Vec<i64> = db
        .prepare("SELECT CAST(substr(name, 2) AS INTEGER) FROM sqlite_schema WHERE type = 'table' AND name GLOB 't[0-9]*' ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(versions, tables, "history and schema disagree");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    for v in &versions {
        let rows: i64 = db.query_row(&format!("SELECT count(*) FROM t{v}"), [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 300, "migration {v} half applied");
    }
    versions.len()
}

/// How long one full run takes (on another database), to spread kills across a run.
fn full_run(t: &Test) -> Duration {
    let start = Instant::now();
    t.run(&["migrate", "-q", "--database", "probe.db"]).success();
    start.elapsed().max(Duration::from_millis(20))
}

/// Starts `migrate -q`, its stderr kept for the report.
fn spawn_migrate(t: &Test) -> Child {
    t.command(&["migrate", "-q"]).stderr(Stdio::piped()).spawn().unwrap()
}

/// Sends SIGKILL and says whether the kill is what ended the run. A run that ended before the
/// signal must have succeeded: one that failed on its own is not a kill that landed.
fn kill(mut child: Child) -> bool {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if out.status.signal() == Some(libc::SIGKILL) {
        return true;
    }
    assert!(
        out.status.success(),
        "migrate failed on its own ({}) before the kill:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Runs the binary, killing it and failing the test if it is still running after `limit`.
fn run_within(t: &Test, args: &[&str], limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = t.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{args:?} still running after {limit:?}:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Run::from(child.wait_with_output().unwrap())
}

fn remove_dev_db(t: &Test) {
    for f in ["app.db", "app.db-wal", "app.db-shm", "app.db-journal"] {
        let _ = std::fs::remove_file(t.path(&format!(".envdb/dev/{f}")));
    }
}

#[test]
fn sigkill_at_random_moments_never_half_applies() {
    let t = slow_project(200);
    let full = full_run(&t);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut progress = Vec::new();
    let runs = 100;
    let deadline = Instant::now() + Duration::from_secs(120);
    for run in 0..runs {
        if Instant::now() > deadline {
            panic!("time bound exceeded after {run} runs");
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill anywhere in a full run. Starting up (reading and hashing every file, more so in CI
        // where the check cache is off) takes a good part of it, so an early window can miss
        // every migration; a kill after the end finds a finished run, which starts over below.
        let delay = Duration::from_micros(seed % (full.as_micros() as u64 + 1));
        let child = spawn_migrate(&t);
        std::thread::sleep(delay);
        let killed = kill(child);
        let n = if t.dev_db().exists() { consistent(&t) } else { 0 };
        if killed {
            progress.push(n);
        } else {
            assert_eq!(n, 200, "a run that exited 0 applied everything");
        }
        if n == 200 {
            // Finished: start over so that later kills still land mid-run.
            remove_dev_db(&t);
        }
    }
    assert!(progress.iter().any(|&n| n > 0 && n < 200), "no kill landed mid-run: {progress:?}");
    t.run(&["migrate", "-q"]).success();
    assert_eq!(consistent(&t), 200);
}

#[test]
fn eight_concurrent_migrators_apply_each_migration_once() {
    let t = slow_project(40);
    let children: Vec<_> = (0..8).map(|_| t.command(&["migrate"]).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let runs: Vec<Run> = children.into_iter().map(|c| Run::from(c.wait_with_output().unwrap())).collect();
    for r in &runs {
        r.success();
    }
    // They overlapped: at least one had to wait for another's run lock.
    assert!(
        runs.iter().any(|r| r.stderr.contains("Waiting for another envdb run to release")),
        "no run waited for another, so nothing ran concurrently"
    );
    // Each says how many it applied; together, each migration exactly once.
    let applied: usize = runs
        .iter()
        .map(|r| {
            r.stderr.split_once(" applied)").map_or(0, |(head, _)| head.rsplit('(').next().unwrap().parse().unwrap())
        })
        .sum();
    assert_eq!(applied, 40, "{:?}", runs.iter().map(|r| &r.stderr).collect::<Vec<_>>());
    assert_eq!(consistent(&t), 40);
    let rows: i64 = t.db().query_row("SELECT count(*) FROM envdb_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 40);
}

#[test]
fn a_writer_holding_the_database_past_the_busy_timeout() {
    let t = slow_project(3);
    t.run(&["migrate", "--to", "1"]).success();
    let blocker = t.db();
    blocker.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t1 (v) VALUES ('held');").unwrap();
    // The flag, not the 5 s default: it says 250ms, and gives up well before 5 s.
    let started = Instant::now();
    run_within(&t, &["migrate", "--busy-timeout", "0.25"], Duration::from_secs(3))
        .failure()
        .stderr_has("is locked by another connection")
        .stderr_has("longer than the busy timeout (250ms)");
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited out the busy timeout");
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert_eq!(consistent(&t), 1, "nothing changed");
}

#[test]
fn a_second_run_waits_for_the_run_lock_then_times_out() {
    let t = slow_project(2);
    std::fs::create_dir_all(t.path(".envdb/dev")).unwrap();
    let lock = std::fs::File::create(t.path(".envdb/dev/app.db.migrate.lock")).unwrap();
    lock.lock().unwrap();
    // The flag, not the 60 s default.
    let started = Instant::now();
    run_within(&t, &["migrate", "--lock-timeout", "0.25"], Duration::from_secs(3))
        .failure()
        .stderr_has("Waiting for another envdb run to release")
        .stderr_has("(up to 250ms)")
        .stderr_has("another envdb run still holds")
        .stderr_has("after 250ms")
        .stderr_has("--lock-timeout");
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited out the lock timeout");
    drop(lock);
    t.run(&["migrate"]).success();
}

fn journal_mode(t: &Test) -> String {
    t.db().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

#[test]
fn sigkill_mid_run_on_a_rollback_journal_database_then_the_next_run_restores_its_journal_mode() {
    let t = slow_project(200);
    let full = full_run(&t);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Kill runs until one dies mid-run, while the database is switched to WAL for speed.
    let mut landed = None;
    for attempt in 0u32.. {
        assert!(Instant::now() < deadline, "no kill landed mid-run in {attempt} attempts");
        remove_dev_db(&t);
        // Somewhere in the middle half of a full run.
        let delay = full / 4 + full * (attempt % 8) / 16;
        let child = spawn_migrate(&t);
        std::thread::sleep(delay);
        let killed = kill(child);
        if !t.dev_db().exists() {
            continue;
        }
        let n = consistent(&t);
        if killed && n > 0 && n < 200 && journal_mode(&t) == "wal" {
            landed = Some(n);
            break;
        }
    }
    let n = landed.unwrap();
    // The next run, even one with nothing to apply, puts the database back in its own mode.
    t.run(&["migrate", "-q", "--to", &n.to_string()]).success();
    assert_eq!(journal_mode(&t), "delete");
    assert_eq!(consistent(&t), n);
    t.run(&["migrate", "-q"]).success();
    assert_eq!(consistent(&t), 200);
    assert_eq!(journal_mode(&t), "delete");
    assert!(!t.path(".envdb/dev/app.db-wal").exists());
    let record: i64 = t
        .db()
        .query_row("SELECT count(*) FROM envdb_meta WHERE key = 'journal_mode_to_restore'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(record, 0, "the record goes once the mode is restored");
}

#[test]
fn a_killed_run_followed_by_a_full_run_restores_the_journal_mode() {
    let t = slow_project(3);
    t.run(&["migrate", "-q", "--to", "1"]).success();
    // The state a run killed in WAL leaves: the mode to return to recorded, the database in WAL.
    {
        let db = t.db();
        db.execute("INSERT INTO envdb_meta (key, value) VALUES ('journal_mode_to_restore', 'delete')", []).unwrap();
        let _: String = db.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    }
    t.run(&["migrate", "-q"]).success();
    assert_eq!(journal_mode(&t), "delete");
    assert_eq!(consistent(&t), 3);
}
