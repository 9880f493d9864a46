//! `postmaster.pid`, PostgreSQL's lock file in the data directory: the running server's pid,
//! port, socket directory and state, as the server writes them (one value a line).

use std::path::{Path, PathBuf};

/// What a `postmaster.pid` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: u16,
    /// The first unix socket directory (empty when the server has none).
    pub socket_dir: PathBuf,
    /// `ready`, `starting`, `stopping` or `standby` (empty while the server writes it).
    pub status: String,
}

impl PidFile {
    /// Reads `<data>/postmaster.pid`; `None` when there is none or it is not whole yet.
    pub fn read(data: &Path) -> Option<PidFile> {
        PidFile::parse(&std::fs::read_to_string(data.join("postmaster.pid")).ok()?)
    }

    /// Lines 1 (pid), 4 (port), 5 (socket directory) and 8 (status).
    pub fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().collect();
        let pid = lines.first()?.trim().parse().ok().filter(|p| *p > 0)?;
        let port = lines.get(3)?.trim().parse().ok()?;
        let socket_dir = PathBuf::from(lines.get(4).map_or("", |l| l.trim()));
        let status = lines.get(7).map_or("", |l| l.trim()).to_owned();
        Some(PidFile { pid, port, socket_dir, status })
    }

    /// Whether its process is alive (not a zombie): a pid file left by a killed server is not.
    pub fn alive(&self) -> bool {
        process_alive(self.pid)
    }
}

/// Whether process `pid` exists and is not a zombie (read from `/proc`).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_running_servers_file() {
        let text = "4242\n/x/data\n1700000000\n5433\n/x\n127.0.0.1\n  1234    5678\nready   \n";
        let p = PidFile::parse(text).unwrap();
        assert_eq!((p.pid, p.port, p.socket_dir.as_path(), p.status.as_str()), (4242, 5433, Path::new("/x"), "ready"));
        let starting = PidFile::parse("4242\n/x/data\n1700000000\n5433\n/x\n").unwrap();
        assert_eq!(starting.status, "");
        assert_eq!(PidFile::parse("4242\n/x/data\n"), None, "not whole yet");
        assert_eq!(PidFile::parse(""), None);
        assert_eq!(PidFile::parse("-1\na\nb\n5433\n"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_silly_pid_is_not() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(i32::MAX));
    }
}
