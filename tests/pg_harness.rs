//! The PostgreSQL test harness itself (`pgtest`): a real server and PgBouncer, one database per
//! test, password authentication, transaction pooling, and nothing left running or on disk when a
//! test process ends, whether it returns, panics or is killed.

use pgtest::{Via, database, postgres, shared};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn one_row(client: &mut postgres::Client, sql: &str) -> Vec<Option<String>> {
    let rows = client.simple_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let row = rows
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"));
    (0..row.len()).map(|i| row.get(i).map(String::from)).collect()
}

fn one(client: &mut postgres::Client, sql: &str) -> String {
    one_row(client, sql).remove(0).unwrap_or_default()
}

#[test]
fn the_server_answers_over_tcp_the_unix_socket_and_pgbouncer() {
    let db = database();
    let dir = shared().dir().to_str().unwrap().to_string();
    assert!(dir.starts_with(&format!("{}/envdb-pg-", pgtest::base_dir().display())), "{dir}");
    let socket = format!("{dir}/.s.PGSQL.{}", shared().port());
    assert!(socket.len() < 100, "the socket path must stay under the ~107-byte limit: {socket}");
    assert!(Path::new(&socket).exists(), "{socket}");
    for via in [Via::Tcp, Via::Socket, Via::Bouncer] {
        let mut c = db.connect(via);
        let row = one_row(&mut c, "SELECT current_database(), current_user, current_setting('server_version_num')");
        assert_eq!(row[0].as_deref(), Some(db.name()), "{via:?}");
        assert_eq!(row[1].as_deref(), Some(pgtest::ROLE), "{via:?}");
        assert!(row[2].as_deref().unwrap().parse::<u32>().unwrap() >= 130000, "{via:?}: {row:?}");
        // The role owns its database: it can create tables (the backend's history, migrations).
        c.batch_execute("CREATE TABLE IF NOT EXISTS probe (x int); INSERT INTO probe VALUES (1)").unwrap();
    }
    let mut c = db.connect(Via::Socket);
    assert_eq!(one(&mut c, "SELECT count(*) FROM probe"), "3");
    assert_eq!(one(&mut c, "SHOW listen_addresses"), "127.0.0.1");
    assert_eq!(one(&mut c, "SHOW fsync"), "off");
}

#[test]
fn each_test_database_is_its_own_and_is_dropped_with_its_handle() {
    let a = database();
    let b = database();
    assert_ne!(a.name(), b.name());
    a.connect(Via::Tcp).batch_execute("CREATE TABLE only_in_a (x int)").unwrap();
    assert_eq!(one(&mut b.connect(Via::Tcp), "SELECT to_regclass('only_in_a') IS NULL"), "t");
    assert_eq!(one(&mut a.connect(Via::Tcp), "SELECT to_regclass('only_in_a') IS NULL"), "f");

    // Dropped even while sessions (direct and pooled) are still connected to it.
    let name = a.name().to_string();
    let mut open_direct = a.connect(Via::Tcp);
    // (A pooled client holds no server session between transactions; the pooled server session
    // PgBouncer keeps open on the database is cut by the drop.)
    let mut open_pooled = a.connect(Via::Bouncer);
    one(&mut open_pooled, "SELECT 1");
    drop(a);
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    assert_eq!(one(&mut shared().admin(), &exists), "0");
    assert!(open_direct.simple_query("SELECT 1").is_err(), "the session on the dropped database was cut");
    // The other one is untouched.
    assert_eq!(one(&mut b.connect(Via::Bouncer), "SELECT current_database()"), b.name());
}

