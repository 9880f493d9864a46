//! The backup and restore rows: both backup paths (a kernel copy of a rollback-journal database,
//! SQLite's backup API for a WAL database), each beside the same copy made without envdb, and
//! each row saying how envdb verifies what it copied.

use super::figures::Figure;
use super::{fill, median, ms, peak_mib, time_n, timed, write_project};
use rusqlite::Connection;
use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A durable copy: `cp`, then fsync of the copy (the reference for the kernel copy and restore).
fn durable_copy(from: &Path, to: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    std::fs::copy(from, to)?;
    std::fs::File::open(to)?.sync_all()?;
    Ok(start.elapsed())
}

/// SQLite's backup API in this process, into a destination set up as envdb sets its own
/// (`journal_mode=OFF`, `synchronous=OFF`), then fsync; no verification (the reference for WAL).
fn api_copy(from: &Path, to: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let src = Connection::open(from)?;
    let mut dst = Connection::open(to)?;
    dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    rusqlite::backup::Backup::new(&src, &mut dst)?.run_to_completion(4096, Duration::ZERO, None)?;
    drop(dst);
    std::fs::File::open(to)?.sync_all()?;
    Ok(start.elapsed())
}

/// `reps` pairs of timings, the reference just before ours, each after a sync and a pause (the
/// build machine's disk is bursty: a gigabyte written just before slows the next one); the
/// medians of both series, in milliseconds.
fn paired(
    reps: usize,
    quick: bool,
    mut reference: impl FnMut() -> anyhow::Result<Duration>,
    mut ours: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<(f64, f64)> {
    let quiet = || {
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
        std::thread::sleep(Duration::from_millis(if quick { 100 } else { 1000 }));
    };
    let (mut refs, mut oursv) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        quiet();
        refs.push(reference()?);
        quiet();
        oursv.push(ours()?);
    }
    Ok((ms(median(refs)), ms(median(oursv))))
}

/// Backup and restore of a large database against a durable copy of the same file.
pub fn rows(bin: &Path, tmp: &Path, quick: bool) -> anyhow::Result<Vec<Figure>> {
    let mib: u64 = if quick { 64 } else { 1024 };
    let dir = tmp.join("backup");
    let blobs = "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n";
    write_project(bin, &dir, "bench", [("0001_blobs.sql".to_owned(), blobs.to_owned())])?;
    let db = dir.join("big.db");
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    eprintln!("filling a {mib} MiB database…");
    fill(&Connection::open(&db)?, mib)?;
    let size_mib = std::fs::metadata(&db)?.len() as f64 / 1048576.0;
    let reps = if quick { 3 } else { 5 };
    let n = Cell::new(0);
    let fresh = |tag: &str| {
        n.set(n.get() + 1);
        dir.join(format!("{tag}{}.db", n.get()))
    };
    // Every measurement removes what it wrote (copies are named `cp…`) and any backups directory.
    let clean = |out: Option<&Path>| -> anyhow::Result<()> {
        if let Some(out) = out {
            std::fs::remove_file(out)?;
            let _ = std::fs::remove_file(format!("{}.sha256", out.display()));
        }
        for entry in std::fs::read_dir(&dir)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with("cp") {
                std::fs::remove_file(entry.path())?;
            }
        }
        let _ = std::fs::remove_dir_all(dir.join("backups"));
        Ok(())
    };
    let backup = |out: &Path| {
        timed(Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(out).current_dir(&dir))
    };
    let source = fresh("restore-source");
    backup(&source)?;
    // A timing, once what it wrote is removed (not timed).
    let measured = |took: anyhow::Result<Duration>, out: Option<&Path>| {
        let took = took?;
        clean(out)?;
        Ok(took)
    };

    let backup_timed = || {
        let out = fresh("backup");
        measured(backup(&out), Some(&out))
    };

    // Rollback journal: the kernel copies the file; backup and restore.
    let (cp_ref, ours) = paired(reps, quick, || measured(durable_copy(&db, &fresh("cp")), None), &backup_timed)?;
    let (restore_ref, restore) = paired(
        reps,
        quick,
        || measured(durable_copy(&source, &fresh("cp")), None),
        || {
            let mut restore = Command::new(bin);
            restore.args(["restore", "-q"]).arg(&source).arg("--database").arg(&db).current_dir(&dir);
            measured(timed(&mut restore), None)
        },
    )?;

    // WAL: the same database, now in WAL mode, goes through SQLite's backup API.
    let mode: String = Connection::open(&db)?.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode == "wal", "{}: cannot switch to WAL ({mode})", db.display());
    let (api_ref, wal_ours) = paired(reps, quick, || measured(api_copy(&db, &fresh("cp")), None), &backup_timed)?;

    let cp = "cp + fsync of the copy";
    let mut out = vec![
        Figure::new(
            format!("backup of a {size_mib:.0} MiB rollback-journal database: kernel copy, quick_check of the snapshot during the copy"),
            (ours, "ms"),
            cp,
            cp_ref,
        )
        .ratio_at_most(1.5, "reference"),
        Figure::new(
            format!("backup of a {size_mib:.0} MiB WAL database: SQLite backup API, quick_check of the copy"),
            (wal_ours, "ms"),
            "SQLite backup API in-process (destination journal_mode=OFF, synchronous=OFF) + fsync, unverified",
            api_ref,
        )
        .ratio_at_most(1.5, "reference"),
        Figure::new(
            format!("(context) the WAL backup beside a plain copy, {size_mib:.0} MiB"),
            (wal_ours, "ms"),
            cp,
            cp_ref,
        ),
    ];
    if Command::new("sqlite3").arg("-version").output().is_ok_and(|o| o.status.success()) {
        let cli = time_n(reps, || {
            let out = fresh("cli");
            let start = Instant::now();
            timed(Command::new("sqlite3").arg(&db).arg(format!(".backup '{}'", out.display())))?;
            std::fs::File::open(&out)?.sync_all()?;
            let took = start.elapsed();
            std::fs::remove_file(&out)?;
            Ok(took)
        })?;
        out.push(Figure::new(
            format!("(comparison) sqlite3 .backup + fsync, {size_mib:.0} MiB WAL database, unverified"),
            (ms(cli), "ms"),
            cp,
            cp_ref,
        ));
    }
    out.push(
        Figure::new(
            format!("restore of a {size_mib:.0} MiB backup (quick_check during the copy, current database kept)"),
            (restore, "ms"),
            "cp + fsync of the backup",
            restore_ref,
        )
        .ratio_at_most(1.5, "reference"),
    );
    let mem = peak_mib(
        Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(fresh("mem")).current_dir(&dir),
    )?;
    let mem_ref = peak_mib(Command::new(bin).arg("--version"))?;
    out.push(
        Figure::new(
            format!("peak memory, backup of {size_mib:.0} MiB (WAL)"),
            (mem, "MiB"),
            "peak memory of cargo envdb --version",
            mem_ref,
        )
        .at_most(64.0),
    );
    Ok(out)
}
