//! The PostgreSQL cluster envdb runs itself for an environment with `server = "local"`: one
//! cluster per environment in `<data_dir>/pg/<env>/` (data in `data/`, the log, the superuser's
//! password, PgBouncer's files), its unix socket in that directory (or, when the path is too long
//! for a socket, in `/tmp/envdb-<hash>`), a loopback TCP port recorded in `data/envdb.conf`.
//! This part only reads the cluster's files (where it listens, the URL to reach it); starting and
//! stopping it is [`control`]'s (the command line's).

pub mod pidfile;

#[cfg(feature = "commands")]
mod bouncer;
#[cfg(feature = "commands")]
pub mod control;
#[cfg(feature = "commands")]
mod error;
/// Also where `db::postgres::tools` looks for `pg_dump` and `pg_restore`.
#[cfg(feature = "postgres")]
pub mod locate;
#[cfg(feature = "commands")]
mod owner;

#[cfg(feature = "commands")]
pub use error::LocalError;

use crate::db_url::DbUrl;
use pidfile::PidFile;
use std::path::{Path, PathBuf};

/// The cluster's superuser (trust over the unix socket, its password over TCP and PgBouncer).
pub const SUPERUSER: &str = "postgres";
/// The settings file envdb writes in the data directory (included by `postgresql.conf`).
pub const SETTINGS: &str = "envdb.conf";
/// The longest unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;

/// An environment's local server, by where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSpec {
    /// The environment's name (in messages and commands to suggest).
    pub env: String,
    /// `<data_dir>/pg/<env>`.
    pub cluster: PathBuf,
    /// The environment's database (the project's name).
    pub dbname: String,
    /// Whether a PgBouncer in transaction mode stands in front of it.
    pub pgbouncer: bool,
    /// An ephemeral environment's database exists during a test run only (cloned from its
    /// template): starting the server does not create it.
    pub ephemeral: bool,
}

impl LocalSpec {
    pub fn new(env: &str, data_dir: &Path, project: &str, pgbouncer: bool) -> LocalSpec {
        let cluster = data_dir.join("pg").join(env);
        LocalSpec { env: env.to_owned(), cluster, dbname: project.to_owned(), pgbouncer, ephemeral: false }
    }

    /// PostgreSQL's data directory (`PGDATA`).
    pub fn data(&self) -> PathBuf {
        self.cluster.join("data")
    }

    /// The server's log (`pg_ctl -l`).
    pub fn log(&self) -> PathBuf {
        self.cluster.join("postgres.log")
    }

    /// PgBouncer's log.
    pub fn bouncer_log(&self) -> PathBuf {
        self.cluster.join("pgbouncer.log")
    }

    /// The superuser's password (mode 0600), for TCP and PgBouncer.
    pub fn password_file(&self) -> PathBuf {
        self.cluster.join("password")
    }

    /// Where the unix socket is: the cluster's directory when `.s.PGSQL.<port>` fits in a socket
    /// path there, else `/tmp/envdb-<hash of the cluster's path>` (the same every time).
    pub fn socket_dir(&self) -> PathBuf {
        if self.cluster.join(".s.PGSQL.65535").as_os_str().len() <= SOCKET_PATH_MAX {
            return self.cluster.clone();
        }
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(self.cluster.as_os_str().as_encoded_bytes());
        let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
        PathBuf::from(format!("/tmp/envdb-{hex}"))
    }

    /// Whether `initdb` has made the cluster.
    pub fn initialized(&self) -> bool {
        self.data().join("PG_VERSION").is_file()
    }

    /// The cluster's major version (`data/PG_VERSION`).
    pub fn version(&self) -> Option<String> {
        std::fs::read_to_string(self.data().join("PG_VERSION")).ok().map(|v| v.trim().to_owned())
    }

    /// The running server, from its `postmaster.pid` (`None` when it is stopped, or the file
    /// was left by a server that was killed).
    pub fn running(&self) -> Option<PidFile> {
        PidFile::read(&self.data()).filter(PidFile::alive)
    }

    /// The port recorded in `data/envdb.conf` (the one the next start tries first).
    pub fn recorded_port(&self) -> Option<u16> {
        setting(&std::fs::read_to_string(self.data().join(SETTINGS)).ok()?, "port")?.parse().ok()
    }

