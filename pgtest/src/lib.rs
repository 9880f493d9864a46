//! A throwaway PostgreSQL server with a PgBouncer in front, for envdb's tests (dev-only, never
//! published): one server per test process, started on first use from the machine's binaries,
//! one database per test, and everything stopped and removed when the test process ends, however
//! it ends.
//!
//! ```no_run
//! let db = pgtest::database(); // `CREATE DATABASE t_<n>`, dropped with `db`
//! let mut client = db.connect(pgtest::Via::Bouncer);
//! client.batch_execute("CREATE TABLE t (x int)").unwrap();
//! ```
//!
//! Clients use the simple-query protocol only (`simple_query`, `batch_execute`): PgBouncer in
//! transaction mode (1.18) has no prepared statements.

mod config;
#[path = "../../src/local_server/locate.rs"]
pub mod locate;
/// The client the harness and its tests use (synchronous; simple-query protocol only).
pub use postgres;
mod tls;
pub mod watchdog;

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use watchdog::Watchdog;

/// The role tests connect as: a password over TCP (SCRAM), CREATEDB, owner of every test database.
pub const ROLE: &str = "envdb_test";
/// The superuser, reached over the unix socket only (trust).
pub const SUPERUSER: &str = "postgres";

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Loopback TCP straight to PostgreSQL, password authentication (SCRAM).
    Tcp,
    /// The unix socket, trust authentication (no password).
    Socket,
    /// PgBouncer in transaction pooling mode, over loopback TCP, password authentication (SCRAM).
    Bouncer,
}

