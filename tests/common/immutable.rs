//! A write fault that binds even for root: a read-only mode, plus `chattr +i` when the tests run
//! as root (CI does), undone by a guard.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file or directory nobody can write into until this guard drops. Declare it after the
/// [`super::Test`] it belongs to, so that it drops first and the temporary directory can be removed.
pub struct ReadOnly {
    path: PathBuf,
    mode: u32,
    immutable: bool,
}

impl ReadOnly {
    /// Makes `path` read-only: mode 0444 (a file) or 0555 (a directory), and as root, where modes
    /// do not bind, the immutable attribute. Panics, naming the reason, when the fault cannot be
    /// made to bind, so that a test never passes without having faced it.
    #[track_caller]
    pub fn set(path: &Path) -> ReadOnly {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mode = meta.permissions().mode() & 0o7777;
        let read_only = if meta.is_dir() { 0o555 } else { 0o444 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(read_only)).unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let guard = ReadOnly { path: path.to_owned(), mode, immutable: root };
        if root {
            let out = Command::new("chattr").arg("+i").arg(path).output().unwrap_or_else(|e| {
                panic!(
                    "running as root, this test needs `chattr +i` to make {} read-only, and chattr cannot run: {e}",
                    path.display()
                )
            });
            assert!(
                out.status.success(),
                "running as root, this test needs `chattr +i` to make {} read-only, and it failed (a file system without the immutable attribute?): {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            !guard.writable(),
            "{} is still writable: the fault does not bind, so the test would prove nothing",
            path.display()
        );
        guard
    }

    /// Whether a write still gets through: a new file in the directory, or the file opened for writing.
    fn writable(&self) -> bool {
        if self.path.is_dir() {
            let probe = self.path.join(".envdb-write-probe");
            let created = std::fs::File::create(&probe).is_ok();
            let _ = std::fs::remove_file(&probe);
            created
        } else {
            std::fs::OpenOptions::new().append(true).open(&self.path).is_ok()
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode));
    }
}