    /// The port it listens on: the running server's, else the recorded one.
    pub fn port(&self) -> u16 {
        self.running().map(|p| p.port).or_else(|| self.recorded_port()).unwrap_or(crate::db_url::DEFAULT_PORT)
    }

    /// PgBouncer's port, from its ini file.
    pub fn bouncer_port(&self) -> Option<u16> {
        setting(&std::fs::read_to_string(self.cluster.join("pgbouncer.ini")).ok()?, "listen_port")?.parse().ok()
    }

    /// The running PgBouncer's pid.
    pub fn bouncer_running(&self) -> Option<i32> {
        let pid = std::fs::read_to_string(self.cluster.join("pgbouncer.pid")).ok()?.trim().parse().ok()?;
        pidfile::process_alive(pid).then_some(pid)
    }

    /// The environment's database over the unix socket as the superuser (trust, no password).
    pub fn socket_url(&self, dbname: &str) -> DbUrl {
        let (dir, port) = match self.running() {
            Some(p) if !p.socket_dir.as_os_str().is_empty() => (p.socket_dir, p.port),
            _ => (self.socket_dir(), self.port()),
        };
        let host = crate::db_url::encode_keeping(&dir.to_string_lossy(), b"/");
        let db = crate::db_url::encode_keeping(dbname, b"");
        let text = format!("postgres:///{db}?host={host}&port={port}&user={SUPERUSER}");
        DbUrl::parse(&text).unwrap_or_else(|e| unreachable!("a socket URL envdb builds parses: {e}"))
    }

    /// The URL the environment uses: through PgBouncer (loopback TCP, the superuser's password)
    /// when it has one, else the unix socket.
    pub fn url(&self) -> DbUrl {
        let password = std::fs::read_to_string(self.password_file()).ok();
        match (self.pgbouncer, self.bouncer_port(), password) {
            (true, Some(port), Some(password)) => {
                let pw = crate::db_url::encode_keeping(password.trim(), b"");
                let db = crate::db_url::encode_keeping(&self.dbname, b"");
                let text = format!("postgres://{SUPERUSER}:{pw}@127.0.0.1:{port}/{db}?sslmode=disable");
                DbUrl::parse(&text).unwrap_or_else(|_| self.socket_url(&self.dbname))
            }
            _ => self.socket_url(&self.dbname),
        }
    }
}

/// The value of `key = value` in a settings file (the last one wins, quotes removed).
fn setting(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.split('#').next().unwrap_or_default().trim().trim_matches('\'').to_owned())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_is_per_environment_and_a_deep_one_gets_a_short_socket_dir() {
        let spec = LocalSpec::new("dev", Path::new("/w/app/.envdb/dev"), "app", false);
        assert_eq!(spec.cluster, Path::new("/w/app/.envdb/dev/pg/dev"));
        assert_eq!(spec.socket_dir(), spec.cluster);
        let deep = LocalSpec::new("dev", &Path::new("/w").join("d".repeat(100)), "app", false);
        let dir = deep.socket_dir();
        assert!(dir.starts_with("/tmp") && dir.to_string_lossy().len() < 30, "{}", dir.display());
        assert_eq!(dir, deep.socket_dir(), "the same every time");
    }

    #[test]
    fn urls_reach_the_socket_or_pgbouncer() {
        let spec = LocalSpec::new("dev", Path::new("/w/my app"), "app", false);
        let url = spec.url();
        assert_eq!(url.host(), &crate::db_url::Host::Socket("/w/my app/pg/dev".into()));
        assert_eq!((url.port(), url.dbname(), url.user()), (5432, "app", Some(SUPERUSER)));
        let dir = tempfile::tempdir().unwrap();
        let spec = LocalSpec::new("dev", dir.path(), "app", true);
        std::fs::create_dir_all(spec.data()).unwrap();
        std::fs::write(spec.data().join(SETTINGS), "port = 6001\nport = 6002 # moved\n").unwrap();
        assert_eq!(spec.url().port(), 6002, "no PgBouncer yet: the socket");
        std::fs::write(spec.cluster.join("pgbouncer.ini"), "listen_port = 6003\n").unwrap();
        std::fs::write(spec.password_file(), "s3cret\n").unwrap();
        let url = spec.url();
        assert_eq!((url.port(), url.password()), (6003, Some("s3cret")));
        assert!(!url.redacted().contains("s3cret"));
    }
}
