//! `cargo xtask bench`: every figure is measured next to a reference taken in the same run and
//! printed as a ratio, then written one JSON object per line to `target/bench.json`.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    reference: String,
    reference_value: f64,
    target: String,
    /// Whether the target is met (checked against the ratio or the value, as the target says).
    ok: bool,
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs a command to completion, failing loudly on a non-zero exit.
pub fn timed(cmd: &mut Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().with_context(|| format!("{cmd:?}"))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

fn time_n(n: usize, mut f: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut xs = Vec::with_capacity(n);
    for _ in 0..n {
        xs.push(f()?);
    }
    Ok(median(xs))
}

/// Peak resident memory of a command, in MiB. Linux's `ru_maxrss` counts the parent's memory
/// that a child inherits until it calls exec, so the measuring parent must itself be small: the
/// xtask binary re-runs itself as `__peak CMD…`, which spawns CMD and prints its peak.
fn peak_mib(cmd: &Command) -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let out = Command::new(me)
        .arg("__peak")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(cmd.get_current_dir().unwrap_or(Path::new(".")))
        .output()?;
    anyhow::ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.trim().parse::<f64>()? / 1024.0)
}

/// `xtask __peak CMD…`: runs CMD and prints its peak resident memory in KiB.
pub fn peak_child(args: &[&str]) -> anyhow::Result<()> {
    let (program, rest) = args.split_first().context("__peak needs a command")?;
    let child = Command::new(program).args(rest).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    anyhow::ensure!(pid > 0 && status == 0, "{program} failed (status {status})");
    println!("{}", usage.ru_maxrss);
    Ok(())
}

fn migration_sql(i: usize) -> String {
    format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\nINSERT INTO t{i} (v) VALUES ('row {i}');\n")
}

/// A host project with `n` generated migrations and their sum file.
fn project(bin: &Path, root: &Path, n: usize) -> anyhow::Result<Vec<PathBuf>> {
    write_project(bin, root, "bench", (1..=n).map(|i| (format!("{i:04}_m{i}.sql"), migration_sql(i))))
}

/// A host project named `name` in `root` with these migration files and their sum file; returns
/// the files' paths.
pub fn write_project(
    bin: &Path,
    root: &Path,
    name: &str,
    migrations: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(root.join("migrations"))?;
    std::fs::write(root.join("envdb.toml"), format!("name = \"{name}\"\n"))?;
    let mut files = Vec::new();
    for (file, sql) in migrations {
        let path = root.join("migrations").join(file);
        std::fs::write(&path, sql)?;
        files.push(path);
    }
    timed(Command::new(bin).args(["hash", "-q"]).current_dir(root))?;
    Ok(files)
}

/// The reference applier: the same SQL through the same bundled SQLite, one transaction per
/// migration (R1) or one for all (R2), each with a history insert, SQLite's default settings.
fn reference_apply(path: &Path, n: usize, single: bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "CREATE TABLE history (version INTEGER PRIMARY KEY, name TEXT, checksum TEXT, applied_at TEXT, ms INTEGER)",
    )?;
    if single {
        conn.execute_batch("BEGIN")?;
    }
    for i in 1..=n {
        if !single {
            conn.execute_batch("BEGIN")?;
        }
        conn.execute_batch(&migration_sql(i))?;
        conn.execute("INSERT INTO history VALUES (?1, 'm', 'c', 'now', 0)", [i as i64])?;
        if !single {
            conn.execute_batch("COMMIT")?;
        }
    }
    if single {
        conn.execute_batch("COMMIT")?;
    }
    drop(conn);
    Ok(start.elapsed())
}

