//! Why an environment's local server could not be made, started or stopped; each message names
//! the environment and the path at fault, and says what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "environment `{env}`: PostgreSQL's server is not installed (no initdb and pg_ctl in `pg_config --bindir`, /usr/lib/postgresql/<version>/bin or PATH)\n  help: install it (`apt-get install postgresql`), or set ENVDB_PG_BINDIR to its bin directory"
    )]
    NotInstalled { env: String },
    #[error(
        "environment `{env}`: PgBouncer is not installed (`pgbouncer = true`; none on PATH or in /usr/sbin)\n  help: install it (`apt-get install pgbouncer`), set ENVDB_PGBOUNCER to the executable, or remove `pgbouncer = true`"
    )]
    NoBouncer { env: String },
    #[error(
        "environment `{env}`: envdb runs as root, which PostgreSQL refuses, and there is no `postgres` user to run the local server as\n  help: run envdb as a normal user, or create the user (`apt-get install postgresql` does)"
    )]
    NoServerUser { env: String },
    #[error(
        "environment `{env}`: {} belongs to {owner}, but the local server runs as {expected}; nothing was started\n  help: give it to {expected} (chown -R), or remove it to start a new cluster",
        .path.display()
    )]
    ForeignOwner { env: String, path: PathBuf, owner: String, expected: String },
    #[error(
        "environment `{env}`: the local server runs as {user} (root cannot run PostgreSQL), which cannot enter {} (mode {mode:o}, owner uid {uid})\n  help: let it through (chmod o+x {}), or set data_dir in envdb.toml to a directory {user} can reach",
        .path.display(), .path.display()
    )]
    Unreachable { env: String, user: String, path: PathBuf, mode: u32, uid: u32 },
    #[error("environment `{env}`: {action} {}: {source}", .path.display())]
    Io {
        env: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("environment `{env}`: {program} failed ({status}){output}\n  help: see the log: {}", .log.display())]
    Program { env: String, program: String, status: String, output: String, log: PathBuf },
    #[error(
        "environment `{env}`: the local server in {} did not start on any of {tries} free ports; the last attempt:\n{last}",
        .data.display()
    )]
    NoPort { env: String, data: PathBuf, tries: usize, last: String },
    #[error(
        "environment `{env}`: a server (pid {pid}) holds {} but did not become ready within {secs} s\n  help: see {}, or stop it: cargo envdb server stop --env {env}",
        .data.display(), .log.display()
    )]
    NotReady { env: String, pid: i32, data: PathBuf, secs: u64, log: PathBuf },
    #[error("environment `{env}`: cannot create its database on the local server: {source}")]
    Database {
        env: String,
        #[source]
        source: crate::db::DbError,
    },
}
