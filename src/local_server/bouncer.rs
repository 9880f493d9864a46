//! The PgBouncer of a local server (`pgbouncer = true`): transaction pooling on a loopback port,
//! clients authenticated with the superuser's password (SCRAM), the server reached over its unix
//! socket; started after the server, stopped before it.

use super::control::{Say, free_port, port_free, run, write_owned};
use super::owner::ServerUser;
use super::pidfile::process_alive;
use super::{LocalError, LocalSpec, SUPERUSER, locate};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts PgBouncer in front of the server on `pg_port` unless it runs there already.
pub fn ensure(spec: &LocalSpec, user: &ServerUser, pg_port: u16, say: Say<'_>) -> Result<(), LocalError> {
    let env = spec.env.as_str();
    let ini = spec.cluster.join("pgbouncer.ini");
    let forwards = |text: &str| text.contains(&format!(" port={pg_port}\n"));
    if spec.bouncer_running().is_some() {
        if std::fs::read_to_string(&ini).is_ok_and(|t| forwards(&t)) {
            return Ok(());
        }
        // It forwards to the port the server had before it moved.
        stop(spec);
    }
    let pgbouncer = locate::pgbouncer().ok_or_else(|| LocalError::NoBouncer { env: env.to_owned() })?;
    let password = std::fs::read_to_string(spec.password_file()).map_err(|source| LocalError::Io {
        env: env.to_owned(),
        action: "cannot read",
        path: spec.password_file(),
        source,
    })?;
    write_owned(spec, user, &spec.cluster.join("userlist.txt"), &format!("\"{SUPERUSER}\" \"{}\"\n", password.trim()))?;
    let port = match spec.bouncer_port() {
        Some(port) if port_free(port) => port,
        _ => free_port(env)?,
    };
    write_owned(spec, user, &ini, &config(&spec.cluster, &spec.socket_dir(), port, pg_port))?;
    let mut cmd = Command::new(pgbouncer);
    cmd.arg("-d").arg("-q").arg(&ini);
    run(spec, user, &mut cmd)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline {
            stop(spec);
            return Err(LocalError::Program {
                env: env.to_owned(),
                program: "pgbouncer".into(),
                status: format!("not listening on 127.0.0.1:{port} after 10 s"),
                output: String::new(),
                log: spec.bouncer_log(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    say("Started", format!("the PgBouncer of `{env}` (transaction pooling) on 127.0.0.1:{port}"));
    Ok(())
}

/// Stops PgBouncer by its pid file (SIGTERM, then SIGKILL after 5 s); returns whether it ran.
pub fn stop(spec: &LocalSpec) -> bool {
    let Some(pid) = spec.bouncer_running() else { return false };
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_alive(pid) {
        if Instant::now() >= deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// `pgbouncer.ini`: transaction pooling on loopback `port`, every database forwarded to the
/// server's unix socket.
fn config(cluster: &Path, socket_dir: &Path, port: u16, pg_port: u16) -> String {
    let dir = cluster.display();
    format!(
        "; Written by envdb: the PgBouncer of a local server.\n\
         [databases]\n\
         * = host={} port={pg_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = scram-sha-256\n\
         auth_file = {dir}/userlist.txt\n\
         pool_mode = transaction\n\
         max_client_conn = 200\n\
         default_pool_size = 20\n\
         server_login_retry = 1\n\
         pidfile = {dir}/pgbouncer.pid\n\
         logfile = {dir}/pgbouncer.log\n\
         ignore_startup_parameters = extra_float_digits\n",
        socket_dir.display()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pools_by_transaction_and_forwards_to_the_socket() {
        let ini = super::config(std::path::Path::new("/c"), std::path::Path::new("/s"), 7001, 7000);
        assert!(ini.contains("pool_mode = transaction\n"), "{ini}");
        assert!(ini.contains("* = host=/s port=7000\n"), "{ini}");
        assert!(ini.contains("listen_port = 7001\n") && ini.contains("auth_file = /c/userlist.txt\n"), "{ini}");
    }
}
