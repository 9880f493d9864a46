//! `cargo envdb status --all`: one row per environment (backend, reachable, server version,
//! where it listens, size, connections, schema version, pending, the last verified backup, the
//! local server and its PgBouncer), every environment asked at once, waiting at most 3 s for a
//! server; an environment that cannot be reached is a row saying why, never an error. No local
//! server is started.

use crate::cli::Ctx;
use crate::cli::target;
use crate::db::OpenOptions;
use crate::db::location::Location;
use crate::db_url::Host;
use crate::environment::EnvSpec;
use crate::migration_dir::MigrationDir;
use crate::project::Project;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long a server may take to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Serialize)]
struct Row {
    environment: String,
    protected: bool,
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// The SQLite file, the unix socket directory and port, or `host:port`.
    address: String,
    /// The file, or the URL with its password replaced by `***`.
    database: String,
    reachable: bool,
    /// Whether the database exists (`null` when it could not be asked).
    exists: Option<bool>,
    /// Why it was not reached (first line of the error).
    error: Option<String>,
    server_version: Option<String>,
    size_bytes: Option<u64>,
    connections: Option<u64>,
    schema_version: Option<u64>,
    /// `null` when the migrations fail `check` or the database was not reached.
    pending: Option<usize>,
    last_verified_backup: Option<Backup>,
    /// For `server = "local"`.
    local_server: Option<Local>,
}

#[derive(Serialize)]
struct Backup {
    path: String,
    timestamp: String,
    version: Option<u64>,
}

#[derive(Serialize)]
struct Local {
    running: bool,
    pid: Option<i32>,
    /// `null` without `pgbouncer = true`.
    pgbouncer_running: Option<bool>,
}

