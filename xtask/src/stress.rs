//! `cargo xtask stress [--quick] [--report]`: crash and concurrency runs at a larger scale than the
//! tests: SIGKILL at random moments across runs of migrate, backup and restore; 16 concurrent
//! migrators; backups under continuous writes. Each scenario counts runs, failures (a check that
//! did not hold) and runs that lost data.

use crate::bench::{release_binary, timed, write_project};
use anyhow::Context as _;
use rusqlite::Connection;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Outcome {
    scenario: &'static str,
    runs: usize,
    failures: usize,
    lost: usize,
    notes: Vec<String>,
}

impl Outcome {
    fn new(scenario: &'static str) -> Outcome {
        Outcome { scenario, runs: 0, failures: 0, lost: 0, notes: Vec::new() }
    }

    fn fail(&mut self, run: usize, why: impl Into<String>) {
        self.failures += 1;
        if self.notes.len() < 5 {
            self.notes.push(format!("run {run}: {}", why.into()));
        }
    }
}

/// A small xorshift generator: reproducible kill times without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<Child> {
    Ok(Command::new(bin).args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?)
}

fn kill_after(mut child: Child, delay: Duration) -> anyhow::Result<()> {
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait()?;
    Ok(())
}

fn project(dir: &Path, bin: &Path, migrations: usize, rows: usize) -> anyhow::Result<()> {
    let files = (1..=migrations).map(|i| {
        let sql = format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);\n\
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) INSERT INTO t{i} (v) SELECT hex(randomblob(16)) FROM c;\n"
        );
        (format!("{i:04}_m{i}.sql"), sql)
    });
    write_project(bin, dir, "stress", files).map(drop)
}

fn lines(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA {pragma}"))?.query_map([], |r| r.get(0))?.collect()
}

/// History and schema agree exactly; returns the applied count, or why not (and whether data was lost).
fn consistent(db: &Path, rows: i64) -> Result<usize, (String, bool)> {
    let conn = Connection::open(db).map_err(|e| (e.to_string(), true))?;
    let ok = lines(&conn, "integrity_check").map_err(|e| (e.to_string(), true))?;
    if ok != ["ok"] {
        return Err((format!("integrity_check: {}", ok.join("; ")), true));
    }
    let has_history: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'envdb_migrations'", [], |r| r.get(0))
        .map_err(|e| (e.to_string(), true))?;
    let versions: Vec<i64> = if has_history == 1 {
        conn.prepare("SELECT version FROM envdb_migrations ORDER BY version")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| (e.to_string(), true))?
    } else {
        Vec::new()
    };
    for v in &versions {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM t{v}"), [], |r| r.get(0))
            .map_err(|_| (format!("migration {v} is recorded but its table is missing"), true))?;
        if n != rows {
            return Err((format!("migration {v} is recorded with {n} of {rows} rows"), true));
        }
    }
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name GLOB 't[0-9]*'", [], |r| r.get(0))
        .map_err(|e| (e.to_string(), false))?;
    if tables as usize != versions.len() {
        return Err((format!("{tables} tables but {} recorded migrations (half applied)", versions.len()), false));
    }
    Ok(versions.len())
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn kill_migrate(bin: &Path, tmp: &Path, runs: usize, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("SIGKILL during migrate (200 migrations)");
    let dir = tmp.join("kill-migrate");
    project(&dir, bin, 200, 200)?;
    let db = dir.join("app.db");
    let start = Instant::now();
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    let full = start.elapsed().as_micros() as u64;
    remove_db(&db);
    let mut midway = 0;
    for run in 1..=runs {
        out.runs += 1;
        let child = spawn(bin, &dir, &["migrate", "-q", "--database", db.to_str().unwrap()])?;
        kill_after(child, Duration::from_micros(rng.below(full)))?;
        if !db.exists() {
            continue;
        }
        match consistent(&db, 200) {
            Ok(200) => remove_db(&db),
            Ok(n) => midway += usize::from(n > 0),
            Err((why, lost)) => {
                out.lost += usize::from(lost);
                out.fail(run, why);
                remove_db(&db);
            }
        }
    }
    // Whatever state the last kill left, a new run finishes the job.
    if let Err(e) = timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir)) {
        out.fail(runs, format!("the final migrate failed: {e}"));
    } else if consistent(&db, 200) != Ok(200) {
        out.fail(runs, "the final migrate did not finish the job");
    }
    out.notes.push(format!("{midway} kills landed between migrations"));
    Ok(out)
}

fn fill(db: &Path, mib: u64) -> anyhow::Result<()> {
    let conn = Connection::open(db)?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL); BEGIN;")?;
    let mut stmt = conn.prepare("INSERT INTO blobs (data) VALUES (randomblob(4000))")?;
    for _ in 0..mib * 256 {
        stmt.execute([])?;
    }
    drop(stmt);
    conn.execute_batch("COMMIT")?;
    Ok(())
}

