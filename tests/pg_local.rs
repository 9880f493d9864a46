//! The local PostgreSQL server (`server = "local"`) through the real binary and the machine's
//! PostgreSQL and PgBouncer: made on first use, started on demand by the commands that open the
//! environment, found again when left running, moved off a taken port, restarted after a kill;
//! and the bad inputs (a foreign or unreachable data directory, missing binaries, bad keys).
//! Every cluster a test makes is watched by pgtest's watchdog, which stops it and removes it
//! when the test process ends however it ends.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A host project whose `dev` environment has a local server, stopped and removed with it.
struct Local {
    t: Test,
    watchdogs: Vec<pgtest::watchdog::Watchdog>,
}

const MIGRATION: (&str, &str) = ("0001_init.sql", "CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL);\n");

impl Local {
    fn new(toml: &str) -> Local {
        let t = Test::with(&[MIGRATION]);
        // The server runs as `postgres` when the tests run as root: it must enter the project.
        std::fs::set_permissions(t.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
        t.write("envdb.toml", toml);
        let mut local = Local { t, watchdogs: Vec::new() };
        local.watch("dev");
        local
    }

    fn dev() -> Local {
        Local::new("name = \"app\"\n[env.dev]\nserver = \"local\"\n")
    }

    /// Watches `env`'s cluster (in its default data directory) until the test ends.
    fn watch(&mut self, env: &str) {
        let cluster = self.cluster(env);
        self.watch_dir(&cluster);
    }

    fn watch_dir(&mut self, cluster: &Path) {
        let owner = pgtest::owner().unwrap();
        self.watchdogs.push(pgtest::watchdog::Watchdog::start(cluster, owner).unwrap());
    }

    fn cluster(&self, env: &str) -> PathBuf {
        self.t.path(&format!(".envdb/{env}/pg/{env}"))
    }

    fn run(&self, args: &[&str]) -> Run {
        let r = self.t.run(args);
        if let Ok(password) = std::fs::read_to_string(self.cluster("dev").join("password")) {
            let all = format!("{}{}", r.stdout, r.stderr);
            assert!(!all.contains(password.trim()), "the password is shown:\n{all}");
        }
        r
    }

    fn status(&self) -> serde_json::Value {
        self.run(&["server", "status", "--format", "json"]).success().json()
    }

    /// The running postmaster's pid, from its pid file.
    fn postmaster(&self) -> i32 {
        let text = std::fs::read_to_string(self.cluster("dev").join("data/postmaster.pid")).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.t.run(&["server", "stop"]);
        for w in &mut self.watchdogs {
            w.finish(Duration::from_secs(30));
        }
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn made_on_first_use_started_on_demand_and_stopped() {
    let l = Local::dev();
    let r = l.run(&["server", "status"]).success().stdout.clone();
    assert!(r.contains("not made yet"), "{r}");
    // migrate opens the environment: the cluster is made, started, its database created.
    let r = l.run(&["migrate"]);
    r.success()
        .stderr_has("Initialized a PostgreSQL")
        .stderr_has("Started the local server of `dev`")
        .stderr_has("Created the database `app`")
        .stderr_has("schema version 0 → 1");
    if unsafe { libc::geteuid() } == 0 {
        r.stderr_has("run by `postgres` since root cannot run PostgreSQL");
    }
    let s = l.status();
    assert_eq!(s["running"], true, "{s}");
    assert!(s["database"].as_str().unwrap().contains("host="), "the unix socket: {s}");
    let socket = Path::new(s["socket_dir"].as_str().unwrap()).join(format!(".s.PGSQL.{}", s["port"]));
    assert!(socket.exists(), "{}", socket.display());
    // Running: reused, nothing started again.
    l.run(&["status"]).success().stderr_lacks("Started").stdout_has("version:   1 of 1");
    l.run(&["server", "start"]).success().stderr_has("Running the local server of `dev`").stderr_lacks("Started");
    let pid = l.postmaster();
    l.run(&["server", "stop"]).success().stderr_has("Stopped the local server of `dev`");
    wait_gone(pid);
    assert_eq!(l.status()["running"], false);
    l.run(&["server", "stop"]).success().stderr_has("not running");
    // Stopped: the next command that opens it starts it again and says so; the data stayed.
    l.run(&["status"]).success().stderr_has("Started the local server of `dev`").stdout_has("version:   1 of 1");
    l.run(&["server", "logs", "-n", "5"]).success().stdout_has("postgres.log <==");
}

#[test]
fn a_taken_port_moves_the_server_and_says_so() {
    let l = Local::dev();
    l.run(&["server", "start"]).success();
    let port = l.status()["port"].as_u64().unwrap() as u16;
    l.run(&["server", "stop"]).success();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    l.run(&["migrate"]).success().stderr_has(&format!("port {port} is taken"));
    let s = l.status();
    assert_eq!(s["running"], true);
    assert_ne!(s["port"].as_u64().unwrap() as u16, port);
}

#[test]
fn a_server_left_running_is_reused_and_a_killed_one_restarted() {
    let l = Local::dev();
    l.run(&["server", "start"]).success();
    let pid = l.postmaster();
    // Another envdb (its starter long gone) finds it by its pid file.
    l.run(&["migrate"]).success().stderr_lacks("Started");
    assert_eq!(l.postmaster(), pid);
    // A killed server leaves its pid file: the next command starts a new one.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_gone(pid);
    assert!(l.cluster("dev").join("data/postmaster.pid").exists(), "the stale pid file stays");
    let r = l.run(&["status"]);
    r.success().stderr_has(&format!("Removed the pid file of a local server that was killed (pid {pid})"));
    r.stderr_has("Started the local server of `dev`").stdout_has("version:   1 of 1");
    assert_ne!(l.postmaster(), pid);
}

#[test]
fn pgbouncer_stands_in_front_in_transaction_mode() {
    let l = Local::new("name = \"app\"\n[env.dev]\nserver = \"local\"\npgbouncer = true\n");
    l.run(&["migrate"]).success().stderr_has("Started the PgBouncer of `dev` (transaction pooling)");
    let s = l.status();
    let bouncer = s["pgbouncer"]["port"].as_u64().unwrap();
    assert_eq!(s["pgbouncer"]["running"], true, "{s}");
    assert!(s["database"].as_str().unwrap().contains(&format!("127.0.0.1:{bouncer}/app")), "{s}");
    let ini = std::fs::read_to_string(l.cluster("dev").join("pgbouncer.ini")).unwrap();
    assert!(ini.contains("pool_mode = transaction"), "{ini}");
    l.run(&["status"]).success().stdout_has(&format!("127.0.0.1:{bouncer}/app")).stdout_has("version:   1 of 1");
    l.run(&["server", "stop"]).success().stderr_has("Stopped the PgBouncer of `dev`");
    assert_eq!(l.status()["pgbouncer"]["running"], false);
}

#[test]
fn a_deep_data_dir_gets_a_short_socket_dir() {
    let deep = format!("var/{}", "d".repeat(90));
    let mut l = Local::new(&format!("name = \"app\"\n[env.dev]\nserver = \"local\"\ndata_dir = \"{deep}\"\n"));
    l.watch_dir(&l.t.path(&format!("{deep}/pg/dev")));
    l.run(&["server", "start"]).success();
    let s = l.status();
    let socket_dir = PathBuf::from(s["socket_dir"].as_str().unwrap());
    assert!(socket_dir.to_string_lossy().starts_with("/tmp/envdb-"), "{s}");
    assert!(socket_dir.join(format!(".s.PGSQL.{}", s["port"])).exists());
    l.run(&["migrate"]).success();
    l.run(&["server", "stop"]).success();
    let _ = std::fs::remove_dir_all(&socket_dir);
}

#[test]
fn a_data_directory_of_another_user_is_refused() {
    let l = Local::dev();
    let cluster = l.cluster("dev");
    std::fs::create_dir_all(&cluster).unwrap();
    // `nobody`: neither the tests' user nor the server's.
    std::os::unix::fs::chown(&cluster, Some(65534), Some(65534)).unwrap_or_else(|e| {
        assert_ne!(unsafe { libc::geteuid() }, 0, "root can chown: {e}");
    });
    if std::fs::metadata(&cluster).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap() != 65534 {
        return; // not root: cannot give a directory away
    }
    l.run(&["migrate"]).failure().stderr_has("belongs to `nobody`").stderr_has("nothing was started");
    assert!(!cluster.join("data").exists());
}

#[test]
fn a_project_the_server_user_cannot_enter_is_refused() {
    if unsafe { libc::geteuid() } != 0 {
        return; // the server runs as the tests' user, who enters the project
    }
    let l = Local::dev();
    std::fs::set_permissions(l.t.root(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = l.t.root().display().to_string();
    l.run(&["server", "start"]).failure().stderr_has(&format!("cannot enter {root} (mode 700")).stderr_has("chmod o+x");
    std::fs::set_permissions(l.t.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
}

#[test]
fn bad_inputs() {
    let l = Local::dev();
    l.run(&["server", "start", "--format", "json"]).code(2).stderr_has("do not print JSON");
    assert!(!l.cluster("dev").join("data").exists(), "refused before anything ran");
    // Binaries missing.
    let r = Run::from(l.t.command(&["server", "start"]).env("ENVDB_PG_BINDIR", "/nonexistent").output().unwrap());
    r.failure().stderr_has("PostgreSQL's server is not installed").stderr_has("environment `dev`");
    let r = Run::from(l.t.command(&["migrate"]).env("ENVDB_PGBOUNCER", "/nonexistent").output().unwrap());
    r.success(); // no PgBouncer asked for
    // An environment without a local server.
    l.run(&["server", "status", "--env", "test"]).failure().stderr_has("environment `test` has no local server");
    // Keys that do not go together, each naming the environment.
    for (toml, needle) in [
        (
            "[env.dev]\nserver = \"local\"\nurl = \"postgres://h/d\"\n",
            "[env.dev] has both `url` and `server = \"local\"`",
        ),
        ("[env.qa]\nserver = \"remote\"\n", "[env.qa]: server = \"remote\" is not known"),
        ("[env.dev]\npgbouncer = true\n", "[env.dev]: `pgbouncer = true` needs `server = \"local\"`"),
        (
            "[env.dev]\nserver = \"local\"\ndatabase = \"x.db\"\n",
            "[env.dev] has both `server = \"local\"` and `database`",
        ),
    ] {
        l.t.write("envdb.toml", format!("name = \"app\"\n{toml}"));
        l.run(&["status"]).failure().stderr_has(needle);
    }
}

#[test]
fn an_ephemeral_test_environment_runs_on_a_clone_of_a_migrated_template() {
    let mut l = Local::new("name = \"app\"\n[env.test]\nserver = \"local\"\nephemeral = true\n");
    l.watch("test");
    let psql = pgtest::locate::postgres_bindir().unwrap().join("psql");
    // A stand-in for cargo: writes a row, then reports the rows and the schema version it sees.
    let cargo = l.t.path("fake-cargo.sh");
    std::fs::write(
        &cargo,
        "#!/bin/sh\n\"$PSQL\" \"$DATABASE_URL\" -Atq -c \"INSERT INTO item VALUES (1, 'x')\" -c 'SELECT count(*) FROM item' -c 'SELECT max(version) FROM envdb_migrations' > child.txt 2>&1\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let test = |l: &Local| {
        let mut cmd = l.t.command(&["test"]);
        cmd.env("CARGO", &cargo).env("PSQL", &psql);
        Run::from(cmd.output().unwrap())
    };
    let r = test(&l);
    r.code(3).stderr_has("Prepared the template `app__template`: schema version 1");
    r.stderr_has("Cloned `app` from `app__template`").stderr_has("Dropped `app` (ephemeral)");
    assert_eq!(l.t.read("child.txt"), "1\n1\n", "a migrated database, written to");
    // The next run: the same template, a new clone (the row is gone).
    let r = test(&l);
    r.code(3).stderr_lacks("Prepared").stderr_has("Cloned");
    assert_eq!(l.t.read("child.txt"), "1\n1\n");
    // New migrations: the template is made again.
    l.t.write("migrations/0002_more.sql", "ALTER TABLE item ADD COLUMN note text;\n");
    l.t.run(&["hash"]).success();
    test(&l).code(3).stderr_has("Prepared the template `app__template`: schema version 2");
    assert_eq!(l.t.read("child.txt"), "1\n2\n");
    // Dropped after the run: nothing named `app` on the server.
    let status = l.t.run(&["status", "--env", "test", "--format", "json"]);
    assert_eq!(status.json()["exists"], false, "{}", status.stdout);
    // Behind PgBouncer: its idle server connections to the template and the clone are no
    // obstacle, and a missing database is found missing at once.
    l.t.write("envdb.toml", "name = \"app\"\n[env.test]\nserver = \"local\"\nephemeral = true\npgbouncer = true\n");
    for _ in 0..2 {
        let started = Instant::now();
        test(&l).code(3).stderr_has("Cloned").stderr_has("Dropped");
        assert_eq!(l.t.read("child.txt"), "1\n2\n");
        assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    }
    l.t.run(&["server", "stop", "--env", "test"]).success();
}

#[test]
fn status_all_is_one_row_per_environment_and_starts_nothing() {
    let toml = "name = \"app\"\n[env.dev]\nserver = \"local\"\npgbouncer = true\n[env.staging]\nurl = \"postgres://u:hunter2@127.0.0.1:1/x\"\n[env.qa]\nurl = \"${QA_URL}\"\n";
    let l = Local::new(toml);
    l.run(&["migrate", "--env", "test"]).success();
    l.run(&["backup", "--env", "test"]).success();
    let rows = |l: &Local| {
        let r = l.run(&["status", "--all", "--format", "json"]);
        r.success();
        assert!(!r.stdout.contains("hunter2"), "{}", r.stdout);
        let json = r.json();
        let rows = json.as_array().unwrap().clone();
        let by = |env: &str| rows.iter().find(|r| r["environment"] == env).unwrap().clone();
        (by("dev"), by("test"), by("staging"), by("qa"), by("prod"))
    };
    let (dev, test, staging, qa, prod) = rows(&l);
    assert_eq!((dev["reachable"].clone(), dev["local_server"]["running"].clone()), (false.into(), false.into()));
    assert!(dev["error"].as_str().unwrap().contains("server start --env dev"), "{dev}");
    assert!(!l.cluster("dev").join("data").exists(), "status --all starts (and makes) nothing");
    assert_eq!(
        (test["backend"].as_str(), test["schema_version"].as_u64(), test["pending"].as_u64()),
        (Some("sqlite"), Some(1), Some(0))
    );
    assert_eq!(test["last_verified_backup"]["version"], 1, "{test}");
    assert_eq!(staging["reachable"], false);
    assert!(staging["error"].as_str().unwrap().contains("127.0.0.1:1"), "{staging}");
    assert!(qa["error"].as_str().unwrap().contains("$QA_URL"), "{qa}");
    assert_eq!((prod["protected"].clone(), prod["exists"].clone()), (true.into(), false.into()));

    l.run(&["migrate"]).success();
    let (dev, ..) = rows(&l);
    assert_eq!(dev["reachable"], true, "{dev}");
    assert!(dev["server_version"].as_str().unwrap().starts_with("PostgreSQL 15"), "{dev}");
    assert_eq!((dev["schema_version"].as_u64(), dev["pending"].as_u64()), (Some(1), Some(0)));
    assert!(dev["connections"].as_u64().unwrap() >= 1 && dev["size_bytes"].as_u64().unwrap() > 0, "{dev}");
    assert_eq!(
        (dev["local_server"]["running"].clone(), dev["local_server"]["pgbouncer_running"].clone()),
        (true.into(), true.into())
    );
    let port = l.status()["pgbouncer"]["port"].as_u64().unwrap();
    assert_eq!(dev["address"], format!("127.0.0.1:{port}"));
    // The table: a row each, and why the unreachable ones were not reached.
    let r = l.run(&["status", "--all"]);
    r.success().stdout_has("LAST VERIFIED BACKUP").stdout_has("running (pid").stdout_has("staging: cannot reach");
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("qa ")).count(), 1, "{}", r.stdout);
}

#[test]
fn the_runtime_opens_a_running_local_server_and_names_a_stopped_one() {
    use envdb::environment::{Dirs, Environments};
    let l = Local::dev();
    let config = envdb::config::Config::parse(&l.t.read("envdb.toml")).unwrap();
    let dirs = Dirs { data_dir: Some(l.t.path("xdg")), home: Some(l.t.root().to_owned()) };
    let resolve = || {
        let envs = Environments::load(&config, l.t.root(), "app", &dirs).unwrap();
        envs.resolve(None, Some("dev"), &|_| None).unwrap()
    };
    static NONE: &[envdb::embedded::RawMigration] = &[];
    let migrations = envdb::Migrations::from_raw(NONE);
    let err = envdb::PgDb::open_env(&resolve(), &migrations).unwrap_err().to_string();
    assert!(err.contains("the local PostgreSQL server of `dev`") && err.contains("server start --env dev"), "{err}");
    l.run(&["server", "start"]).success();
    let db = envdb::PgDb::open_env(&resolve(), &migrations).unwrap();
    drop(db);
}

/// The pid of a running (not zombie) initdb whose arguments name `cluster`.
fn initdb_of(cluster: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args = String::from_utf8_lossy(&cmdline);
        (args.split('\0').next()?.ends_with("/initdb") && args.contains(cluster) && alive(pid)).then_some(pid)
    })
}

/// Whether process `pid` has a SIGKILL waiting (`SigPnd` or `ShdPnd` in its status), or is gone.
fn sigkill_pending(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return true };
    status.lines().filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:")).any(|l| {
        u64::from_str_radix(l.split_whitespace().nth(1).unwrap_or("0"), 16).is_ok_and(|mask| mask & (1 << 8) != 0)
    })
}

