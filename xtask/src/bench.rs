//! `cargo xtask bench [--quick]`: every figure is measured next to a reference taken in the same
//! run, whose settings it names, and printed as a ratio, then saved with the commit to
//! `target/bench.json`; `cargo xtask bench --markdown` prints the README's table from that file.

mod apply;
mod backup;
mod figures;
mod open;
mod pg;
mod pg_ops;
mod template;

use crate::provenance::{Provenance, workspace_root};
use anyhow::{Context as _, bail};
use figures::{BenchRun, Figure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// `__open-bench …`: the release child of the runtime's open rows (`open`).
pub fn open_child(args: &[&str]) -> anyhow::Result<()> {
    open::child(args)
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

pub(crate) fn migration_sql(i: usize) -> String {
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

/// The workspace root and the release binary, built first.
pub fn release_binary() -> anyhow::Result<(PathBuf, PathBuf)> {
    let workspace = workspace_root()?;
    eprintln!("building cargo-envdb (release)…");
    timed(
        crate::test::cargo()?
            .args(["build", "--release", "--quiet", "-p", "cargo-envdb", "--bin", "cargo-envdb"])
            .current_dir(&workspace),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let bin = target.join("release/cargo-envdb");
    Ok((workspace, bin))
}

/// Adds about `mib` MiB of rows to the table `blobs` (created if missing), in one transaction.
pub fn fill(conn: &rusqlite::Connection, mib: u64) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL); BEGIN;")?;
    let mut stmt = conn.prepare("INSERT INTO blobs (data) VALUES (randomblob(4000))")?;
    for _ in 0..mib * 1024 * 1024 / 4096 {
        stmt.execute([])?;
    }
    drop(stmt);
    conn.execute_batch("COMMIT")
}

/// `sha256sum` over `files` (all in one directory), run in that directory so that 50,000 names
/// fit on a command line.
fn sha256sum(files: &[PathBuf]) -> anyhow::Result<Duration> {
    let dir = files.first().and_then(|f| f.parent()).context("no files")?;
    timed(Command::new("sha256sum").args(files.iter().filter_map(|f| f.file_name())).current_dir(dir))
}

/// `cargo xtask bench --pg-ops [--quick]`: the PostgreSQL backup and restore rows alone, printed
/// (not saved).
pub fn run_pg_ops(quick: bool) -> anyhow::Result<()> {
    let (workspace, bin) = release_binary()?;
    let tmp = tempfile::tempdir()?;
    let figures = pg_ops::rows(&bin, tmp.path(), pg_ops::size_mib(quick), if quick { 1 } else { 3 })?;
    BenchRun { provenance: Provenance::now(&workspace)?, quick, figures }.print();
    Ok(())
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    let (workspace, bin) = release_binary()?;
    let reps = if quick { 5 } else { 15 };
    let tmp = tempfile::tempdir()?;
    let mut figures = Vec::new();

    // Start-up.
    let spawn = "spawning /bin/true";
    let spawn_floor = ms(time_n(reps * 2, || timed(&mut Command::new("true")))?);
    let version = ms(time_n(reps * 2, || timed(Command::new(&bin).arg("--version")))?);
    figures.push(Figure::new("cargo envdb --version, wall", (version, "ms"), spawn, spawn_floor).below(5.0));

    // check of 1,000 migrations against sha256sum over the same files.
    let n = 1000;
    let dir = tmp.path().join("apply");
    let files = project(&bin, &dir, n)?;
    let check = ms(time_n(reps, || timed(Command::new(&bin).args(["check", "-q"]).current_dir(&dir)))?);
    let sha = ms(time_n(reps, || sha256sum(&files))?);
    let sha_ref = |n: usize| format!("sha256sum over the same {n} files");
    figures.push(
        Figure::new(format!("check, {n} migrations"), (check, "ms"), sha_ref(n), sha).ratio_at_most(1.5, "reference"),
    );
    figures.push(Figure::new(format!("check, {n} migrations, wall"), (check, "ms"), spawn, spawn_floor).below(15.0));

    // Applying 1,000 migrations to a fresh file, beside both references.
    let mut fresh = 0;
    let mut fresh_db = || {
        fresh += 1;
        tmp.path().join(format!("apply{fresh}.db"))
    };
    figures.extend(apply::rows(&bin, &dir, n, if quick { 1 } else { 3 }, &mut fresh_db)?);

    // No-op commands at 1,000 applied, with down files, as a developer runs them: `.envdb/`
    // exists, so the check cache is kept (written once the files are a second old).
    let noop = tmp.path().join("noop");
    let downs = (1..=n).map(|i| (format!("{i:04}_m{i}.down.sql"), format!("DROP TABLE t{i};\n")));
    write_project(&bin, &noop, "bench", (1..=n).map(|i| (format!("{i:04}_m{i}.sql"), migration_sql(i))).chain(downs))?;
    std::fs::create_dir_all(noop.join(".envdb"))?;
    let applied_db = fresh_db();
    timed(Command::new(&bin).args(["migrate", "-q", "--database"]).arg(&applied_db).current_dir(&noop))?;
    std::thread::sleep(Duration::from_millis(1100));
    timed(Command::new(&bin).args(["check", "-q"]).current_dir(&noop))?;
    let db = applied_db.to_str().context("a temporary path is not UTF-8")?;
    let uncached = time_n(reps, || timed(Command::new(&bin).args(["check", "-q", "--no-cache"]).current_dir(&noop)))?;
    figures.push(Figure::new(
        format!("(context) check --no-cache, {n} migrations with down files, wall"),
        (ms(uncached), "ms"),
        spawn,
        spawn_floor,
    ));
    for (label, args) in [
        ("check (cache kept)", &["check", "-q"][..]),
        ("migrate with nothing pending", &["migrate", "-q", "--database", db][..]),
        ("status", &["status", "-q", "--database", db][..]),
    ] {
        let t = time_n(reps, || timed(Command::new(&bin).args(args).current_dir(&noop)))?;
        let what = format!("{label}, {n} applied with down files, wall");
        figures.push(Figure::new(what, (ms(t), "ms"), spawn, spawn_floor).at_most(10.0));
    }

    // The runtime's open-and-check when up to date, in a release build.
    figures.extend(open::sqlite_rows(&workspace, &applied_db, n, if quick { 50 } else { 200 })?);

    // Peak memory applying 1,000.
    let mem = peak_mib(Command::new(&bin).args(["migrate", "-q", "--database"]).arg(fresh_db()).current_dir(&dir))?;
    let mem_ref = peak_mib(Command::new(&bin).arg("--version"))?;
    figures.push(
        Figure::new(format!("peak memory, migrate {n}"), (mem, "MiB"), "peak memory of cargo envdb --version", mem_ref)
            .at_most(12.0),
    );

    // Five samples in a full run: one PostgreSQL sample moves by a fifth from run to run.
    figures.extend(pg::rows(&workspace, &bin, tmp.path(), n, if quick { 1 } else { 5 })?);
    figures.extend(many(&bin, tmp.path(), reps.min(5))?);
    figures.extend(backup::rows(&bin, tmp.path(), quick)?);
    figures.extend(pg_ops::rows(&bin, tmp.path(), pg_ops::size_mib(quick), if quick { 1 } else { 3 })?);
    let run = BenchRun { provenance: Provenance::now(&workspace)?, quick, figures };
    run.print();
    let path = run.save(&workspace)?;
    println!("wrote {} (`cargo xtask bench --markdown` prints the README's table from it)", path.display());
    Ok(())
}

/// `check`, `status` and `migrate --dry-run` at 10,000 and 50,000 migrations, all applied,
/// against `sha256sum` over the same files: each reads and hashes every file, so none may cost
/// much more than hashing them.
fn many(bin: &Path, tmp: &Path, reps: usize) -> anyhow::Result<Vec<Figure>> {
    let mut out = Vec::new();
    for n in [10_000usize, 50_000] {
        let dir = tmp.join(format!("many{n}"));
        // One table, one row per migration: the database stays small, so the figures measure
        // the migrations and the history, not SQLite loading a schema of 50,000 tables.
        let files = write_project(
            bin,
            &dir,
            "bench",
            (1..=n).map(|i| {
                let sql = if i == 1 {
                    "CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n".to_owned()
                } else {
                    format!("INSERT INTO log (v) VALUES ('row {i}');\n")
                };
                (format!("{i:04}_m{i}.sql"), sql)
            }),
        )?;
        let db = dir.join("app.db");
        eprintln!("applying {n} migrations…");
        timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
        let sha = ms(time_n(reps, || sha256sum(&files))?);
        for (label, args) in [
            ("check", &["check", "-q"][..]),
            ("status", &["status", "-q", "--database"]),
            ("migrate --dry-run", &["migrate", "--dry-run", "-q", "--database"]),
        ] {
            let t = time_n(reps, || {
                let mut cmd = Command::new(bin);
                cmd.args(args).current_dir(&dir);
                if args.ends_with(&["--database"]) {
                    cmd.arg(&db);
                }
                timed(&mut cmd)
            })?;
            out.push(
                Figure::new(
                    format!("{label}, {n} migrations (all applied)"),
                    (ms(t), "ms"),
                    format!("sha256sum over the same {n} files"),
                    sha,
                )
                .ratio_at_most(1.5, "reference"),
            );
        }
    }
    Ok(out)
}

/// `cargo xtask bench --markdown`: the README's table, from `target/bench.json`.
pub fn markdown() -> anyhow::Result<()> {
    print!("{}", BenchRun::load(&workspace_root()?)?.markdown());
    Ok(())
}
