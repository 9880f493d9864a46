//! `cargo envdb status`: where the database stands against the migrations on disk, and what is
//! wrong with them.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Place};
use crate::plan;
use crate::problem::Problem;
use serde::Serialize;
use std::process::ExitCode;

/// Show the database's version, pending migrations, drift, and what `check` finds
///
/// Migrations that fail `check` are listed with the database's state (exit 1), not refused.
///
/// Example: `cargo envdb status --format json`, `cargo envdb status --all`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// One row per environment (backend, reachable, server, size, connections, schema, pending, last verified backup, local server); starts no server
    #[arg(long, conflicts_with_all = ["env", "dev", "test", "prod", "database", "database_url"])]
    all: bool,
}

#[derive(Serialize)]
struct Status {
    database: String,
    exists: bool,
    size_bytes: u64,
    /// What the backend tells about the database besides its size (SQLite: journal mode;
    /// PostgreSQL: server version, connections, the application's sessions), by label.
    facts: std::collections::BTreeMap<&'static str, String>,
    version: u64,
    latest: u64,
    pending: Vec<String>,
    drift: plan::Drift,
    app_running: bool,
    /// The errors `check` finds in the migrations directory (empty when it passes).
    problems: Vec<Problem>,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    if args.all {
        return super::status_all::exec(ctx);
    }
    let place = Place::resolve(ctx, &args.db)?;
    // The diagnostic command: migrations that fail `check` are reported, not refused; the
    // state is computed from the files as they are.
    // The database is asked (a server's round trips) while the files are read and checked.
    let (checked, read) = std::thread::scope(|s| {
        let read = s.spawn(|| -> Result<_, crate::db::DbError> {
            Ok(match place.open_existing_read_only()? {
                Some(mut db) => (true, db.applied()?, db.facts().into_iter().collect(), db.size_bytes()?),
                None => Default::default(),
            })
        });
        (place.checked(), read.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let checked = checked?;
    let (exists, applied, facts, size_bytes) = read?;
    let problems: Vec<Problem> = checked.report.errors().cloned().collect();
    let migrations = checked.migrations;
    let version = applied.last().map_or(0, |a| a.version);
    let drift = plan::drift(&migrations, &applied);
    let status = Status {
        database: place.show(),
        exists,
        size_bytes,
        facts,
        version,
        latest: migrations.last().map_or(0, |m| m.version),
        pending: migrations.iter().filter(|m| m.version > version).map(|m| m.name.clone()).collect(),
        drift,
        app_running: place.location.app_running(),
        problems,
    };
    if ctx.out.json() {
        ctx.out.print_json(&status);
    } else {
        let out = &mut ctx.out;
        out.line(format!("database:  {}{}", status.database, if status.exists { "" } else { " (not created yet)" }));
        out.line(format!("size:      {} bytes", status.size_bytes));
        for (label, value) in &status.facts {
            out.line(format!("{:<10} {value}", format!("{label}:")));
        }
        out.line(format!("version:   {} of {}", status.version, status.latest));
        out.line(format!(
            "pending:   {}",
            if status.pending.is_empty() { "none".into() } else { status.pending.join(", ") }
        ));
        let d = &status.drift;
        if d.is_empty() {
            out.line("drift:     none");
        } else {
            let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            out.line(format!(
                "drift:     changed [{}], gone [{}], holes [{}]",
                list(&d.changed),
                list(&d.gone),
                list(&d.holes)
            ));
        }
        out.line(format!("app:       {}", if status.app_running { "running (holds the lock)" } else { "not running" }));
        if status.problems.is_empty() {
            out.line("check:     ok");
        } else {
            out.line(format!(
                "check:     {} error(s) in the migrations (`cargo envdb check` lists them too):",
                status.problems.len()
            ));
            for p in &status.problems {
                out.line(format!("  {p}"));
            }
        }
    }
    let sound = status.drift.is_empty() && status.problems.is_empty();
    Ok(if sound { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