#[test]
fn an_envdb_killed_while_making_or_starting_the_server_leaves_nothing_the_next_start_trips_on() {
    let l = Local::dev();
    let data = l.cluster("dev").join("data");
    // From the first instant to well past initdb (about a second): killed while making the
    // cluster, while pg_ctl starts it, or after.
    for delay in [5, 30, 100, 300, 600, 900, 1200, 1600] {
        let mut child = l.t.command(&["server", "start"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        // Its initdb, if one ran, was killed with it: gone, or (held in a disk write) with its
        // SIGKILL pending; one that runs on without it outlived its envdb.
        let cluster = l.cluster("dev").display().to_string();
        std::thread::sleep(Duration::from_millis(200));
        if let Some(pid) = initdb_of(&cluster) {
            assert!(sigkill_pending(pid), "after {delay} ms, an initdb (pid {pid}) outlived its envdb");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while initdb_of(&cluster).is_some() {
            assert!(Instant::now() < deadline, "after {delay} ms, a killed initdb is still there");
            std::thread::sleep(Duration::from_millis(20));
        }
        l.run(&["server", "start"]).success();
        assert!(data.join("PG_VERSION").exists(), "after {delay} ms");
        l.run(&["migrate", "-q"]).success();
        l.run(&["server", "stop"]).success();
        std::fs::remove_dir_all(&data).unwrap();
    }
    assert!(
        std::fs::read_dir(l.cluster("dev"))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with("data.init-")),
        "no unfinished cluster left"
    );
}
