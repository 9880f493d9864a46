//! Making, starting and stopping an environment's local server: `initdb` on first use (as the
//! current user, or `postgres` under root), `pg_ctl` on a free loopback port and the unix
//! socket, the environment's database created, PgBouncer with it when asked. A server left
//! running (by a killed envdb, or another shell) is found by its `postmaster.pid` and reused; a
//! pid file left by a killed server is PostgreSQL's to replace on the next start.

use super::owner::ServerUser;
use super::pidfile::PidFile;
use super::{LocalError, LocalSpec, SETTINGS, SUPERUSER, bouncer, locate};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Tells the user what happened: a status verb (`Started`, `Moving`, …) and the text.
pub type Say<'a> = &'a mut dyn FnMut(&str, String);

/// How long a start (or a server found starting) may take.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Free ports tried when the chosen one is taken by the time the server binds it.
const PORT_TRIES: usize = 5;

/// The running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub pid: i32,
    pub port: u16,
    /// Whether it was running already (not started by this call).
    pub already: bool,
}

/// Starts the environment's server (making its cluster on first use) unless it runs, creates
/// its database when missing (not an ephemeral environment's), and starts its PgBouncer when it has one; says what it did.
pub fn ensure_running(spec: &LocalSpec, say: Say<'_>) -> Result<Running, LocalError> {
    let env = spec.env.as_str();
    let user = ServerUser::pick(env)?;
    let bindir = locate::postgres_bindir().ok_or_else(|| LocalError::NotInstalled { env: env.to_owned() })?;
    prepare(spec, &user)?;
    if !spec.initialized() {
        initdb(spec, &user, &bindir, say)?;
    }
    wait_whole_pid_file(&spec.data());
    if let Some(stale) = PidFile::read(&spec.data()).filter(|p| !p.alive()) {
        remove_stale(spec, &stale)?;
        say("Removed", format!("the pid file of a local server that was killed (pid {})", stale.pid));
    }
    let running = match PidFile::read(&spec.data()).filter(PidFile::alive) {
        Some(found) => match wait_ready(spec, found)? {
            Some(ready) => Running { pid: ready.pid, port: ready.port, already: true },
            None => start(spec, &user, &bindir, say)?,
        },
        None => start(spec, &user, &bindir, say)?,
    };
    let url = spec.socket_url(&spec.dbname);
    let opts = crate::db::postgres::PgOptions::default();
    let created = !spec.ephemeral
        && crate::db::postgres::ensure_database(url.expose_secret(), &url.redacted(), &opts)
            .map_err(|source| LocalError::Database { env: env.to_owned(), source })?;
    if created {
        say("Created", format!("the database `{}` on the local server of `{env}`", spec.dbname));
    }
    if spec.pgbouncer {
        bouncer::ensure(spec, &user, running.port, say)?;
    }
    Ok(running)
}

/// Stops PgBouncer and the server (fast shutdown: sessions are cut). Returns whether the server
/// was running.
pub fn stop(spec: &LocalSpec, say: Say<'_>) -> Result<bool, LocalError> {
    let env = spec.env.as_str();
    if bouncer::stop(spec) {
        say("Stopped", format!("the PgBouncer of `{env}`"));
    }
    let Some(found) = spec.running() else { return Ok(false) };
    let user = ServerUser::pick(env)?;
    let bindir = locate::postgres_bindir().ok_or_else(|| LocalError::NotInstalled { env: env.to_owned() })?;
    let mut cmd = Command::new(bindir.join("pg_ctl"));
    cmd.args(["stop", "-w", "-t", "60", "-s", "-m", "fast", "-D"]).arg(spec.data());
    run(spec, &user, &mut cmd)?;
    say("Stopped", format!("the local server of `{env}` (pid {})", found.pid));
    Ok(true)
}