pub fn exec(ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let envs = target::environments(&project)?;
    let dir = MigrationDir::read(&project.migrations, &project.show(&project.migrations))?;
    let sound = crate::check::check_as(&dir, false, project.config.dialect()).is_ok();
    let migrations = dir.migrations();
    let rows: Vec<Row> = std::thread::scope(|s| {
        let probes: Vec<_> = envs
            .specs
            .values()
            .map(|spec| {
                let (project, migrations) = (&project, &migrations);
                s.spawn(move || row(project, spec, sound.then_some(migrations.as_slice())))
            })
            .collect();
        probes.into_iter().map(|p| p.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    if ctx.out.json() {
        ctx.out.print_json(&rows);
    } else {
        print(ctx, &rows);
    }
    if !sound {
        ctx.out.warn("the migrations fail `cargo envdb check`; pending counts are not shown");
    }
    Ok(ExitCode::SUCCESS)
}

/// One environment's row; `migrations` is `None` when they fail `check`.
fn row(project: &Project, spec: &EnvSpec, migrations: Option<&[crate::Migration<'_>]>) -> Row {
    let show = |p: &Path| project.show(p).display().to_string();
    let url = spec.url.as_ref().and_then(|u| u.as_ref().ok());
    let address = match url {
        None if spec.url.is_some() => "-".to_owned(),
        None => show(&spec.database),
        Some(url) => match url.host() {
            Host::Socket(dir) => format!("{dir} (port {})", url.port()),
            host => format!("{host}:{}", url.port()),
        },
    };
    let mut row = Row {
        environment: spec.name.clone(),
        protected: spec.protected,
        backend: if spec.url.is_some() { "postgres" } else { "sqlite" },
        address,
        database: spec.location(&show),
        reachable: false,
        exists: None,
        error: None,
        server_version: None,
        size_bytes: None,
        connections: None,
        schema_version: None,
        pending: None,
        last_verified_backup: last_verified_backup(spec, &show),
        local_server: spec.local.as_ref().map(|l| Local {
            running: l.running().is_some(),
            pid: l.running().map(|p| p.pid),
            pgbouncer_running: l.pgbouncer.then(|| l.bouncer_running().is_some()),
        }),
    };
    if let Some(Err(e)) = &spec.url {
        row.error = Some(first_line(&e.to_string()));
        return row;
    }
    if row.local_server.as_ref().is_some_and(|l| !l.running) {
        row.error = Some(format!("the local server is stopped (`cargo envdb server start --env {}`)", spec.name));
        return row;
    }
    if url.is_none() && !spec.database.exists() {
        (row.reachable, row.exists, row.schema_version) = (true, Some(false), Some(0));
        row.server_version = Some(format!("SQLite {}", rusqlite::version()));
        row.pending = migrations.map(<[_]>::len);
        return row;
    }
    let location = Location::of_spec(spec).with_connect_timeout(CONNECT_TIMEOUT);
    let opts = OpenOptions { create: false, read_only: true, ..OpenOptions::default() };
    let read = location.open_existing(opts).and_then(|found| match found {
        Some(mut db) => Ok(Some((db.applied()?, db.facts(), db.size_bytes()?))),
        None => Ok(None),
    });
    match read {
        Err(e) => row.error = Some(first_line(&e.to_string())),
        Ok(None) => {
            (row.reachable, row.exists, row.schema_version) = (true, Some(false), Some(0));
            row.pending = migrations.map(<[_]>::len);
        }
        Ok(Some((applied, facts, size))) => {
            let version = applied.last().map_or(0, |a| a.version);
            let fact = |key: &str| facts.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
            (row.reachable, row.exists, row.schema_version, row.size_bytes) =
                (true, Some(true), Some(version), Some(size));
            row.server_version =
                fact("server").or_else(|| url.is_none().then(|| format!("SQLite {}", rusqlite::version())));
            row.connections = fact("connections").and_then(|c| c.parse().ok());
            row.pending = migrations.map(|m| m.iter().filter(|m| m.version > version).count());
        }
    }
    row
}

/// The newest backup whose checksum re-reads as recorded (the newest ones are re-read until one
/// does), from the environment's backup catalog.
fn last_verified_backup(spec: &EnvSpec, show: &dyn Fn(&Path) -> String) -> Option<Backup> {
    let dir = crate::db::backup::dir(&spec.data_dir);
    // A server database's backups are named after the database, a file's after its stem.
    let database = match spec.url.as_ref().and_then(|u| u.as_ref().ok()) {
        Some(url) => PathBuf::from(url.dbname()),
        None => spec.database.clone(),
    };
    let mut list = crate::db::backup::list(&dir, &database, &spec.name).ok()?;
    crate::db::backup::verify_newest(&mut list, 1);
    let newest = list.iter().rev().find(|b| b.verified())?;
    Some(Backup { path: show(&newest.path), timestamp: newest.timestamp.clone(), version: newest.version })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn print(ctx: &mut Ctx, rows: &[Row]) {
    let header = [
        "ENV",
        "BACKEND",
        "REACHABLE",
        "SERVER",
        "ADDRESS",
        "SIZE",
        "CONN",
        "SCHEMA",
        "PENDING",
        "LAST VERIFIED BACKUP",
        "LOCAL SERVER",
    ];
    let dash = || "-".to_owned();
    let opt = |v: Option<String>| v.unwrap_or_else(dash);
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let reachable = match (r.reachable, r.exists) {
            (true, Some(false)) => "yes (not created yet)",
            (true, _) => "yes",
            (false, _) => "no (below)",
        };
        let local = r.local_server.as_ref().map(|l| {
            let server = match l.pid {
                Some(pid) => format!("running (pid {pid})"),
                None => "stopped".to_owned(),
            };
            match l.pgbouncer_running {
                Some(true) => format!("{server}, pgbouncer running"),
                Some(false) => format!("{server}, pgbouncer stopped"),
                None => server,
            }
        });
        table.push(vec![
            format!("{}{}", r.environment, if r.protected { " (protected)" } else { "" }),
            r.backend.to_owned(),
            reachable.to_owned(),
            opt(r.server_version.clone()),
            r.address.clone(),
            opt(r.size_bytes.map(|s| format!("{s} B"))),
            opt(r.connections.map(|c| c.to_string())),
            opt(r.schema_version.map(|v| v.to_string())),
            opt(r.pending.map(|p| p.to_string())),
            opt(r.last_verified_backup.as_ref().map(|b| match b.version {
                Some(v) => format!("{} (v{v})", b.timestamp),
                None => b.timestamp.clone(),
            })),
            opt(local),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|i| table.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for line in table {
        let cells: Vec<String> = line.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        ctx.out.line(cells.join("  ").trim_end());
    }
    // Why an environment was not reached, one line each, under the table.
    for r in rows.iter().filter(|r| !r.reachable) {
        ctx.out.line(format!("{}: {}", r.environment, r.error.as_deref().unwrap_or("not reached")));
    }
}
