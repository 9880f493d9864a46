//! The ephemeral-test rows: `cargo envdb test` on an ephemeral PostgreSQL environment with 100
//! migrations, whose database is a clone of the migrated template (the template made once
//! before the samples), against migrating the same 100 files into an empty database; both whole
//! processes over the unix socket of the server `pgtest` started, `$CARGO` standing in as `true`
//! so that only envdb's part is timed.

use super::figures::Figure;
use super::{median, ms, timed};
use pgtest::Via;
use std::path::Path;
use std::process::Command;

/// Migrations in the project.
const N: usize = 100;
/// `cargo envdb test`'s target, the database ready by a clone (whole run).
const READY_TARGET_MS: f64 = 150.0;
/// What migrating from empty must take for the comparison to mean something.
const FROM_EMPTY_MIN_MS: f64 = 1000.0;

pub fn rows(bin: &Path, tmp: &Path, server: &pgtest::Server, reps: usize) -> anyhow::Result<Vec<Figure>> {
    let dir = tmp.join("pg-ephemeral");
    super::write_project(
        bin,
        &dir,
        "bench",
        (1..=N).map(|i| (format!("{i:04}_m{i}.sql"), super::pg::migration_sql(i))),
    )?;
    // The environment's database is named after the harness's reserved one.
    let reserved = server.database();
    let url = reserved.url(Via::Socket);
    std::fs::write(
        dir.join("envdb.toml"),
        "name = \"bench\"\n[env.test]\nurl = \"${BENCH_TEST_URL}\"\nephemeral = true\n",
    )?;
    let test = || {
        timed(Command::new(bin).args(["test", "-q"]).env("CARGO", "true").env("BENCH_TEST_URL", &url).current_dir(&dir))
    };
    test()?; // makes the template
    let samples = reps.max(5);
    let ready = (0..samples).map(|_| test()).collect::<anyhow::Result<Vec<_>>>()?;
    let mut from_empty = Vec::new();
    for _ in 0..samples {
        let db = server.database();
        let fresh = db.url(Via::Socket);
        from_empty.push(timed(Command::new(bin).args(["migrate", "-q", "--database-url", &fresh]).current_dir(&dir))?);
    }
    let template = format!("{}__template", reserved.name());
    let _ = server.admin().batch_execute(&format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"));
    drop(reserved);
    let from_empty = ms(median(from_empty));
    Ok(vec![
        Figure::new(
            format!("PostgreSQL: `cargo envdb test`, ephemeral, {N} migrations: template clone, test run, drop (whole run, unix socket)"),
            (ms(median(ready)), "ms"),
            format!("migrate {N} into an empty database (whole run)"),
            from_empty,
        )
        .at_most(READY_TARGET_MS),
        Figure::new(
            format!("PostgreSQL: migrate {N} into an empty database (the reference above, whole run)"),
            (from_empty, "ms"),
            "the issue's floor for it",
            FROM_EMPTY_MIN_MS,
        )
        .at_least(FROM_EMPTY_MIN_MS),
    ])
}
