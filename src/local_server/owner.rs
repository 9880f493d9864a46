//! Whom the local server runs as: the current user, or, when envdb runs as root (which initdb
//! and postgres refuse), the `postgres` user; and the checks that it can reach and owns its files.

use super::LocalError;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

/// The user the server runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    /// Whether it is another user than envdb's (envdb runs as root).
    pub switched: bool,
}

impl ServerUser {
    /// The current user, or `postgres` when the current one is root.
    pub fn pick(env: &str) -> Result<ServerUser, LocalError> {
        let uid = unsafe { libc::geteuid() };
        if uid != 0 {
            let gid = unsafe { libc::getegid() };
            let name = lookup_name(uid).unwrap_or_else(|| format!("uid {uid}"));
            return Ok(ServerUser { uid, gid, name, switched: false });
        }
        let (uid, gid) = lookup_user("postgres").ok_or_else(|| LocalError::NoServerUser { env: env.to_owned() })?;
        Ok(ServerUser { uid, gid, name: "postgres".into(), switched: true })
    }

    /// Runs `cmd` as this user (when envdb runs as root).
    pub fn apply(&self, cmd: &mut Command) {
        if self.switched {
            cmd.uid(self.uid).gid(self.gid);
        }
    }

    /// Gives `path` to this user (when envdb runs as root).
    pub fn chown(&self, env: &str, path: &Path) -> Result<(), LocalError> {
        if !self.switched {
            return Ok(());
        }
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(|source| LocalError::Io {
            env: env.to_owned(),
            action: "cannot give to the postgres user",
            path: path.to_owned(),
            source,
        })
    }

    /// Refuses a cluster directory (or data directory) that belongs to another user.
    pub fn check_owns(&self, env: &str, path: &Path) -> Result<(), LocalError> {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
        if meta.uid() == self.uid {
            return Ok(());
        }
        let owner = lookup_name(meta.uid()).map_or_else(|| format!("uid {}", meta.uid()), |n| format!("`{n}`"));
        Err(LocalError::ForeignOwner {
            env: env.to_owned(),
            path: path.to_owned(),
            owner,
            expected: format!("`{}`", self.name),
        })
    }

    /// Refuses a directory whose ancestors the server's user cannot enter (root's own
    /// directories are often mode 0700): initdb would fail with a less clear message.
    pub fn check_reaches(&self, env: &str, dir: &Path) -> Result<(), LocalError> {
        if !self.switched {
            return Ok(());
        }
        for ancestor in dir.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(ancestor) else { continue };
            let mode = meta.mode();
            let bit = if meta.uid() == self.uid {
                0o100
            } else if meta.gid() == self.gid {
                0o010
            } else {
                0o001
            };
            if mode & bit == 0 {
                return Err(LocalError::Unreachable {
                    env: env.to_owned(),
                    user: self.name.clone(),
                    path: ancestor.to_owned(),
                    mode: mode & 0o7777,
                    uid: meta.uid(),
                });
            }
        }
        Ok(())
    }
}

/// A user's name by uid.
fn lookup_name(uid: u32) -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: `pwd`, `buf` and `found` outlive the call, and `buf.len()` is its size.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: on success `pw_name` points at a NUL-terminated string inside `buf`.
    Some(unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }.to_string_lossy().into_owned())
}

/// A user's uid and gid by name.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in `lookup_name`.
    let rc = unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return None;
    }
    Some((pwd.pw_uid, pwd.pw_gid))
}
