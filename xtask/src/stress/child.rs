//! The stress runs' child processes: started with their stderr captured, and every one's end
//! recorded: killed by our SIGKILL, finished (exit 0), or failed on its own (any other status),
//! which is a failure of the run, never a "finished".

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How a child process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// By our SIGKILL.
    Killed,
    /// With exit status 0, before any kill.
    Finished,
    /// On its own with another status: what it said on stderr.
    Failed(String),
}

/// A running child with its stderr captured.
pub struct Watched {
    child: Child,
    what: String,
}

/// Starts `program ARGS` in `dir`, stdout discarded, stderr captured.
pub fn start(program: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<Watched> {
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {} {args:?}: {e}", program.display()))?;
    Ok(Watched {
        child,
        what: format!("{} {}", program.file_name().unwrap_or_default().to_string_lossy(), args.join(" ")),
    })
}

impl Watched {
    /// Kills the child after `delay` (unless it ended before) and says how it ended.
    pub fn kill_after(mut self, delay: Duration) -> anyhow::Result<Ended> {
        std::thread::sleep(delay);
        // An error here means it has already ended; its status says how.
        let _ = self.child.kill();
        self.end()
    }

    /// Waits for the child to end on its own and says how it ended.
    pub fn wait(self) -> anyhow::Result<Ended> {
        self.end()
    }

    /// `Some` once the child has ended (without waiting): how.
    pub fn ended(&mut self) -> anyhow::Result<Option<Ended>> {
        match self.child.try_wait()? {
            Some(status) => Ok(Some(self.classify(status))),
            None => Ok(None),
        }
    }

    fn end(mut self) -> anyhow::Result<Ended> {
        let status = self.child.wait()?;
        Ok(self.classify(status))
    }

    fn classify(&mut self, status: ExitStatus) -> Ended {
        if status.signal() == Some(libc::SIGKILL) {
            return Ended::Killed;
        }
        if status.success() {
            return Ended::Finished;
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        Ended::Failed(format!("`{}` exited with {status} on its own: {}", self.what, stderr.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Watched {
        start(Path::new("/bin/sh"), Path::new("/"), &["-c", script]).unwrap()
    }

    #[test]
    fn every_end_is_told_apart() {
        assert_eq!(sh("exit 0").wait().unwrap(), Ended::Finished);
        assert_eq!(sh("sleep 10").kill_after(Duration::from_millis(50)).unwrap(), Ended::Killed);
        // A failure on its own is never "finished", killed or not.
        let failed = sh("echo broken >&2; exit 3").kill_after(Duration::from_millis(300)).unwrap();
        assert!(matches!(&failed, Ended::Failed(why) if why.contains("broken") && why.contains('3')), "{failed:?}");
        let mut running = sh("sleep 10");
        assert_eq!(running.ended().unwrap(), None);
        assert_eq!(running.kill_after(Duration::ZERO).unwrap(), Ended::Killed);
    }
}