fn count(db: &Path) -> Result<i64, String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    let ok = lines(&conn, "quick_check").map_err(|e| e.to_string())?;
    if ok != ["ok"] {
        return Err(ok.join("; "));
    }
    conn.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).map_err(|e| e.to_string())
}

fn kill_backup(bin: &Path, tmp: &Path, runs: usize, mib: u64, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("SIGKILL during backup");
    let dir = tmp.join("kill-backup");
    project(&dir, bin, 1, 1)?;
    let db = dir.join("app.db");
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    fill(&db, mib)?;
    let rows = count(&db).map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    timed(Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    let full = start.elapsed().as_micros() as u64;
    let (mut finished, mut partial) = (0, 0);
    for run in 1..=runs {
        out.runs += 1;
        let child = spawn(bin, &dir, &["backup", "-q", "--database", db.to_str().unwrap()])?;
        kill_after(child, Duration::from_micros(rng.below(full * 3 / 2)))?;
        for entry in std::fs::read_dir(dir.join("backups"))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                partial += 1;
                std::fs::remove_file(entry.path())?;
                continue;
            }
            if let Some(backup) = name.strip_suffix(".sha256") {
                // Left alone when the kill came between the checksum file and the backup.
                if !entry.path().with_file_name(backup).exists() {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            finished += 1;
            // A finished backup always has its checksum file (written before the backup is placed).
            let sidecar = entry.path().with_file_name(format!("{name}.sha256"));
            if !sidecar.exists() {
                out.fail(run, format!("{name} has no checksum file"));
            }
            let _ = std::fs::remove_file(sidecar);
            match count(&entry.path()) {
                Ok(n) if n == rows => {}
                Ok(n) => out.fail(run, format!("{name} holds {n} of {rows} rows")),
                Err(why) => out.fail(run, format!("{name} under a backup name fails verification: {why}")),
            }
            std::fs::remove_file(entry.path())?;
        }
        if count(&db) != Ok(rows) {
            out.lost += 1;
            out.fail(run, "the database changed");
        }
    }
    out.notes.push(format!("{finished} backups finished before the kill, {partial} were killed mid-copy"));
    Ok(out)
}

fn kill_restore(bin: &Path, tmp: &Path, runs: usize, mib: u64, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("SIGKILL during restore");
    let dir = tmp.join("kill-restore");
    project(&dir, bin, 1, 1)?;
    let db = dir.join("app.db");
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    fill(&db, mib)?;
    let backup = dir.join("b.db");
    timed(Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(&backup).current_dir(&dir))?;
    fill(&db, 1)?;
    let (old_rows, new_rows) = (count(&db).map_err(anyhow::Error::msg)?, count(&backup).map_err(anyhow::Error::msg)?);
    let pristine = dir.join("pristine.db");
    std::fs::copy(&db, &pristine)?;
    let start = Instant::now();
    timed(Command::new(bin).args(["restore", "-q"]).arg(&backup).arg("--database").arg(&db).current_dir(&dir))?;
    let full = start.elapsed().as_micros() as u64;
    let (mut restored, mut untouched) = (0, 0);
    for run in 1..=runs {
        out.runs += 1;
        remove_db(&db);
        let _ = std::fs::remove_dir_all(dir.join("backups"));
        std::fs::copy(&pristine, &db)?;
        let child = spawn(bin, &dir, &["restore", "-q", backup.to_str().unwrap(), "--database", db.to_str().unwrap()])?;
        kill_after(child, Duration::from_micros(rng.below(full * 3 / 2)))?;
        let kept_old = std::fs::read_dir(dir.join("backups"))
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name().to_string_lossy().ends_with(".replaced.db") && count(&e.path()) == Ok(old_rows)
                })
            })
            .unwrap_or(false);
        match count(&db) {
            Ok(n) if n == old_rows => untouched += 1,
            Ok(n) if n == new_rows && kept_old => restored += 1,
            Ok(n) if n == new_rows => {
                out.lost += 1;
                out.fail(run, "restored, but the replaced database is not kept");
            }
            Ok(n) => out.fail(
                run,
                format!("the database holds {n} rows: neither the old ({old_rows}) nor the new ({new_rows})"),
            ),
            Err(why) => {
                out.lost += usize::from(!kept_old);
                out.fail(run, format!("the database fails verification: {why}"));
            }
        }
    }
    out.notes.push(format!("{restored} kills came after the swap, {untouched} before it"));
    Ok(out)
}

