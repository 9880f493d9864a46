//! Faults on PostgreSQL, through the binary against the real server and PgBouncer `pgtest` starts:
//! SIGKILL at random moments, sixteen concurrent migrators (direct and pooled), a server restart
//! mid-run, a migration blocked on another session's lock, a claim waiting for another runner's
//! uncommitted claim, and the run lock's lease (who holds
//! it, `--lock-timeout`, a dead holder taken over, an expired lease). tests/faults.rs is the
//! SQLite version.

mod common;
use common::*;
use pgtest::postgres::{Client, SimpleQueryMessage};
use pgtest::{Database, Via};
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

/// Every `NO_TX`th migration is `no-transaction`: a `CREATE INDEX CONCURRENTLY` on the table the
/// migration before it made (written to be re-runnable, as the docs ask of such files).
const NO_TX: u64 = 25;

/// Migration `v` of the fault project: a table `t<v>` with 300 rows, or every `NO_TX`th an
/// index built concurrently outside a transaction.
fn migration(v: u64) -> (String, String) {
    if v.is_multiple_of(NO_TX) {
        let sql =
            format!("-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i{v} ON t{} (v);\n", v - 1);
        return (format!("{v:04}_index.sql"), sql);
    }
    let sql = format!(
        "CREATE TABLE t{v} (id serial PRIMARY KEY, v text NOT NULL);\n\
         INSERT INTO t{v} (v) SELECT 'row ' || g FROM generate_series(1, 300) AS g;\n"
    );
    (format!("{v:04}_t{v}.sql"), sql)
}

/// A project whose dev environment is `url`, with `files`; `extra` goes in `[env.dev]`.
fn project(url: &str, extra: &str, files: &[(String, String)]) -> Test {
    let t = Test::new();
    for (name, sql) in files {
        t.write(&format!("migrations/{name}"), sql);
    }
    t.run(&["hash"]).success();
    t.write("envdb.toml", format!("name = \"app\"\n[env.dev]\nurl = \"{url}\"\n{extra}"));
    t
}

fn fault_project(url: &str, n: u64) -> Test {
    project(url, "", &(1..=n).map(migration).collect::<Vec<_>>())
}

fn rows(c: &mut Client, sql: &str) -> Vec<Vec<String>> {
    let messages = c.simple_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_owned()).collect()),
            _ => None,
        })
        .collect()
}

fn numbers(c: &mut Client, sql: &str) -> Vec<u64> {
    rows(c, sql).into_iter().map(|r| r[0].parse().unwrap()).collect()
}

/// Checks that the history matches the schema of the fault project exactly, in one snapshot (a
/// killed client's last transaction may still commit meanwhile); returns how many migrations are
/// recorded.
fn consistent(c: &mut Client) -> u64 {
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").unwrap();
    let n = consistent_now(c);
    c.batch_execute("COMMIT").unwrap();
    n
}

fn consistent_now(c: &mut Client) -> u64 {
    let history = "SELECT to_regclass('public.envdb_migrations') IS NOT NULL";
    if rows(c, history)[0][0] != "t" {
        return 0;
    }
    let versions = numbers(c, "SELECT version FROM envdb_migrations ORDER BY 1");
    let n = versions.len() as u64;
    assert_eq!(versions, (1..=n).collect::<Vec<_>>(), "the history has a gap");
    // The digest stands for exactly these rows, or is being moved on by a run (`applying`), or
    // is missing: never an older build's digest over a longer history.
    let history = rows(c, "SELECT version, checksum FROM envdb_migrations ORDER BY 1");
    let of_rows = envdb::digest::of(history.iter().map(|r| (r[0].parse().unwrap(), r[1].as_str())));
    let stored = rows(c, "SELECT value FROM envdb_meta WHERE key = 'history_digest'");
    if let Some(stored) = stored.first() {
        assert!(stored[0] == "applying" || stored[0] == of_rows, "digest {} over {n} rows", stored[0]);
    }
    // Every table with its row count, in one query.
    let tables = rows(
        c,
        "SELECT substr(relname, 2), (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM ' || relname, false, true, '')))[1]::text \
         FROM pg_class WHERE relkind = 'r' AND relname ~ '^t[0-9]+$' AND relnamespace = 'public'::regnamespace",
    );
    let mut made: Vec<u64> = tables.iter().map(|r| r[0].parse().unwrap()).collect();
    made.sort_unstable();
    let expected: Vec<u64> = (1..=n).filter(|v| v % NO_TX != 0).collect();
    // A migration and its history row are one transaction: one snapshot sees both or neither.
    assert_eq!(made, expected, "tables and history disagree");
    for r in &tables {
        assert_eq!(r[1], "300", "migration {} half applied", r[0]);
    }
    // A recorded no-transaction file built its index (an unrecorded one may have, too: it is
    // re-runnable).
    let indexes =
        numbers(c, "SELECT substr(relname, 2)::int FROM pg_class WHERE relkind = 'i' AND relname ~ '^i[0-9]+$'");
    for v in (NO_TX..=n).step_by(NO_TX as usize) {
        assert!(indexes.contains(&v), "{v} is recorded without its index");
    }
    n
}