#[test]
fn pgbouncer_pools_by_transaction_two_clients_share_one_server_session() {
    let db = database();
    let pid = "SELECT pg_backend_pid()::text";

    // Through PgBouncer: the second client's transaction runs on the first one's server session,
    // and a session-level SET made by one client is seen by the other.
    let mut first = db.connect(Via::Bouncer);
    let mut second = db.connect(Via::Bouncer);
    first.batch_execute("SET statement_timeout = '4321ms'").unwrap();
    let first_pid = one(&mut first, pid);
    assert_eq!(one(&mut second, "SHOW statement_timeout"), "4321ms");
    assert_eq!(one(&mut second, pid), first_pid);

    // Directly: two sessions, two server processes, settings of their own.
    let mut a = db.connect(Via::Tcp);
    let mut b = db.connect(Via::Tcp);
    a.batch_execute("SET statement_timeout = '4321ms'").unwrap();
    assert_ne!(one(&mut a, pid), one(&mut b, pid));
    assert_eq!(one(&mut b, "SHOW statement_timeout"), "0");

    // PgBouncer's own view: this database's pool is in transaction mode.
    let mut console =
        postgres::Client::connect(&shared().url(Via::Bouncer, "pgbouncer"), postgres::NoTls).expect("the console");
    let pools = console.simple_query("SHOW POOLS").unwrap();
    let ours = pools.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) if r.get("database") == Some(db.name()) => Some(r),
        _ => None,
    });
    let ours = ours.unwrap_or_else(|| panic!("no pool for {} in SHOW POOLS", db.name()));
    assert_eq!(ours.get("pool_mode"), Some("transaction"));
}

#[test]
fn password_authentication_over_tcp_and_through_pgbouncer_a_wrong_one_fails() {
    let db = database();
    let server = shared();
    for via in [Via::Tcp, Via::Bouncer] {
        let wrong = "not-the-password";
        let err = postgres::Client::connect(&db.url_with_password(via, wrong), postgres::NoTls)
            .err()
            .unwrap_or_else(|| panic!("{via:?}: a wrong password was accepted"));
        let message = format!("{err} {err:?}");
        // PostgreSQL says "password authentication failed", PgBouncer "SASL authentication failed".
        assert!(message.contains("authentication failed"), "{via:?}: {message}");
        assert!(!message.contains(wrong) && !message.contains(server.password()), "{via:?}: {message}");
        let without = db.url(via).replace(&format!(":{}@", server.password()), "@");
        assert!(postgres::Client::connect(&without, postgres::NoTls).is_err(), "{via:?}: no password was accepted");
        db.connect(via);
    }
    // Another role, made by the superuser, logs in over TCP with its own password.
    server.admin().batch_execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'").unwrap();
    let url = server.url_as(Via::Tcp, db.name(), "reader", "reader-pw");
    let mut reader = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(one(&mut reader, "SELECT current_user"), "reader");
    let wrong = server.url_as(Via::Tcp, db.name(), "reader", "nope");
    assert!(postgres::Client::connect(&wrong, postgres::NoTls).is_err());
    // The secret is SCRAM, and loopback TCP asks for it (the socket alone is trust).
    let secret = format!("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '{}'", pgtest::ROLE);
    assert_eq!(one(&mut server.admin(), &secret), "SCRAM-SHA-256$");
    // The harness never shows the password.
    assert!(!format!("{server:?} {db:?}").contains(server.password()));
}

#[test]
fn a_server_of_its_own_restarts_and_is_gone_when_dropped() {
    let server = pgtest::Server::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = server.dir().to_str().unwrap().to_string();
    let db = server.database();
    let mut before = db.connect(Via::Tcp);
    one(&mut before, "SELECT 1");
    server.restart().unwrap();
    assert!(before.simple_query("SELECT 1").is_err(), "a restart cuts every session");
    assert_eq!(one(&mut db.connect(Via::Bouncer), "SELECT current_database()"), db.name());
    let pids = server_pids(&server);
    assert!(!running(&dir).is_empty(), "the scan sees the server while it runs");
    drop(db);
    drop(server);
    assert_nothing_left(&dir, &pids);
}

/// The postmaster's and PgBouncer's pids, from their pid files.
fn server_pids(server: &pgtest::Server) -> Vec<i32> {
    ["data/postmaster.pid", "pgbouncer.pid"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(server.dir().join(f)).unwrap();
            text.lines().next().unwrap().trim().parse().unwrap()
        })
        .collect()
}

/// The command lines of the live processes that mention `dir` (what `pgrep -f dir` finds).
fn running(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(dir) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// Those of `pids` that are still running (neither gone nor a zombie).
fn alive(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
        })
        .collect()
}

