//! Where the PostgreSQL server binaries and PgBouncer are on this machine (Debian puts `initdb`
//! and `pg_ctl` off PATH, in `/usr/lib/postgresql/<version>/bin`, and `pgbouncer` in `/usr/sbin`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directories that may hold `initdb` and `pg_ctl`, most preferred first: only
/// `$ENVDB_PG_BINDIR` when it is set (a chosen version, or a test's scratch machine), else
/// `pg_config --bindir`, Debian's `/usr/lib/postgresql/<version>/bin` (newest version first), then
/// PATH.
pub fn postgres_bindirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("ENVDB_PG_BINDIR").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.extend(debian_bindirs(Path::new("/usr/lib/postgresql")));
    dirs.extend(path_dirs());
    dirs
}

/// `<root>/<major>/bin` for every numeric `<major>`, newest first.
pub fn debian_bindirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// The directories that may hold `pgbouncer`: PATH, then `/usr/sbin` and `/usr/local/sbin` (off
/// PATH for a user who is not root on Debian).
pub fn pgbouncer_dirs() -> Vec<PathBuf> {
    let mut dirs = path_dirs();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs
}

/// The executable file `command` in the first of `dirs` that holds one.
pub fn find_in(command: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(command)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The directory holding both `initdb` and `pg_ctl`, if PostgreSQL's server is installed.
pub fn postgres_bindir() -> Option<PathBuf> {
    postgres_bindirs().into_iter().find(|d| {
        let one = std::slice::from_ref(d);
        find_in("initdb", one).is_some() && find_in("pg_ctl", one).is_some()
    })
}

/// The `pgbouncer` executable, if installed: only `$ENVDB_PGBOUNCER` when it is set, else the
/// first in [`pgbouncer_dirs`].
pub fn pgbouncer() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ENVDB_PGBOUNCER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path);
    }
    find_in("pgbouncer", &pgbouncer_dirs())
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_newest_first_and_only_numbers() {
        let root = tempfile::tempdir().unwrap();
        for d in ["13", "15", "9", "common", "15.bak"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        let got = debian_bindirs(root.path());
        let want: Vec<PathBuf> = ["15", "13", "9"].iter().map(|v| root.path().join(v).join("bin")).collect();
        assert_eq!(got, want);
        assert!(debian_bindirs(&root.path().join("missing")).is_empty());
    }

    #[test]
    fn find_in_wants_an_executable_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        std::fs::write(dir.path().join("plain"), "").unwrap();
        std::fs::create_dir(dir.path().join("adir")).unwrap();
        std::fs::write(dir.path().join("tool"), "").unwrap();
        std::fs::set_permissions(dir.path().join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in("plain", &dirs), None);
        assert_eq!(find_in("adir", &dirs), None);
        assert_eq!(find_in("tool", &dirs), Some(dir.path().join("tool")));
    }
}
