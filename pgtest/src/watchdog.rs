//! The watchdog: a small `sh` child, in its own process group and running as the server's owner,
//! that blocks reading a pipe only the test process holds open. The pipe closes when the test
//! process ends however it ends (returns, panics, is killed with SIGKILL), and the watchdog then
//! stops PgBouncer and PostgreSQL by their pid files and removes the run's directory.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// `$1` the run's directory. Signals are ignored so that a Ctrl-C or a terminal hang-up still
/// lets it clean up; a failed step never stops the next.
const SCRIPT: &str = r#"
trap '' INT TERM HUP QUIT
read -r _ || true
dir=$1
# Running and not a zombie: the daemons' parent is init, which may reap them late, and
# `kill -0` (and so `pg_ctl stop -w`) counts a zombie as running.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    case "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" in Z*) return 1 ;; esac
    return 0
}
# Sends signal $2 to pid $1 and waits for it to end, up to 5 s, then SIGKILL.
stop_pid() {
    [ -n "$1" ] || return 0
    kill "-$2" "$1" 2>/dev/null || return 0
    i=0
    while alive "$1" && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    if alive "$1"; then kill -KILL "$1" 2>/dev/null; fi
    return 0
}
if [ -f "$dir/pgbouncer.pid" ]; then stop_pid "$(head -n 1 "$dir/pgbouncer.pid")" TERM; fi
# SIGQUIT is PostgreSQL's immediate shutdown: the postmaster ends its children, then itself.
if [ -f "$dir/data/postmaster.pid" ]; then stop_pid "$(head -n 1 "$dir/data/postmaster.pid")" QUIT; fi
rm -rf "$dir"
"#;

/// The running watchdog and the write end of its pipe.
pub struct Watchdog {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the watchdog of `dir` (owned by `owner`, uid and gid, when the test runs as root).
    pub fn start(dir: &Path, owner: Option<(u32, u32)>) -> io::Result<Watchdog> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("envdb-pg-watchdog")
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C sent to the test's group does not reach it.
            .process_group(0);
        if let Some((uid, gid)) = owner {
            cmd.uid(uid).gid(gid);
        }
        // The pipe's write end is close-on-exec in this process (std opens it so), so no other
        // child (the server, a binary under test) keeps it open past the test process's end.
        let mut child = cmd.spawn()?;
        let pipe = child.stdin.take();
        Ok(Watchdog { child, pipe })
    }

    /// Closes the pipe and waits (up to `limit`) for the watchdog to have stopped everything and
    /// removed the directory. Returns whether it finished in time.
    pub fn finish(&mut self, limit: Duration) -> bool {
        drop(self.pipe.take());
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return true,
                Err(_) => return false,
                Ok(None) if start.elapsed() >= limit => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