/// The cluster's directory (and the socket's, when it is elsewhere), made and checked: reachable
/// by the server's user, owned by it.
fn prepare(spec: &LocalSpec, user: &ServerUser) -> Result<(), LocalError> {
    let env = spec.env.as_str();
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| LocalError::Io { env: env.to_owned(), action, path, source }
    };
    let parent = spec.cluster.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    user.check_reaches(env, &spec.cluster)?;
    let socket_dir = spec.socket_dir();
    for dir in [&spec.cluster, &socket_dir] {
        if !dir.exists() {
            std::fs::create_dir(dir).map_err(io("cannot create", dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io("cannot set the mode of", dir))?;
            user.chown(env, dir)?;
        }
        user.check_owns(env, dir)?;
    }
    user.check_owns(env, &spec.data())
}

/// Makes the cluster: a random superuser password, `initdb` into `data.init-<pid>`, envdb's
/// settings, then the rename to `data`; so `data` is always a whole cluster, and the remains of
/// an envdb killed while making one (its pid gone) are removed first.
fn initdb(spec: &LocalSpec, user: &ServerUser, bindir: &Path, say: Say<'_>) -> Result<(), LocalError> {
    let env = spec.env.as_str();
    let data = spec.data();
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| LocalError::Io { env: env.to_owned(), action, path, source }
    };
    let mut unfinished: Vec<PathBuf> = unfinished_clusters(&spec.cluster);
    if data.exists() {
        unfinished.push(data.clone());
    }
    // Moved aside first: an initdb the killed run left may still be writing into it (the
    // rename makes its next write fail), so removing it in place could race that writer.
    for (i, dir) in unfinished.into_iter().enumerate() {
        wait_unused(&dir);
        let aside = spec.cluster.join(format!("data.removing-{}-{i}", std::process::id()));
        std::fs::rename(&dir, &aside).map_err(io("cannot move aside the unfinished cluster", &dir))?;
        let removed = (0..50).any(|_| {
            std::fs::remove_dir_all(&aside).is_ok() || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        let what = if removed { "Removed" } else { "Left" };
        say(what, format!("the unfinished cluster {} (an initdb that did not end)", dir.display()));
    }
    let password = spec.password_file();
    if !password.exists() {
        write_owned(spec, user, &password, &random_hex()?)?;
    }
    let partial = spec.cluster.join(format!("data.init-{}", std::process::id()));
    // Tied to this process: an initdb that outlived a killed envdb would go on writing into the
    // cluster the next start clears.
    let mut cmd = crate::db::postgres::tools::tied(&bindir.join("initdb"));
    cmd.arg("-D")
        .arg(&partial)
        .args(["-U", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"])
        .arg(format!("--pwfile={}", password.display()));
    // Its own log while it runs (two starts at once would share one); the last one that
    // finished is initdb.log.
    let log = spec.cluster.join(format!("initdb-{}.log", std::process::id()));
    run_logged(spec, user, &mut cmd, &log)?;
    let _ = std::fs::rename(&log, spec.cluster.join("initdb.log"));
    let conf = partial.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).map_err(io("cannot read", &conf))?;
    text.push_str(&format!("\n# envdb: where the local server listens\ninclude_if_exists = '{SETTINGS}'\n"));
    write_owned(spec, user, &conf, &text)?;
    write_settings(spec, user, &partial, free_port(env)?)?;
    std::fs::rename(&partial, &data).map_err(io("cannot rename the new cluster to data in", &spec.cluster))?;
    let who = if user.switched {
        format!(", run by `{}` since root cannot run PostgreSQL", user.name)
    } else {
        format!(", run by `{}`", user.name)
    };
    let version = spec.version().unwrap_or_default();
    say("Initialized", format!("a PostgreSQL {version} cluster for `{env}` in {}{who}", spec.cluster.display()));
    Ok(())
}

/// The `data.init-<pid>` directories of envdb runs that no longer run (and the
/// `data.removing-<pid>-<n>` ones such a run could not finish removing).
fn unfinished_clusters(cluster: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(cluster).into_iter().flatten().flatten();
    entries
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("data.init-").or_else(|| name.strip_prefix("data.removing-"))?;
            let pid: i32 = rest.split('-').next()?.parse().ok()?;
            (!super::pidfile::process_alive(pid)).then(|| e.path())
        })
        .collect()
}

