//! The PostgreSQL backup and restore rows, on a database of `mib` MiB (1 GiB in the full run, 64
//! MiB with `--quick`, `$ENVDB_BENCH_PG_MIB` when set) on a server `pgtest` starts, over its unix
//! socket: `cargo envdb backup` (pg_dump custom format, verified, hashed, synced, renamed) beside
//! `pg_dump -Fc` alone, and `cargo envdb restore latest` (a new database, loaded in one
//! transaction, row counts compared, swapped in) beside `pg_restore` into an empty database alone.

use super::figures::Figure;
use super::{median, timed};
use pgtest::Via;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The database's size: `$ENVDB_BENCH_PG_MIB`, else 1 GiB, 64 MiB for a quick run.
pub fn size_mib(quick: bool) -> u64 {
    std::env::var("ENVDB_BENCH_PG_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(if quick { 64 } else { 1024 })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The rows for a database of `mib` MiB, `reps` samples each (interleaved with the reference).
pub fn rows(bin: &Path, tmp: &Path, mib: u64, reps: usize) -> anyhow::Result<Vec<Figure>> {
    eprintln!("starting PostgreSQL (pgtest) for the backup and restore rows ({mib} MiB)…");
    let server = pgtest::Server::start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let bindir = server.bindir().to_owned();
    let db = server.database();
    let url = db.url(Via::Socket);
    let dir = tmp.join("pg-ops");
    let table = "CREATE TABLE big (id bigint PRIMARY KEY, a text NOT NULL, b text NOT NULL, n double precision);";
    super::write_project(bin, &dir, "benchops", [("0001_big.sql".to_owned(), table.to_owned())])?;
    std::fs::write(dir.join("envdb.toml"), "name = \"benchops\"\n[env.dev]\nurl = \"${BENCH_URL}\"\n")?;
    let envdb = |args: &[&str]| {
        let mut cmd = Command::new(bin);
        cmd.args(args).arg("-q").env("BENCH_URL", &url).current_dir(&dir);
        cmd
    };
    timed(&mut envdb(&["migrate"]))?;
    // About 170 bytes a row on disk (two md5 strings, a number, the tuple and index overhead).
    let rows = mib * 1024 * 1024 / 170;
    eprintln!("filling {rows} rows…");
    let mut admin = db.connect(Via::Socket);
    admin.batch_execute(&format!(
        "INSERT INTO big SELECT g, md5(g::text), md5((g::bigint * 7919)::text), random() FROM generate_series(1, {rows}) g"
    ))?;
    admin.batch_execute("VACUUM ANALYZE big")?;
    let size: f64 = admin
        .simple_query("SELECT pg_database_size(current_database())")?
        .into_iter()
        .find_map(|m| match m {
            pgtest::postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .unwrap_or(0.0);
    drop(admin);
    let size = format!("{:.0} MiB", size / 1024.0 / 1024.0);

    let refs = dir.join("reference");
    std::fs::create_dir_all(&refs)?;
    let (mut dump_ref, mut dump_ours, mut restore_ref, mut restore_ours) = (vec![], vec![], vec![], vec![]);
    for i in 0..reps {
        let file = refs.join(format!("ref{i}.dump"));
        dump_ref.push(timed(Command::new(bindir.join("pg_dump")).args(["-Fc", "-d", &url, "-f"]).arg(&file))?);
        dump_ours.push(timed(&mut envdb(&["backup"]))?);
        let empty = server.database();
        restore_ref.push(timed(
            Command::new(bindir.join("pg_restore")).args(["--no-owner", "-d", &empty.url(Via::Socket)]).arg(&file),
        )?);
        drop(empty);
        std::fs::remove_file(&file)?;
        restore_ours.push(timed(&mut envdb(&["restore", "latest"]))?);
        // The replaced database and the older backups go, so the disk holds one of each.
        timed(&mut envdb(&["backup"]))?;
        timed(&mut envdb(&["prune", "--keep", "1"]))?;
    }
    let backup = Figure::new(
        format!("PostgreSQL: backup of a {size} database (pg_dump -Fc, verified, hashed, synced)"),
        (secs(median(dump_ours)), "s"),
        "pg_dump -Fc alone, same database, same server, unix socket",
        secs(median(dump_ref)),
    )
    .ratio_at_most(1.15, "pg_dump -Fc");
    let restore = Figure::new(
        format!("PostgreSQL: restore --clean of a {size} database (new database, row counts, swap)"),
        (secs(median(restore_ours)), "s"),
        "pg_restore alone into an empty database, same archive, same server",
        secs(median(restore_ref)),
    )
    .ratio_at_most(1.25, "pg_restore");
    drop(db);
    server.stop();
    Ok(vec![backup, restore])
}
