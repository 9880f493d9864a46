//! The runtime's open-and-check of an up-to-date database at 1,000 applied migrations, measured
//! in a release build of xtask (`__open-bench`), as an application built with `--release` pays
//! it: `Db::open` beside SQLite's own first query on the same file (which parses the whole
//! schema), and `PgDb::open` over the unix socket beside a plain connection and one query.

use super::figures::Figure;
use super::{ms, time_n, timed};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What the runtime may add beyond SQLite's own first query (issue 13), in ms.
const SQLITE_BEYOND_MS: f64 = 0.5;
/// The runtime's open-and-check on PostgreSQL over a unix socket, in ms.
const PG_TARGET_MS: f64 = 2.0;

/// xtask built with `--release`, for the in-process measurements.
fn release_xtask(workspace: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("building xtask (release) for the runtime's open…");
    timed(crate::test::cargo()?.args(["build", "--release", "--quiet", "-p", "xtask"]).current_dir(workspace))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    Ok(target.join("release/xtask"))
}

/// Runs the release child on `kind` (`sqlite` or `pg`) and `at`, and returns its medians in ms.
fn measure(workspace: &Path, kind: &str, at: &str, n: usize, reps: usize) -> anyhow::Result<Vec<f64>> {
    let out = Command::new(release_xtask(workspace)?)
        .args(["__open-bench", kind, at, &n.to_string(), &reps.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "__open-bench {kind} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)?
        .split_whitespace()
        .map(|v| v.parse::<f64>().context("__open-bench printed something else than figures"))
        .collect()
}

/// The SQLite rows, on `db` (n migrations applied by `cargo envdb migrate`).
pub fn sqlite_rows(workspace: &Path, db: &Path, n: usize, reps: usize) -> anyhow::Result<Vec<Figure>> {
    let at = db.to_str().context("a temporary path is not UTF-8")?;
    let [runtime, schema_load, floor] = measure(workspace, "sqlite", at, n, reps)?[..] else {
        anyhow::bail!("__open-bench sqlite printed another number of figures")
    };
    Ok(vec![
        Figure::new(
            format!("runtime Db::open when up to date, {n} migrations (release build)"),
            (runtime, "ms"),
            format!("rusqlite open + first query on the same file (parses its {n}-table schema)"),
            schema_load,
        )
        .beyond_at_most(SQLITE_BEYOND_MS, "reference"),
        Figure::new(
            "(context) runtime Db::open beside a first query that needs no schema",
            (runtime, "ms"),
            "rusqlite open + PRAGMA user_version",
            floor,
        ),
    ])
}

/// The PostgreSQL row, on the database at `url` (n migrations applied by `cargo envdb migrate`).
pub fn pg_rows(workspace: &Path, url: &str, n: usize, reps: usize) -> anyhow::Result<Vec<Figure>> {
    let [runtime, connect] = measure(workspace, "pg", url, n, reps)?[..] else {
        anyhow::bail!("__open-bench pg printed another number of figures")
    };
    Ok(vec![
        Figure::new(
            format!("PostgreSQL: runtime PgDb::open when up to date, {n} migrations (release build, unix socket)"),
            (runtime, "ms"),
            "postgres::Client::connect + SELECT 1, same socket",
            connect,
        )
        .at_most(PG_TARGET_MS),
    ])
}

/// The migrations the bench's projects hold, as a build script embeds them (digest included).
fn migrations(n: usize, sql: fn(usize) -> String) -> envdb::Migrations {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let raw: Vec<envdb::embedded::RawMigration> = (1..=n)
        .map(|i| {
            let sql = leak(sql(i));
            (i as u64, leak(format!("{i:04}_m{i}.sql")), sql, None, leak(envdb::checksum::checksum(sql.as_bytes())))
        })
        .collect();
    let digest = leak(envdb::digest::of(raw.iter().map(|m| (m.0, m.4))));
    envdb::Migrations::from_generated((Box::leak(raw.into_boxed_slice()), "", "", digest))
}

fn median_ms(reps: usize, mut f: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<f64> {
    Ok(ms(time_n(reps, &mut f)?))
}

/// `__open-bench sqlite DB N REPS` | `__open-bench pg URL N REPS`: prints the medians, in ms.
pub fn child(args: &[&str]) -> anyhow::Result<()> {
    let [kind, at, n, reps] = args else { anyhow::bail!("usage: __open-bench sqlite|pg DB|URL N REPS") };
    let (n, reps): (usize, usize) = (n.parse()?, reps.parse()?);
    let figures = match *kind {
        "sqlite" => {
            let m = migrations(n, super::migration_sql);
            let runtime = median_ms(reps, || {
                let start = Instant::now();
                let db = envdb::Db::open(at, &m)?;
                let took = start.elapsed();
                anyhow::ensure!(db.migrated().applied.is_empty(), "the bench database was not up to date");
                Ok(took)
            })?;
            let first_query = |sql: &'static str| {
                median_ms(reps, move || {
                    let start = Instant::now();
                    let conn = rusqlite::Connection::open(at)?;
                    let _: i64 = conn.query_row(sql, [], |r| r.get(0))?;
                    Ok(start.elapsed())
                })
            };
            vec![runtime, first_query("SELECT count(*) FROM sqlite_schema")?, first_query("PRAGMA user_version")?]
        }
        "pg" => {
            let m = migrations(n, super::pg::migration_sql);
            let runtime = median_ms(reps, || {
                let start = Instant::now();
                let db = envdb::PgDb::open(at, &m)?;
                let took = start.elapsed();
                anyhow::ensure!(db.migrated().applied.is_empty(), "the bench database was not up to date");
                Ok(took)
            })?;
            let connect = median_ms(reps, || {
                let start = Instant::now();
                let mut client = envdb::postgres::Client::connect(at, envdb::postgres::NoTls)?;
                client.simple_query("SELECT 1")?;
                Ok(start.elapsed())
            })?;
            vec![runtime, connect]
        }
        other => anyhow::bail!("__open-bench: unknown kind {other}"),
    };
    println!("{}", figures.iter().map(|f| format!("{f:.4}")).collect::<Vec<_>>().join(" "));
    Ok(())
}