/// The workspace root and the release binary, built first.
pub fn release_binary() -> anyhow::Result<(PathBuf, PathBuf)> {
    let root_dir = std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from)?;
    let workspace = root_dir.parent().context("workspace")?.to_owned();
    eprintln!("building cargo-envdb (release)…");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    timed(
        Command::new(&cargo)
            .args(["build", "--release", "--quiet", "-p", "cargo-envdb", "--bin", "cargo-envdb"])
            .current_dir(&workspace),
    )?;
    let bin = workspace.join("target/release/cargo-envdb");
    Ok((workspace, bin))
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    let (workspace, bin) = release_binary()?;
    let reps = if quick { 5 } else { 15 };
    let tmp = tempfile::tempdir()?;
    let mut figures = Vec::new();

    // Start-up.
    let spawn_floor = time_n(reps * 2, || timed(&mut Command::new("true")))?;
    let version = time_n(reps * 2, || timed(Command::new(&bin).arg("--version")))?;
    figures.push(Figure {
        name: "cargo envdb --version, wall".into(),
        value: ms(version),
        unit: "ms",
        reference: "spawning /bin/true".into(),
        reference_value: ms(spawn_floor),
        target: "< 5 ms".into(),
        ok: ms(version) < 5.0,
    });

    // check against sha256sum over the same files.
    for n in [1000usize, 10_000] {
        let dir = tmp.path().join(format!("check{n}"));
        let files = project(&bin, &dir, n)?;
        let ours = time_n(reps, || timed(Command::new(&bin).args(["check", "-q"]).current_dir(&dir)))?;
        let sha = time_n(reps, || timed(Command::new("sha256sum").args(&files)))?;
        figures.push(Figure {
            name: format!("check, {n} migrations"),
            value: ms(ours),
            unit: "ms",
            reference: format!("sha256sum over the same {n} files"),
            reference_value: ms(sha),
            target: "≤ 1.5× reference".into(),
            ok: ms(ours) / ms(sha) <= 1.5,
        });
        if n == 1000 {
            figures.push(Figure {
                name: "check, 1000 migrations, wall".into(),
                value: ms(ours),
                unit: "ms",
                reference: "spawning /bin/true".into(),
                reference_value: ms(spawn_floor),
                target: "< 15 ms".into(),
                ok: ms(ours) < 15.0,
            });
        }
    }

    // Applying 1,000 migrations to a fresh file.
    let n = 1000;
    let dir = tmp.path().join("check1000");
    let apply_reps = if quick { 1 } else { 3 };
    let mut fresh = 0;
    let mut fresh_db = || {
        fresh += 1;
        tmp.path().join(format!("apply{fresh}.db"))
    };
    let r1 = time_n(apply_reps, || reference_apply(&fresh_db(), n, false))?;
    let r2 = time_n(apply_reps, || reference_apply(&fresh_db(), n, true))?;
    let ours = time_n(apply_reps, || {
        let db = fresh_db();
        timed(Command::new(&bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))
    })?;
    let ours_single = time_n(apply_reps, || {
        let db = fresh_db();
        timed(
            Command::new(&bin).args(["migrate", "-q", "--single-transaction", "--database"]).arg(&db).current_dir(&dir),
        )
    })?;
    figures.push(Figure {
        name: "migrate 1000 to a fresh file (each atomic, durable at exit)".into(),
        value: ms(ours),
        unit: "ms",
        reference: "R1: same SQL, one transaction each + history insert".into(),
        reference_value: ms(r1),
        target: "≤ 0.35× R1".into(),
        ok: ms(ours) / ms(r1) <= 0.35,
    });
    figures.push(Figure {
        name: "migrate 1000 --single-transaction".into(),
        value: ms(ours_single),
        unit: "ms",
        reference: "R2: same SQL, all in one transaction".into(),
        reference_value: ms(r2),
        target: "≤ 1.2× R2".into(),
        ok: ms(ours_single) / ms(r2) <= 1.2,
    });

    // No-op commands at 1,000 applied.
    let applied_db = fresh_db();
    timed(Command::new(&bin).args(["migrate", "-q", "--database"]).arg(&applied_db).current_dir(&dir))?;
    for (label, cmd) in [("migrate with nothing pending", "migrate"), ("status", "status")] {
        let t = time_n(reps, || {
            timed(Command::new(&bin).args([cmd, "-q", "--database"]).arg(&applied_db).current_dir(&dir))
        })?;
        figures.push(Figure {
            name: format!("{label}, 1000 applied, wall"),
            value: ms(t),
            unit: "ms",
            reference: "spawning /bin/true".into(),
            reference_value: ms(spawn_floor),
            target: "≤ 10 ms".into(),
            ok: ms(t) <= 10.0,
        });
    }

    // The runtime's open-and-check when up to date.
    let raw: Vec<envdb::embedded::RawMigration> = (1..=n)
        .map(|i| {
            let sql: &'static str = Box::leak(migration_sql(i).into_boxed_str());
            let name: &'static str = Box::leak(format!("{i:04}_m{i}.sql").into_boxed_str());
            let sum: &'static str = Box::leak(envdb::checksum::checksum(sql.as_bytes()).into_boxed_str());
            (i as u64, name, sql, None, sum)
        })
        .collect();
    let migrations = envdb::Migrations::from_raw(Box::leak(raw.into_boxed_slice()));
    let open_reps = if quick { 50 } else { 200 };
    let runtime = time_n(open_reps, || {
        let start = Instant::now();
        let db = envdb::Db::open(&applied_db, &migrations)?;
        let took = start.elapsed();
        drop(db);
        Ok(took)
    })?;
    let floor = time_n(open_reps, || {
        let start = Instant::now();
        let conn = rusqlite::Connection::open(&applied_db)?;
        let _: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(start.elapsed())
    })?;
    // SQLite parses the whole schema (here 1,000 tables) on a connection's first query: every
    // application pays it on its first query anyway. This row shows what envdb adds beyond it.
    let schema_load = time_n(open_reps, || {
        let start = Instant::now();
        let conn = rusqlite::Connection::open(&applied_db)?;
        let _: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok(start.elapsed())
    })?;
    figures.push(Figure {
        name: "(context) runtime Db::open beside SQLite's own schema load".into(),
        value: ms(runtime),
        unit: "ms",
        reference: "rusqlite open + first query (loads the 1,000-table schema)".into(),
        reference_value: ms(schema_load),
        target: "none".into(),
        ok: true,
    });
    figures.push(Figure {
        name: "runtime Db::open when up to date, 1000 migrations".into(),
        value: ms(runtime),
        unit: "ms",
        reference: "rusqlite open + PRAGMA user_version".into(),
        reference_value: ms(floor),
        target: "≤ 1 ms".into(),
        ok: ms(runtime) <= 1.0,
    });

    // Peak memory applying 1,000.
    let mem = peak_mib(Command::new(&bin).args(["migrate", "-q", "--database"]).arg(fresh_db()).current_dir(&dir))?;
    let mem_ref = peak_mib(Command::new(&bin).arg("--version"))?;
    figures.push(Figure {
        name: "peak memory, migrate 1000".into(),
        value: mem,
        unit: "MiB",
        reference: "peak memory of cargo envdb --version".into(),
        reference_value: mem_ref,
        target: "≤ 12 MiB".into(),
        ok: mem <= 12.0,
    });

    backups(&bin, tmp.path(), quick, &mut figures)?;
    report(&workspace, &figures)
}