/// No process mentions `dir`, none of `pids` runs, and `dir` is gone.
fn assert_nothing_left(dir: &str, pids: &[i32]) {
    assert_eq!(running(dir), Vec::<String>::new(), "nothing of {dir} runs");
    assert_eq!(alive(pids), Vec::<i32>::new(), "the server's processes are gone");
    assert!(!Path::new(dir).exists(), "{dir} is removed");
}

/// Waits up to `limit` for nothing of `dir` to run and for `dir` to be gone.
fn wait_gone(dir: &str, pids: &[i32], limit: Duration) {
    let start = Instant::now();
    while (!running(dir).is_empty() || !alive(pids).is_empty() || Path::new(dir).exists()) && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
}

const CHILD: &str = "child_process_using_the_server";

/// Run only by the cleanup tests, as a process of its own: uses the shared server (a pooled and a
/// direct session), prints its directory and the server's pids, then returns, panics or hangs.
#[test]
#[ignore = "run by the cleanup tests in a process of its own"]
fn child_process_using_the_server() {
    let Ok(mode) = std::env::var("PGTEST_CHILD") else { return };
    let db = database();
    let mut pooled = db.connect(Via::Bouncer);
    let mut direct = db.connect(Via::Tcp);
    let backend: i32 = one(&mut direct, "SELECT pg_backend_pid()").parse().unwrap();
    one(&mut pooled, "SELECT 1");
    let mut pids = server_pids(shared());
    pids.push(backend);
    let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
    println!("PGTEST_DIR={}", shared().dir().display());
    println!("PGTEST_PIDS={}", pids.join(","));
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    match mode.as_str() {
        "panic" => panic!("a test that fails while the server runs"),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        _ => {}
    }
}

/// A child test process, killed (by its pid) if the test fails before it ends.
struct ChildTest(Child);

impl Drop for ChildTest {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts this test binary's child test in `mode`; returns it, its directory and the pids.
fn spawn_child(mode: &str) -> (ChildTest, String, Vec<i32>) {
    let mut child = ChildTest(
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", CHILD, "--nocapture", "--test-threads=1"])
            .env("PGTEST_CHILD", mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut dir = None;
    let mut pids = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // libtest prints `test <name> ... ` before the test's own output, on the same line.
        if let Some((_, d)) = line.split_once("PGTEST_DIR=") {
            dir = Some(d.to_string());
        } else if let Some(p) = line.strip_prefix("PGTEST_PIDS=") {
            pids = p.split(',').map(|p| p.parse().unwrap()).collect();
            break;
        }
    }
    // Keep reading (and discarding) so that the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let dir = dir.expect("the child printed its server's directory");
    assert!(dir.starts_with(&format!("{}/envdb-pg-", pgtest::base_dir().display())), "{dir}");
    assert_eq!(pids.len(), 3, "postmaster, pgbouncer, a backend");
    (child, dir, pids)
}

#[test]
fn nothing_is_left_after_a_test_process_returns() {
    let (mut child, dir, pids) = spawn_child("return");
    assert!(child.0.wait().unwrap().success());
    // The end of the process waits for the watchdog: gone as soon as it has exited.
    assert_nothing_left(&dir, &pids);
}

#[test]
fn nothing_is_left_after_a_test_panics() {
    let (mut child, dir, pids) = spawn_child("panic");
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(101), "the child test failed");
    assert_nothing_left(&dir, &pids);
}

#[test]
fn nothing_is_left_after_the_test_process_is_killed() {
    let (mut child, dir, pids) = spawn_child("hang");
    assert_eq!(alive(&pids), pids, "the server runs while the child lives");
    assert!(running(&dir).len() >= 3, "watchdog, postmaster, pgbouncer: {:?}", running(&dir));
    child.0.kill().unwrap(); // SIGKILL, to this child's pid only
    child.0.wait().unwrap();
    wait_gone(&dir, &pids, Duration::from_secs(20));
    assert_nothing_left(&dir, &pids);
}