fn concurrent(bin: &Path, tmp: &Path, runs: usize) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("16 concurrent migrators (40 migrations)");
    let dir = tmp.join("concurrent");
    project(&dir, bin, 40, 200)?;
    let db = dir.join("app.db");
    for run in 1..=runs {
        out.runs += 1;
        remove_db(&db);
        let children: Vec<Child> = (0..16)
            .map(|_| spawn(bin, &dir, &["migrate", "-q", "--database", db.to_str().unwrap()]))
            .collect::<anyhow::Result<_>>()?;
        let mut failed = 0;
        for mut c in children {
            failed += usize::from(!c.wait()?.success());
        }
        if failed > 0 {
            out.fail(run, format!("{failed} of 16 migrators failed"));
        }
        match consistent(&db, 200) {
            Ok(40) => {}
            Ok(n) => out.fail(run, format!("{n} of 40 applied")),
            Err((why, lost)) => {
                out.lost += usize::from(lost);
                out.fail(run, why);
            }
        }
    }
    Ok(out)
}

/// `xtask __writer DB`: writes to DB until killed; every committed state has `total.n` equal to
/// the number of rows in `items`.
pub fn writer(db: &str) -> anyhow::Result<()> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    for i in 0u64.. {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; INSERT INTO items (v) VALUES ('a{i}'), ('b{i}'); UPDATE total SET n = n + 2; COMMIT;"
        ))?;
    }
    Ok(())
}

fn backup_under_writes(bin: &Path, tmp: &Path, runs: usize) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new("backup under continuous writes (WAL)");
    let dir = tmp.join("writes");
    let items = "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\nCREATE TABLE total (n INTEGER NOT NULL);\nINSERT INTO total VALUES (0);\n";
    write_project(bin, &dir, "stress", [("0001_items.sql".to_owned(), items.to_owned())])?;
    let db = dir.join("app.db");
    timed(Command::new(bin).args(["migrate", "-q", "--database"]).arg(&db).current_dir(&dir))?;
    Connection::open(&db)?.query_row("PRAGMA journal_mode = wal", [], |_| Ok(()))?;
    let mut writer = Command::new(std::env::current_exe()?)
        .arg("__writer")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(200));
    let mut last = 0;
    for run in 1..=runs {
        out.runs += 1;
        let copy = dir.join(format!("copy{run}.db"));
        if let Err(e) = timed(
            Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(&copy).current_dir(&dir),
        ) {
            out.fail(run, format!("backup failed: {e}"));
            continue;
        }
        let check = || -> anyhow::Result<(i64, i64, Vec<String>)> {
            let c = Connection::open(&copy)?;
            let rows = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
            let total = c.query_row("SELECT n FROM total", [], |r| r.get(0))?;
            Ok((rows, total, lines(&c, "integrity_check")?))
        };
        match check() {
            Ok((rows, total, ok)) if rows == total && ok == ["ok"] => {
                if rows < last {
                    out.fail(run, "a later backup holds fewer rows");
                }
                last = rows;
            }
            Ok((rows, total, ok)) => {
                out.lost += 1;
                out.fail(run, format!("{rows} rows but total {total}; integrity: {}", ok.join("; ")));
            }
            Err(e) => out.fail(run, e.to_string()),
        }
        std::fs::remove_file(&copy)?;
    }
    let _ = writer.kill();
    writer.wait()?;
    out.notes.push(format!("the writer committed {last} rows by the last backup"));
    Ok(out)
}

pub fn run(quick: bool, report: bool) -> anyhow::Result<()> {
    let (_, bin) = release_binary()?;
    let tmp = tempfile::tempdir()?;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (migrates, backups, restores, concurrents, writes, mib) =
        if quick { (40, 30, 30, 3, 10, 16) } else { (400, 300, 300, 20, 50, 64) };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    type Scenario<'a> = Box<dyn FnOnce(&mut Rng) -> anyhow::Result<Outcome> + 'a>;
    let scenarios: Vec<Scenario<'_>> = vec![
        Box::new(|rng| kill_migrate(&bin, tmp.path(), migrates, rng)),
        Box::new(|rng| kill_backup(&bin, tmp.path(), backups, mib, rng)),
        Box::new(|rng| kill_restore(&bin, tmp.path(), restores, mib, rng)),
        Box::new(|_| concurrent(&bin, tmp.path(), concurrents)),
        Box::new(|_| backup_under_writes(&bin, tmp.path(), writes)),
    ];
    for scenario in scenarios {
        let o = scenario(&mut rng).context("the scenario could not run")?;
        eprintln!("{}: {} runs, {} failures, {} with data lost", o.scenario, o.runs, o.failures, o.lost);
        for n in &o.notes {
            eprintln!("    {n}");
        }
        outcomes.push(o);
    }
    if report {
        println!("| scenario | runs | failures | data lost |");
        println!("|---|---:|---:|---:|");
        for o in &outcomes {
            println!("| {} | {} | {} | {} |", o.scenario, o.runs, o.failures, o.lost);
        }
        println!(
            "\n{} runs in {:.0} s (`cargo xtask stress{} --report`)",
            outcomes.iter().map(|o| o.runs).sum::<usize>(),
            started.elapsed().as_secs_f64(),
            if quick { " --quick" } else { "" }
        );
    }
    anyhow::ensure!(outcomes.iter().all(|o| o.failures == 0), "some runs failed (see above)");
    Ok(())
}