/// A durable copy: `cp`, then fsync of the copy (the reference for backup and restore).
fn durable_copy(from: &Path, to: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    std::fs::copy(from, to)?;
    std::fs::File::open(to)?.sync_all()?;
    Ok(start.elapsed())
}

/// Backup and restore of a large database against a durable copy of the same file.
fn backups(bin: &Path, tmp: &Path, quick: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let mib: u64 = if quick { 64 } else { 1024 };
    let dir = tmp.join("backup");
    let blobs = "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);\n";
    write_project(bin, &dir, "bench", [("0001_blobs.sql".to_owned(), blobs.to_owned())])?;
    let db = dir.join("big.db");
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    eprintln!("filling a {mib} MiB database…");
    {
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute_batch("BEGIN")?;
        let mut stmt = conn.prepare("INSERT INTO blobs (data) VALUES (randomblob(4000))")?;
        for _ in 0..(mib * 1024 * 1024 / 4096) {
            stmt.execute([])?;
        }
        drop(stmt);
        conn.execute_batch("COMMIT")?;
    }
    let size_mib = std::fs::metadata(&db)?.len() as f64 / 1048576.0;
    let reps = if quick { 3 } else { 5 };
    let mut n = 0;
    let mut fresh = |tag: &str| {
        n += 1;
        dir.join(format!("{tag}{n}.db"))
    };
    // Disk timings drift during a run: the reference and ours alternate, and each takes its median.
    // The build machine's disk is bursty: a gigabyte written just before slows the next one. So
    // each measurement of ours is paired with a reference taken just before it, each starts after
    // a sync and a pause, and every series takes its median.
    let quiet = || {
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
        std::thread::sleep(Duration::from_millis(if quick { 100 } else { 1000 }));
    };
    let (mut backup_refs, mut ours, mut restore_refs, mut restores) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let source = fresh("restore-source");
    timed(Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(&source).current_dir(&dir))?;
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
    for _ in 0..reps {
        quiet();
        backup_refs.push(durable_copy(&db, &fresh("cp"))?);
        clean(None)?;
        quiet();
        let out = fresh("backup");
        ours.push(timed(
            Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(&out).current_dir(&dir),
        )?);
        clean(Some(&out))?;
        quiet();
        restore_refs.push(durable_copy(&source, &fresh("cp"))?);
        clean(None)?;
        quiet();
        restores.push(timed(
            Command::new(bin).args(["restore", "-q"]).arg(&source).arg("--database").arg(&db).current_dir(&dir),
        )?);
        clean(None)?;
    }
    let (reference, ours) = (median(backup_refs), median(ours));
    let (restore_reference, restore) = (median(restore_refs), median(restores));
    figures.push(Figure {
        name: format!("backup of a {size_mib:.0} MiB database, verified"),
        value: ms(ours),
        unit: "ms",
        reference: "cp + fsync of the copy".into(),
        reference_value: ms(reference),
        target: "≤ 1.5× reference".into(),
        ok: ms(ours) / ms(reference) <= 1.5,
    });
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
        figures.push(Figure {
            name: format!("(comparison) sqlite3 .backup + fsync, {size_mib:.0} MiB, unverified"),
            value: ms(cli),
            unit: "ms",
            reference: "cp + fsync of the copy".into(),
            reference_value: ms(reference),
            target: "none".into(),
            ok: true,
        });
    }
    figures.push(Figure {
        name: format!("restore of a {size_mib:.0} MiB backup (verified, current kept)"),
        value: ms(restore),
        unit: "ms",
        reference: "cp + fsync of the backup".into(),
        reference_value: ms(restore_reference),
        target: "≤ 1.5× reference".into(),
        ok: ms(restore) / ms(restore_reference) <= 1.5,
    });
    let mem = peak_mib(
        Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(fresh("mem")).current_dir(&dir),
    )?;
    let mem_ref = peak_mib(Command::new(bin).arg("--version"))?;
    figures.push(Figure {
        name: format!("peak memory, backup of {size_mib:.0} MiB"),
        value: mem,
        unit: "MiB",
        reference: "peak memory of cargo envdb --version".into(),
        reference_value: mem_ref,
        target: "≤ 64 MiB".into(),
        ok: mem <= 64.0,
    });
    Ok(())
}

fn report(workspace: &Path, figures: &[Figure]) -> anyhow::Result<()> {
    let mut json = String::new();
    println!("{:<62} {:>10} {:>12} {:>8}  {:<12} met", "figure", "value", "reference", "ratio", "target");
    for f in figures {
        let ratio = f.value / f.reference_value;
        println!(
            "{:<62} {:>7.2} {:<3}{:>9.2} {:<3}{:>7.2}×  {:<12} {}",
            f.name,
            f.value,
            f.unit,
            f.reference_value,
            f.unit,
            ratio,
            f.target,
            if f.ok { "yes" } else { "NO" }
        );
        println!("{:<62} reference: {}", "", f.reference);
        json.push_str(
            &serde_json::json!({
                "name": f.name, "value": f.value, "unit": f.unit, "reference": f.reference,
                "reference_value": f.reference_value, "ratio": ratio, "target": f.target, "met": f.ok,
            })
            .to_string(),
        );
        json.push('\n');
    }
    let path = workspace.join("target/bench.json");
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
