//! PostgreSQL's client programs (`pg_dump`, `pg_restore`): found as `$ENVDB_PG_BINDIR` alone
//! when set, else `pg_config --bindir`, Debian's `/usr/lib/postgresql/<major>/bin` (newest first),
//! then PATH; the first whose major version is at least the server's is used. A child reaches
//! the database through libpq's environment variables (`PGHOST`, `PGPASSWORD`, …), so no
//! password, and no URL, is ever in its argument list. Every child is tied to the thread that
//! starts it ([`tied`]): an envdb killed with SIGKILL takes its pg_dump or pg_restore with it.

use super::connect::{Target, Tls};
use ::postgres::config::Host;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a client program cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "{program} was not found (looked in {looked}) and {label} needs it\n  help: install PostgreSQL's client programs for the server's version (Debian: apt-get install postgresql-client-{server_major}), or set ENVDB_PG_BINDIR to the directory that holds them"
    )]
    Missing { program: &'static str, looked: String, label: String, server_major: u32 },
    #[error(
        "{program} {found} ({path}) is older than the server of {label} (PostgreSQL {server}); {program} refuses a newer server\n  help: install the client programs of PostgreSQL {server_major} (Debian: apt-get install postgresql-client-{server_major}), or set ENVDB_PG_BINDIR to the directory that holds them"
    )]
    TooOld { program: &'static str, found: String, path: String, label: String, server: String, server_major: u32 },
}

/// A client program of a known major version.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    /// What `--version` printed after the program's name, e.g. `15.18`.
    pub version: String,
    pub major: u32,
}

/// `15.18` from `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`, with its major (`15`;
/// `9` for `9.6.24`, whose major is `9.6`, old enough to be refused either way).
pub fn parse_version(text: &str) -> Option<(String, u32)> {
    let version = text.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let major = version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some((version.to_owned(), major))
}

/// `program` in the first directory whose copy is at least `server_major`; the error names the
/// newest one found and the package to install.
pub fn find(program: &'static str, server: &str, server_major: u32, label: &str) -> Result<Tool, ToolError> {
    // The directories the local server's binaries are looked for in, most preferred first.
    let dirs = crate::local_server::locate::postgres_bindirs();
    let mut newest: Option<Tool> = None;
    let mut seen = std::collections::HashSet::new();
    for path in dirs.iter().map(|d| d.join(program)).filter(|p| p.is_file()) {
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(real) {
            continue;
        }
        let Ok(out) = tied(&path).arg("--version").output() else { continue };
        let Some((version, major)) = parse_version(&String::from_utf8_lossy(&out.stdout)) else { continue };
        let tool = Tool { path, version, major };
        if major >= server_major {
            return Ok(tool);
        }
        if newest.as_ref().is_none_or(|n| n.major < major) {
            newest = Some(tool);
        }
    }
    match newest {
        Some(t) => Err(ToolError::TooOld {
            program,
            found: t.version,
            path: t.path.display().to_string(),
            label: label.to_owned(),
            server: server.to_owned(),
            server_major,
        }),
        None => Err(ToolError::Missing {
            program,
            looked: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
            label: label.to_owned(),
            server_major,
        }),
    }
}

/// A command for `tool` that connects to `database` (the target's own when `None`) through
/// libpq's environment: host, port, user, database, TLS mode, application name, and the
/// password in `PGPASSWORD` (the child's environment is readable by its user only, never by
/// others as its arguments are).
pub fn command(tool: &Path, target: &Target, database: Option<&str>) -> Command {
    let config = &target.config;
    let mut cmd = tied(tool);
    // What the user's environment would add or override is taken out first.
    for var in ["PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGOPTIONS", "PGREQUIRESSL", "PGSSLROOTCERT"] {
        cmd.env_remove(var);
    }
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        cmd.env("PGHOST", hosts.join(","));
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        cmd.env("PGPORT", ports.join(","));
    }
    cmd.env("PGUSER", super::connect::user(config));
    if let Some(db) = database.or(config.get_dbname()) {
        cmd.env("PGDATABASE", db);
    }
    match config.get_password() {
        Some(p) => cmd.env("PGPASSWORD", String::from_utf8_lossy(p).as_ref()),
        None => cmd.env_remove("PGPASSWORD"),
    };
    let sslmode = match target.tls {
        Tls::Disable => "disable",
        Tls::Prefer => "prefer",
        Tls::Require => "require",
        Tls::VerifyFull => "verify-full",
    };
    cmd.env("PGSSLMODE", sslmode);
    if target.tls == Tls::VerifyFull {
        // libpq reads ~/.postgresql/root.crt unless told: the roots envdb itself trusts.
        let roots = std::env::var_os("SSL_CERT_FILE")
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        cmd.env("PGSSLROOTCERT", roots);
    }
    cmd.env("PGAPPNAME", config.get_application_name().unwrap_or("cargo-envdb"));
    if let Some(t) = config.get_connect_timeout() {
        cmd.env("PGCONNECT_TIMEOUT", t.as_secs().max(2).to_string());
    }
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// A command for `program` whose process the kernel kills (SIGKILL) when the thread that
/// started it dies, envdb killed with SIGKILL included (Linux `PR_SET_PDEATHSIG`): a pg_dump
/// left running would go on writing a partial file and holding its locks on the database. A
/// parent gone before the child set it up is seen by the child, which then does not start.
/// The thread that spawns must outlive the child: every caller waits for it on that thread.
pub fn tied(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: getpid, prctl and getppid are async-signal-safe, and the closure allocates
        // nothing: it may run between fork and exec.
        let parent = unsafe { libc::getpid() };
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("envdb ended before its child started"));
                }
                Ok(())
            });
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_programs_print() {
        assert_eq!(parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"), Some(("15.18".into(), 15)));
        assert_eq!(parse_version("pg_restore (PostgreSQL) 16beta2"), Some(("16beta2".into(), 16)));
        assert_eq!(parse_version("pg_dump (PostgreSQL) 9.6.24"), Some(("9.6.24".into(), 9)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn the_password_goes_to_the_environment_never_the_arguments() {
        let target = super::super::connect::target(
            "postgres://u:s3cret@127.0.0.1:5433/app?sslmode=disable",
            "label",
            std::time::Duration::from_secs(3),
        )
        .unwrap();
        let cmd = command(Path::new("/bin/true"), &target, Some("other"));
        assert!(cmd.get_args().all(|a| !a.to_string_lossy().contains("s3cret")));
        let env: std::collections::HashMap<_, _> =
            cmd.get_envs().filter_map(|(k, v)| Some((k.to_string_lossy().into_owned(), v?.to_owned()))).collect();
        assert_eq!(env["PGPASSWORD"], "s3cret");
        assert_eq!(env["PGDATABASE"], "other");
        assert_eq!(env["PGHOST"], "127.0.0.1");
        assert_eq!(env["PGPORT"], "5433");
        assert_eq!(env["PGSSLMODE"], "disable");
    }
}