/// Starts the server on its recorded port, or on a free one when that is taken (said).
fn start(spec: &LocalSpec, user: &ServerUser, bindir: &Path, say: Say<'_>) -> Result<Running, LocalError> {
    let env = spec.env.as_str();
    let mut last = String::new();
    let killed_deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    while attempt < PORT_TRIES {
        let recorded = spec.recorded_port();
        let port = match recorded {
            Some(port) if attempt == 0 && port_free(port) => port,
            _ => {
                let port = free_port(env)?;
                if let Some(old) = recorded {
                    say("Moving", format!("the local server of `{env}` to port {port}: port {old} is taken"));
                }
                write_settings(spec, user, &spec.data(), port)?;
                port
            }
        };
        let mut cmd = Command::new(bindir.join("pg_ctl"));
        cmd.args(["start", "-w", "-t", &READY_WITHIN.as_secs().to_string(), "-s", "-D"])
            .arg(spec.data())
            .arg("-l")
            .arg(spec.log());
        match run(spec, user, &mut cmd) {
            Ok(_) => {
                let pid = PidFile::read(&spec.data()).map_or(0, |p| p.pid);
                let version = spec.version().unwrap_or_default();
                say(
                    "Started",
                    format!(
                        "the local server of `{env}` (PostgreSQL {version}, pid {pid}) on 127.0.0.1:{port} and {}",
                        spec.socket_dir().display()
                    ),
                );
                return Ok(Running { pid, port, already: false });
            }
            Err(e) => {
                // Another start won the race (a concurrent envdb, or the pg_ctl of one that was
                // killed): its server is this cluster's.
                wait_whole_pid_file(&spec.data());
                if let Some(other) = PidFile::read(&spec.data()).filter(PidFile::alive)
                    && let Some(ready) = wait_ready(spec, other)?
                {
                    return Ok(Running { pid: ready.pid, port: ready.port, already: true });
                }
                let log = tail(&spec.log(), 10);
                if log.contains("is still in use") && Instant::now() < killed_deadline {
                    // A killed server's children are still ending (they hold its shared memory
                    // until they notice): wait for them, on the same port.
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                if !log.contains("could not bind") && !log.contains("could not create any TCP/IP sockets") {
                    return Err(e);
                }
                last = format!("{e}\n{log}");
                attempt += 1;
            }
        }
    }
    Err(LocalError::NoPort { env: env.to_owned(), data: spec.data(), tries: PORT_TRIES, last })
}

/// Waits for a server found running to be ready; `None` when it ended meanwhile (it is then
/// started again).
fn wait_ready(spec: &LocalSpec, found: PidFile) -> Result<Option<PidFile>, LocalError> {
    let deadline = Instant::now() + READY_WITHIN;
    let mut current = found;
    loop {
        if current.status == "ready" {
            return Ok(Some(current));
        }
        if Instant::now() >= deadline {
            return Err(LocalError::NotReady {
                env: spec.env.clone(),
                pid: current.pid,
                data: spec.data(),
                secs: READY_WITHIN.as_secs(),
                log: spec.log(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        match PidFile::read(&spec.data()).filter(PidFile::alive) {
            Some(p) => current = p,
            None => return Ok(None),
        }
    }
}

/// Waits (up to 5 s) while a process works in `dir` (its current directory): the bootstrap
/// backends of an initdb that died with its envdb read the end of their input and exit on their
/// own, while a directory removed under them ends them before they free their shared memory.
fn wait_unused(dir: &Path) {
    let in_use = || {
        std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
            e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                && std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_use() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 10 s) while `postmaster.pid` exists but is not whole yet: a server starting
/// (its envdb killed meanwhile) writes it line by line.
fn wait_whole_pid_file(data: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while data.join("postmaster.pid").exists() && PidFile::read(data).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the lock files of a server that was killed: PostgreSQL takes a pid that still
/// exists as a zombie (no init reaps it in a container) for a running server, and refuses to
/// start.
fn remove_stale(spec: &LocalSpec, stale: &PidFile) -> Result<(), LocalError> {
    let socket_dir = if stale.socket_dir.as_os_str().is_empty() { spec.socket_dir() } else { stale.socket_dir.clone() };
    let socket = socket_dir.join(format!(".s.PGSQL.{}", stale.port));
    let lock = socket_dir.join(format!(".s.PGSQL.{}.lock", stale.port));
    let same_pid = std::fs::read_to_string(&lock)
        .is_ok_and(|t| t.lines().next().is_some_and(|l| l.trim() == stale.pid.to_string()));
    let mut files = vec![spec.data().join("postmaster.pid")];
    if same_pid {
        files.extend([lock, socket]);
    }
    for file in files {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LocalError::Io { env: spec.env.clone(), action: "cannot remove", path: file, source: e });
            }
            _ => {}
        }
    }
    Ok(())
}

/// `<data>/envdb.conf`: loopback TCP on `port`, the unix socket in the socket directory.
fn write_settings(spec: &LocalSpec, user: &ServerUser, data: &Path, port: u16) -> Result<(), LocalError> {
    let text = format!(
        "# Written by envdb (the local server of `{}`); the port moves when it is taken.\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{}'\n",
        spec.env,
        spec.socket_dir().display()
    );
    write_owned(spec, user, &data.join(SETTINGS), &text)
}

/// Writes a file of the server's (mode 0600, owned by its user).
pub(super) fn write_owned(spec: &LocalSpec, user: &ServerUser, path: &Path, text: &str) -> Result<(), LocalError> {
    let failed =
        |source| LocalError::Io { env: spec.env.clone(), action: "cannot write", path: path.to_owned(), source };
    std::fs::write(path, text).map_err(failed)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    user.chown(&spec.env, path)
}

/// Runs one of the server's programs as its user, in the cluster's directory.
pub(super) fn run(spec: &LocalSpec, user: &ServerUser, cmd: &mut Command) -> Result<Output, LocalError> {
    cmd.current_dir(&spec.cluster).stdin(Stdio::null());
    user.apply(cmd);
    let program = PathBuf::from(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|source| LocalError::Io {
        env: spec.env.clone(),
        action: "cannot run",
        path: PathBuf::from(cmd.get_program()),
        source,
    })?;
    if !out.status.success() {
        let output =
            shown(&format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
        return Err(LocalError::Program {
            env: spec.env.clone(),
            program,
            status: out.status.to_string(),
            output,
            log: spec.log(),
        });
    }
    Ok(out)
}

/// A program's output as an error shows it after its status: `: <output>`, or nothing.
fn shown(text: &str) -> String {
    if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) }
}

/// As [`run`], its output going to the file `log` (made afresh) instead of a pipe, and shown
/// when it fails: what it starts may outlive a killed envdb, and a pipe nobody reads any more
/// would end those processes before they clean up (initdb's bootstrap backends left their
/// shared memory segments in /dev/shm).
fn run_logged(spec: &LocalSpec, user: &ServerUser, cmd: &mut Command, log: &Path) -> Result<(), LocalError> {
    let failed =
        |source| LocalError::Io { env: spec.env.clone(), action: "cannot write", path: log.to_owned(), source };
    let file = std::fs::File::create(log).map_err(failed)?;
    cmd.stdout(file.try_clone().map_err(failed)?).stderr(file);
    match run(spec, user, cmd) {
        Err(LocalError::Program { env, program, status, .. }) => {
            let output = shown(&std::fs::read_to_string(log).unwrap_or_default());
            Err(LocalError::Program { env, program, status, output, log: log.to_owned() })
        }
        other => other.map(drop),
    }
}

/// Whether nothing listens on loopback `port` now.
pub(super) fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A loopback TCP port nobody listens on now.
pub(super) fn free_port(env: &str) -> Result<u16, LocalError> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|source| {
        LocalError::Io { env: env.to_owned(), action: "cannot find a free port on", path: "127.0.0.1".into(), source }
    })
}

/// 32 hex digits from the kernel's random source.
fn random_hex() -> Result<String, LocalError> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(|source| {
        LocalError::Io { env: String::new(), action: "cannot read", path: "/dev/urandom".into(), source }
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last `n` lines of a log.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