/// Why the server could not be started (the message says what to do).
#[derive(Debug)]
pub struct StartError(String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Where the server's directory goes: `/dev/shm` (memory) when it has 4 GiB free, so that
/// tests and the bench do not wait on the disk (creating databases writes many files), else
/// `/tmp`. Both keep the socket paths short.
pub fn base_dir() -> &'static Path {
    const ROOM: u64 = 4 << 30;
    let shm = Path::new("/dev/shm");
    let free = || {
        let path = std::ffi::CString::new("/dev/shm").ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed statvfs for the call to fill.
        (unsafe { libc::statvfs(path.as_ptr(), &mut st) } == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    };
    if shm.is_dir() && free().is_some_and(|f| f >= ROOM) { shm } else { Path::new("/tmp") }
}

fn fail<T>(message: impl Into<String>) -> Result<T, StartError> {
    Err(StartError(message.into()))
}

/// A running PostgreSQL cluster and its PgBouncer, in a short directory `envdb-pg-XXXXXX` under
/// [`base_dir`] (data directory, unix sockets, logs, pid files). Dropping it (or, for [`shared`], the end of
/// the test process) stops both and removes the directory.
pub struct Server {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    bouncer_port: u16,
    password: String,
    /// The uid and gid the server runs as when the tests run as root (initdb, postgres and
    /// pgbouncer refuse root).
    owner: Option<(u32, u32)>,
    watchdog: Mutex<Option<Watchdog>>,
    next_db: AtomicU32,
}

static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();

/// The test process's server, started on first use and stopped when the process ends. Panics
/// with the reason (and what to install) when it cannot start.
pub fn shared() -> &'static Server {
    let server = SHARED.get_or_init(|| {
        let server = Server::start().map_err(|e| e.to_string());
        if server.is_ok() {
            // A normal end of the test binary (all passed, or some failed or panicked) waits for
            // the watchdog here, so nothing is left when `cargo test` returns; a killed process
            // leaves that to the watchdog alone.
            unsafe { libc::atexit(stop_shared) };
        }
        server
    });
    match server {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

/// A fresh database on the [`shared`] server, dropped with the handle.
pub fn database() -> Database<'static> {
    shared().database()
}

extern "C" fn stop_shared() {
    if let Some(Ok(server)) = SHARED.get() {
        server.stop();
    }
}

impl Server {
    /// Starts a server of its own (for a test that restarts or breaks it); most tests share
    /// [`shared`]'s.
    pub fn start() -> Result<Server, StartError> {
        let Some(bindir) = locate::postgres_bindir() else {
            return fail(
                "PostgreSQL's server is not installed (no initdb and pg_ctl in `pg_config --bindir`, \
                 /usr/lib/postgresql/<version>/bin or PATH): run `cargo xtask test`, which installs \
                 postgresql and pgbouncer, or `apt-get install postgresql pgbouncer` \
                 (ENVDB_PG_BINDIR, when set, is the only directory looked in)",
            );
        };
        let Some(pgbouncer) = locate::pgbouncer() else {
            return fail(
                "PgBouncer is not installed (no pgbouncer on PATH or in /usr/sbin): run `cargo xtask test`, \
                 which installs postgresql and pgbouncer, or `apt-get install pgbouncer` \
                 (ENVDB_PGBOUNCER, when set, is the only executable looked for)",
            );
        };
        let owner = owner()?;
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("envdb-pg-")
            .tempdir_in(base)
            .map_err(|e| {
                StartError(format!("cannot create a directory in {} for the test server: {e}", base.display()))
            })?
            .keep();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| StartError(format!("cannot give {} to the postgres user: {e}", dir.display())))?;
        }
        // The watchdog first: from here on, any failure (or death) of this process cleans up.
        let watchdog = Watchdog::start(&dir, owner)
            .map_err(|e| StartError(format!("cannot start the test server's watchdog (sh): {e}")))?;
        let mut server = Server {
            dir,
            bindir,
            port: 0,
            bouncer_port: 0,
            password: random_password()?,
            owner,
            watchdog: Mutex::new(Some(watchdog)),
            next_db: AtomicU32::new(1),
        };
        server.init_postgres()?;
        server.start_bouncer(&pgbouncer)?;
        Ok(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init_postgres(&mut self) -> Result<(), StartError> {
        let data = self.data();
        let initdb = self.bindir.join("initdb");
        self.run(
            Command::new(&initdb)
                .arg("-D")
                .arg(&data)
                .args(["-U", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256"])
                .args(["--no-sync", "--encoding=UTF8", "--locale=C"]),
        )?;
        let conf = data.join("postgresql.conf");
        let initial =
            std::fs::read_to_string(&conf).map_err(|e| StartError(format!("cannot read {}: {e}", conf.display())))?;
        let log = self.dir.join("postgres.log");
        let mut last = String::new();
        // A free port may be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port()?;
            std::fs::write(&conf, initial.clone() + &config::postgresql(&self.dir, port))
                .map_err(|e| StartError(format!("cannot write {}: {e}", conf.display())))?;
            let started = self.run(
                Command::new(self.bindir.join("pg_ctl"))
                    .args(["start", "-w", "-t", "60", "-s", "-D"])
                    .arg(&data)
                    .arg("-l")
                    .arg(&log),
            );
            match started {
                Ok(_) => {
                    self.port = port;
                    let sql = format!("CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{}'", self.password);
                    return self
                        .admin_try()?
                        .batch_execute(&sql)
                        .map_err(|e| StartError(format!("cannot create the role {ROLE} on the test server: {e}")));
                }
                Err(e) => last = format!("{e}\n{}", tail(&log)),
            }
        }
        fail(format!("the test server did not start on any of 5 free ports; the last attempt: {last}"))
    }

    fn start_bouncer(&mut self, pgbouncer: &Path) -> Result<(), StartError> {
        self.write_owned("userlist.txt", &config::userlist(ROLE, &self.password), 0o600)?;
        let log = self.dir.join("pgbouncer.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            self.write_owned("pgbouncer.ini", &config::pgbouncer(&self.dir, port, self.port, ROLE), 0o600)?;
            let started = self.run(Command::new(pgbouncer).arg("-d").arg("-q").arg(self.dir.join("pgbouncer.ini")));
            let deadline = Instant::now() + Duration::from_secs(10);
            if started.is_ok() {
                self.bouncer_port = port;
                loop {
                    match postgres::Client::connect(&self.url(Via::Bouncer, "postgres"), postgres::NoTls) {
                        Ok(_) => return Ok(()),
                        Err(e) if Instant::now() >= deadline => {
                            last = format!("cannot connect through it: {e}");
                            break;
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
            last = format!("{}\n{}", started.err().map(|e| e.0).unwrap_or(last), tail(&log));
            self.stop_bouncer();
        }
        fail(format!("PgBouncer did not start on any of 5 free ports; the last attempt: {last}"))
    }

    /// Stops a PgBouncer left by a failed attempt, by its pid file.
    fn stop_bouncer(&self) {
        let pid = std::fs::read_to_string(self.dir.join("pgbouncer.pid")).ok();
        if let Some(pid) = pid.and_then(|p| p.trim().parse::<libc::pid_t>().ok()) {
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Writes `name` in the run's directory, readable by the server's owner only.
    fn write_owned(&self, name: &str, content: &str, mode: u32) -> Result<(), StartError> {
        let path = self.dir.join(name);
        let written = std::fs::write(&path, content)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .and_then(|()| match self.owner {
                Some((uid, gid)) => std::os::unix::fs::chown(&path, Some(uid), Some(gid)),
                None => Ok(()),
            });
        written.map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))
    }

    /// Runs one of the server's programs as its owner, in the run's directory.
    fn run(&self, cmd: &mut Command) -> Result<Output, StartError> {
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let out = cmd.output().map_err(|e| StartError(format!("cannot run {program}: {e}")))?;
        if !out.status.success() {
            return fail(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(out)
    }

    /// Turns TLS on (`ssl = on`, reloaded) with a new CA and a certificate for `localhost`;
    /// returns the CA certificate's file, for a client's `SSL_CERT_FILE`. For a server of its
    /// own ([`Server::start`]): the shared one stays without TLS.
    pub fn enable_tls(&self) -> Result<PathBuf, StartError> {
        let pems = tls::generate().map_err(|e| StartError(format!("cannot make the test certificates: {e}")))?;
        let data = self.data();
        let write = |path: PathBuf, text: &str, mode: u32| -> Result<(), StartError> {
            use std::os::unix::fs::PermissionsExt as _;
            let failed = |e: std::io::Error| StartError(format!("cannot write {}: {e}", path.display()));
            std::fs::write(&path, text).map_err(failed)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(failed)?;
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(failed)?;
            }
            Ok(())
        };
        write(data.join("server.crt"), &pems.cert, 0o644)?;
        write(data.join("server.key"), &pems.key, 0o600)?;
        let ca = self.dir.join("ca.crt");
        write(ca.clone(), &pems.ca, 0o644)?;
        let conf = data.join("postgresql.conf");
        let mut text =
            std::fs::read_to_string(&conf).map_err(|e| StartError(format!("cannot read {}: {e}", conf.display())))?;
        text.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        write(conf, &text, 0o600)?;
        self.run(Command::new(self.bindir.join("pg_ctl")).args(["reload", "-s", "-D"]).arg(&data))?;
        // A reload is asynchronous: wait until the server says TLS is on.
        for _ in 0..100 {
            let on = self.admin_try()?.simple_query("SHOW ssl").ok().and_then(|rows| {
                rows.into_iter().find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v == "on"),
                    _ => None,
                })
            });
            if on == Some(true) {
                return Ok(ca);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        fail("the test server did not turn TLS on after a reload")
    }

    /// Restarts PostgreSQL (`pg_ctl restart -m fast`): every connection is cut, PgBouncer stays.
    pub fn restart(&self) -> Result<(), StartError> {
        self.run(
            Command::new(self.bindir.join("pg_ctl"))
                .args(["restart", "-w", "-t", "60", "-s", "-m", "fast", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log")),
        )
        .map(drop)
    }

    /// Stops PgBouncer and PostgreSQL and removes the directory (waits up to 30 s). Later calls
    /// do nothing.
    pub fn stop(&self) {
        let watchdog = self.watchdog.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut watchdog) = watchdog {
            watchdog.finish(Duration::from_secs(30));
        }
    }

    /// A fresh database owned by [`ROLE`] (`CREATE DATABASE t_<n>`), dropped with the handle.
    /// Panics with the server's message when it cannot be created.
    pub fn database(&self) -> Database<'_> {
        let name = format!("t_{}", self.next_db.fetch_add(1, Ordering::Relaxed));
        if let Err(e) = self.admin().batch_execute(&format!("CREATE DATABASE {name} OWNER {ROLE}")) {
            panic!("cannot create the test database {name}: {e}");
        }
        Database { server: self, name }
    }

    /// A superuser session over the unix socket, on the `postgres` database.
    pub fn admin(&self) -> postgres::Client {
        self.admin_try().unwrap_or_else(|e| panic!("{e}"))
    }

    fn admin_try(&self) -> Result<postgres::Client, StartError> {
        postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .map_err(|e| StartError(format!("cannot connect to the test server as {SUPERUSER}: {e}")))
    }

    /// The superuser's URL (unix socket, trust).
    pub fn admin_url(&self) -> String {
        socket_url(&self.dir, self.port, SUPERUSER, "postgres")
    }

    /// The URL of database `db` for [`ROLE`], with its password where the way needs one.
    pub fn url(&self, via: Via, db: &str) -> String {
        self.url_with_password(via, db, &self.password)
    }

    /// As [`Server::url`] with another password (a wrong one, for a test); the socket needs none.
    pub fn url_with_password(&self, via: Via, db: &str, password: &str) -> String {
        self.url_as(via, db, ROLE, password)
    }

    /// The URL of database `db` for another role (one a test created with the superuser, e.g.
    /// without some privilege). PgBouncer knows [`ROLE`] only, so `Via::Bouncer` refuses others.
    pub fn url_as(&self, via: Via, db: &str, user: &str, password: &str) -> String {
        match via {
            Via::Tcp => format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port),
            Via::Bouncer => format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.bouncer_port),
            Via::Socket => socket_url(&self.dir, self.port, user, db),
        }
    }

    /// The run's directory: the unix sockets (`.s.PGSQL.<port>`), `data/`, the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PostgreSQL's bin directory (psql, pg_dump, pg_ctl…).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// PostgreSQL's loopback TCP port (also the number in its socket's name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PgBouncer's loopback TCP port.
    pub fn bouncer_port(&self) -> u16 {
        self.bouncer_port
    }

    /// [`ROLE`]'s password (random for each server; never printed by this crate).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("bouncer_port", &self.bouncer_port)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

/// One test's database on a [`Server`], dropped (`DROP DATABASE … WITH (FORCE)`) with the handle.
#[derive(Debug)]
pub struct Database<'s> {
    server: &'s Server,
    name: String,
}

impl Database<'_> {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn server(&self) -> &Server {
        self.server
    }

    /// This database's URL for [`ROLE`] (see [`Server::url`]).
    pub fn url(&self, via: Via) -> String {
        self.server.url(via, &self.name)
    }

    /// This database's URL with another password.
    pub fn url_with_password(&self, via: Via, password: &str) -> String {
        self.server.url_with_password(via, &self.name, password)
    }

    /// A session as [`ROLE`]; panics with the server's message when it cannot connect.
    pub fn connect(&self, via: Via) -> postgres::Client {
        postgres::Client::connect(&self.url(via), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {} via {via:?}: {e}", self.name))
    }
}

impl Drop for Database<'_> {
    fn drop(&mut self) {
        // Nothing to report from a drop: a database left behind goes with the server.
        if let Ok(mut admin) = self.server.admin_try() {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `postgres:///DB?host=DIR&port=PORT&user=USER`: understood by the `postgres` crate, libpq and psql.
fn socket_url(dir: &Path, port: u16, user: &str, db: &str) -> String {
    format!("postgres:///{db}?host={}&port={port}&user={user}", dir.display())
}

/// Whom the server runs as: the `postgres` user when the tests run as root, else the tests' user.
pub fn owner() -> Result<Option<(u32, u32)>, StartError> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    // SAFETY: `pwd`, `buf` and `found` outlive the call, and `buf.len()` is its size.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwnam_r(c"postgres".as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return fail(
            "the tests run as root, which initdb, postgres and pgbouncer refuse, and there is no `postgres` \
             user to run them as: install postgresql (`apt-get install postgresql` creates it)",
        );
    }
    Ok(Some((pwd.pw_uid, pwd.pw_gid)))
}

/// A loopback TCP port nobody listens on now.
fn free_port() -> Result<u16, StartError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| StartError(format!("cannot find a free loopback port: {e}")))
}

/// 32 hex digits from the kernel's random source.
fn random_password() -> Result<String, StartError> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| StartError(format!("cannot read /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last lines of a log, for an error message (the run's directory is removed afterwards).
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(10);
    format!("{}:\n{}", log.display(), lines[start..].join("\n"))
}