/// Waits until no session but this one is busy on `db` (what a killed client started on the
/// server ends by itself; PgBouncer keeps idle ones), then checks every index is valid.
fn settled_and_valid(c: &mut Client, db: &Database<'_>) {
    let others = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid() AND state <> 'idle'",
        db.name()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while numbers(c, &others)[0] > 0 {
        assert!(Instant::now() < deadline, "sessions still busy after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let invalid = rows(c, "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid");
    assert!(invalid.is_empty(), "INVALID indexes left: {invalid:?}");
}

/// The lease row's pid, if there is one.
fn lease_pid(c: &mut Client) -> Option<u64> {
    if rows(c, "SELECT to_regclass('public.envdb_lock') IS NOT NULL")[0][0] != "t" {
        return None;
    }
    numbers(c, "SELECT pid FROM envdb_lock").into_iter().next()
}

fn spawn(t: &Test, args: &[&str]) -> Child {
    t.command(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

fn output(child: Child) -> Run {
    Run::from(child.wait_with_output().unwrap())
}

/// Sends SIGKILL; `Some(stderr)` when the kill is what ended the run. A run that ended first
/// must have succeeded.
fn kill(mut child: Child) -> Option<String> {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.signal() == Some(libc::SIGKILL) {
        return Some(stderr);
    }
    assert!(out.status.success(), "migrate failed on its own ({}) before the kill:\n{stderr}", out.status);
    None
}

fn drop_everything(c: &mut Client) {
    c.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").unwrap();
}

#[test]
fn a_hundred_sigkills_at_random_moments_never_half_apply_and_the_lease_is_taken_over() {
    let db = pgtest::database();
    let mut c = db.connect(Via::Socket);
    // Alternately straight to the server (its unix socket) and through PgBouncer.
    let direct = fault_project(&db.url(Via::Socket), 200);
    let pooled = fault_project(&db.url(Via::Bouncer), 200);
    let started = Instant::now();
    direct.run(&["migrate", "-q"]).success();
    let full = started.elapsed();
    assert_eq!(consistent(&mut c), 200);
    // What a run spends before its first migration (starting, connecting, reading the history,
    // taking the run lock): a run with a target goes through the lock even with nothing to do.
    let startup = |t: &Test| {
        let started = Instant::now();
        t.run(&["migrate", "-q", "--to", "200"]).success();
        started.elapsed()
    };
    let (direct_startup, pooled_startup) = (startup(&direct), startup(&pooled));
    let applying = full.saturating_sub(direct_startup).as_micros() as u64;
    drop_everything(&mut c);

    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut kills, mut mid_run, mut finished, mut before) = (0, 0, 0, 0);
    // A bound that scales with the machine's speed (a loaded machine's full run takes seconds);
    // about 25 s on an idle one.
    let bound = Duration::from_secs(90).max(full * 30);
    let deadline = Instant::now() + bound;
    while kills < 100 {
        assert!(
            Instant::now() < deadline,
            "only {kills} kills landed in {bound:?} (a run takes {full:?}, {direct_startup:?} of it to start)"
        );
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (t, startup) = if seed.is_multiple_of(2) { (&direct, direct_startup) } else { (&pooled, pooled_startup) };
        // Somewhere in the first quarter of the migrations (runs continue where the last one
        // stopped), and now and then before the first.
        let delay =
            (startup * 3 / 4) + Duration::from_micros(seed % (applying / 4 + startup.as_micros() as u64 / 4 + 1));
        let child = spawn(t, &["migrate", "-q"]);
        std::thread::sleep(delay);
        let killed = kill(child);
        let after = consistent(&mut c);
        match killed {
            Some(stderr) => {
                assert!(!stderr.contains("Waiting"), "a run waited for a dead run's lease:\n{stderr}");
                kills += 1;
                if after > before && after < 200 {
                    mid_run += 1;
                }
            }
            None => {
                finished += 1;
                assert_eq!(after, 200, "a run that exited 0 applied everything");
            }
        }
        // The lease left is a dead process's, which the next run takes over at once.
        if let Some(pid) = lease_pid(&mut c) {
            assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the lease of pid {pid} is alive");
        }
        before = after;
        if after == 200 {
            settled_and_valid(&mut c, &db);
            drop_everything(&mut c);
            before = 0;
        }
    }
    assert!(
        mid_run >= 50,
        "only {mid_run} of {kills} kills landed mid-run ({finished} runs finished first; a run takes {full:?}, {direct_startup:?} or {pooled_startup:?} of it to start)"
    );
    let last = direct.run(&["migrate"]);
    last.success();
    assert!(!last.stderr.contains("Waiting"), "{}", last.stderr);
    assert_eq!(consistent(&mut c), 200);
    settled_and_valid(&mut c, &db);
    assert_eq!(lease_pid(&mut c), None, "the last run released the lease");
}

/// How many migrations a run says it applied (`(N applied)`; none when there was nothing to do).
fn applied(r: &Run) -> u64 {
    r.stderr.split_once(" applied)").map_or(0, |(head, _)| head.rsplit('(').next().unwrap().parse().unwrap())
}

#[test]
fn sixteen_migrators_direct_and_through_pgbouncer_apply_each_migration_exactly_once() {
    let db = pgtest::database();
    let mut files = vec![("0001_log.sql".to_owned(), "CREATE TABLE log (v int NOT NULL, t timestamptz);\n".to_owned())];
    for v in 2..=100u64 {
        let sql = if v == 50 {
            // Not re-runnable: a second application fails (the index exists).
            "-- envdb: no-transaction\nCREATE INDEX CONCURRENTLY log_v ON log (v);\nINSERT INTO log VALUES (50, now());\n"
                .to_owned()
        } else {
            format!("INSERT INTO log VALUES ({v}, clock_timestamp());\nSELECT pg_sleep(0.002);\n")
        };
        files.push((format!("{v:04}_m{v}.sql"), sql));
    }
    let direct = project(&db.url(Via::Tcp), "", &files);
    let pooled = project(&db.url(Via::Bouncer), "", &files);
    let children: Vec<Child> =
        (0..16).map(|i| spawn(if i % 2 == 0 { &direct } else { &pooled }, &["migrate"])).collect();
    let runs: Vec<Run> = children.into_iter().map(output).collect();
    for r in &runs {
        r.success();
    }
    assert!(
        runs.iter().any(|r| r.stderr.contains("Waiting for run")),
        "no run waited for another's lease, so the lock was never contended"
    );
    let total: u64 = runs.iter().map(applied).sum();
    assert_eq!(total, 100, "{:#?}", runs.iter().map(|r| &r.stderr).collect::<Vec<_>>());
    let mut c = db.connect(Via::Socket);
    assert_eq!(numbers(&mut c, "SELECT version FROM envdb_migrations ORDER BY 1"), (1..=100).collect::<Vec<_>>());
    let logged = numbers(&mut c, "SELECT v FROM log ORDER BY v");
    assert_eq!(logged, (2..=100).collect::<Vec<_>>(), "a migration ran twice or not at all");
    assert_eq!(
        rows(&mut c, "SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'log_v'::regclass")[0][0],
        "true"
    );
    assert_eq!(lease_pid(&mut c), None, "every lease released");
}

/// Reads `stderr` line by line until one contains `needle`; returns what was read.
fn read_until(stderr: &mut BufReader<ChildStderr>, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the run ended before saying {needle:?}:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
}

fn finish(mut child: Child, mut stderr: BufReader<ChildStderr>, seen: String) -> Run {
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    Run { code: status.code().unwrap_or(-1), stdout: String::new(), stderr: seen + &rest }
}

#[test]
fn a_server_restart_mid_run_fails_naming_the_server_and_a_rerun_finishes() {
    let server = pgtest::Server::start().unwrap_or_else(|e| panic!("{e}"));
    let db = server.database();
    let slow: Vec<(String, String)> = (1..=60u64)
        .map(|v| {
            let (name, sql) = migration(v);
            (name, format!("{sql}SELECT pg_sleep(0.02);\n"))
        })
        .collect();
    let t = project(&db.url(Via::Tcp), "", &slow);
    let mut child = spawn(&t, &["migrate", "-v"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let seen = read_until(&mut stderr, "Applied");
    server.restart().unwrap_or_else(|e| panic!("{e}"));
    let run = finish(child, stderr, seen);
    let port = format!("127.0.0.1:{}", server.port());
    run.failure()
        .stderr_has(&port)
        .stderr_has(&format!(
            "the connection to the server of {} was lost",
            db.url(Via::Tcp).replace(server.password(), "***")
        ))
        .stderr_has("run `cargo envdb migrate` again");
    assert!(!run.stderr.contains(server.password()), "{}", run.stderr);
    let mut c = db.connect(Via::Socket);
    let n = consistent(&mut c);
    assert!(n > 0 && n < 60, "the restart landed mid-run: {n} applied\n{}", run.stderr);
    let again = t.run(&["migrate"]);
    again.success();
    assert_eq!(applied(&again), 60 - n);
    assert_eq!(consistent(&mut c), 60);
}

/// A project of two migrations, a table `t` and `second`, migrated to version 1.
fn at_version_one(url: &str, extra: &str, (name, sql): (&str, &str)) -> Test {
    let files = [("0001_t.sql".to_owned(), "CREATE TABLE t (x int);\n".to_owned()), (name.to_owned(), sql.to_owned())];
    let t = project(url, extra, &files);
    t.run(&["migrate", "--to", "1"]).success();
    t
}

#[test]
fn a_migration_blocked_by_another_session_is_retried_then_named_or_goes_through_when_released() {
    let db = pgtest::database();
    let second = ("0002_fill.sql", "SELECT 1;\nINSERT INTO t VALUES (2);\n");
    let t = at_version_one(&db.url(Via::Bouncer), "lock_timeout = 0.1\nlock_retries = 2\n", second);
    let mut blocker = db.connect(Via::Tcp);
    blocker.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;").unwrap();
    let started = Instant::now();
    let r = t.run(&["migrate"]);
    r.failure()
        .stderr_has("0002_fill.sql: ERROR 55P03")
        .stderr_has("retrying (attempt 2 of 3) in 250 ms")
        .stderr_has("retrying (attempt 3 of 3) in 500 ms")
        .stderr_has("migrations/0002_fill.sql failed")
        .stderr_has("(3 attempts, each waiting up to lock_timeout = 100ms")
        .stderr_has("pg_stat_activity");
    assert_eq!(r.stderr.matches("retrying (attempt").count(), 2, "{}", r.stderr);
    // Three lock timeouts and the two waits between them.
    assert!(started.elapsed() >= Duration::from_millis(300 + 750), "{:?}", started.elapsed());
    let mut c = db.connect(Via::Socket);
    assert_eq!(numbers(&mut c, "SELECT max(version) FROM envdb_migrations"), [1], "nothing half applied");

    // Released during the retries: it goes through.
    t.write("envdb.toml", t.read("envdb.toml").replace("lock_retries = 2", "lock_retries = 10"));
    let mut child = spawn(&t, &["migrate"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let seen = read_until(&mut stderr, "retrying (attempt 2 of 11)");
    blocker.batch_execute("COMMIT").unwrap();
    finish(child, stderr, seen).success().stderr_has("schema version 1 → 2 (1 applied)");
    assert_eq!(numbers(&mut c, "SELECT x FROM t"), [2]);
}

/// A claim that meets another runner's uncommitted claim of the same migration waits for it,
/// past `lock_timeout` (which is set after the claim): it goes through when that one rolls back,
/// and the migration is skipped when that one commits, never a lock timeout either way.
#[test]
fn a_claim_waits_for_another_runners_claim_without_a_lock_timeout() {
    let db = pgtest::database();
    let files: Vec<(String, String)> = [
        ("0001_t.sql", "CREATE TABLE t (x int);\n"),
        ("0002_two.sql", "INSERT INTO t VALUES (2);\n"),
        ("0003_three.sql", "INSERT INTO t VALUES (3);\n"),
    ]
    .iter()
    .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
    .collect();
    let t = project(&db.url(Via::Bouncer), "lock_timeout = 0.1\nlock_retries = 0\n", &files);
    t.run(&["migrate", "--to", "1"]).success();
    let mut other = db.connect(Via::Tcp);
    let claim = |version: u64| {
        format!(
            "BEGIN; SET LOCAL envdb.history_write = on; \
             INSERT INTO envdb_migrations VALUES ({version}, 'other', 'other', now(), 0, 'other');"
        )
    };
    for (version, end, applied) in [(2, "ROLLBACK", true), (3, "COMMIT", false)] {
        other.batch_execute(&claim(version)).unwrap();
        let mut child = spawn(&t, &["migrate", "--to", &version.to_string()]);
        // Five times its lock_timeout: still waiting, not failed.
        std::thread::sleep(Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "migration {version}: the run did not wait for the other claim");
        other.batch_execute(end).unwrap();
        let r = output(child);
        r.success().stderr_lacks("55P03").stderr_lacks("retrying");
        let mut c = db.connect(Via::Socket);
        let rows = numbers(&mut c, &format!("SELECT count(*) FROM t WHERE x = {version}"));
        assert_eq!(rows, [u64::from(applied)], "migration {version} after the other claim's {end}:\n{}", r.stderr);
        assert_eq!(numbers(&mut c, "SELECT max(version) FROM envdb_migrations"), [version]);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}

#[test]
fn the_run_lock_names_its_holder_honours_lock_timeout_and_is_taken_over_from_a_dead_or_expired_one() {
    let db = pgtest::database();
    let t = at_version_one(&db.url(Via::Tcp), "", ("0002_slow.sql", "SELECT pg_sleep(30);\n"));
    let mut c = db.connect(Via::Socket);

    // A live holder: a run stuck in its slow migration.
    let holder = spawn(&t, &["migrate"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while lease_pid(&mut c) != Some(u64::from(holder.id())) {
        assert!(Instant::now() < deadline, "the first run never took the lease");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let waited = t.run(&["migrate", "--lock-timeout", "0.3"]);
    let who = format!("(pid {} on {})", holder.id(), hostname());
    waited
        .failure()
        .stderr_has("Waiting for run")
        .stderr_has(&who)
        .stderr_has("since 20")
        .stderr_has("(up to 300ms)")
        .stderr_has("another envdb run holds the migration lock of postgres://envdb_test:***@127.0.0.1:")
        .stderr_has("--lock-timeout");
    assert_eq!(waited.stderr.matches(&who).count(), 2, "the wait and the error name it:\n{}", waited.stderr);
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited out --lock-timeout");

    // Killed while holding it: the next run takes it over at once, not after the 30 s lease.
    assert!(kill(holder).is_some(), "the slow run ended by itself");
    let started = Instant::now();
    let next = t.run(&["migrate", "--to", "1", "--lock-timeout", "5"]);
    next.success();
    assert!(!next.stderr.contains("Waiting"), "{}", next.stderr);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A lease from another machine is waited for until it expires, then taken.
    c.batch_execute(
        "INSERT INTO envdb_lock (id, holder, host, pid, acquired_at, heartbeat_at, expires_at) \
         VALUES (1, '4242-elsewhere', 'other-host', 4242, now(), now(), clock_timestamp() + interval '1 second')",
    )
    .unwrap();
    let started = Instant::now();
    let r = t.run(&["migrate", "--to", "1", "--lock-timeout", "10"]);
    r.success().stderr_has("Waiting for run 4242-elsewhere (pid 4242 on other-host)");
    assert!(started.elapsed() >= Duration::from_millis(800), "{:?}", started.elapsed());
    assert_eq!(lease_pid(&mut c), None, "released after the run");
}
