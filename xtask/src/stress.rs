//! `cargo xtask stress [--quick] [--report [--markdown]]`: crash and concurrency runs at a larger
//! scale than the tests: SIGKILL at random moments across runs of migrate, and of backup and
//! restore on rollback-journal and WAL databases; 16 concurrent migrators; backups under
//! continuous writes. Every child's end is recorded (one that fails on its own fails the run),
//! and after every run a list of checks (`Check`) must hold; a scenario counts its runs, the runs
//! that failed a check, and the runs that lost committed data.

mod child;
mod outcome;
mod state;

use crate::bench::{release_binary, timed, write_project};
use crate::provenance::Provenance;
use anyhow::Context as _;
use child::Ended;
use outcome::{Check, Outcome, markdown_report, text};
use rusqlite::Connection;
use state::{beside, count, history_matches_schema, journal_mode, remove_db};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// A scenario's project in `tmp/name`: `migrations` migrations, each creating a table `tN` with
/// `rows` rows; the database lives alone in its data directory `data/`.
fn project(tmp: &Path, name: &str, bin: &Path, migrations: usize, rows: usize) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = tmp.join(name);
    let files = (1..=migrations).map(|i| {
        let sql = format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);\n\
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows}) INSERT INTO t{i} (v) SELECT hex(randomblob(16)) FROM c;\n"
        );
        (format!("{i:04}_m{i}.sql"), sql)
    });
    write_project(bin, &dir, "stress", files)?;
    std::fs::create_dir_all(dir.join("data"))?;
    std::fs::create_dir_all(dir.join("fixtures"))?;
    let db = dir.join("data/app.db");
    Ok((dir, db))
}

fn envdb(bin: &Path, dir: &Path, args: &[&str], db: &Path) -> anyhow::Result<Duration> {
    timed(Command::new(bin).args(args).arg("--database").arg(db).current_dir(dir))
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The journal mode SQLite gives a new database file.
const NEW_DATABASE_MODE: &str = "delete";

fn kill_migrate(bin: &Path, tmp: &Path, runs: usize, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new(
        "SIGKILL during migrate (200 migrations)",
        &[Check::Exit, Check::Done, Check::History, Check::Resumes, Check::Journal, Check::Leftovers],
    );
    let (dir, db) = project(tmp, "kill-migrate", bin, 200, 200)?;
    let full = envdb(bin, &dir, &["migrate", "-q"], &db)?.as_micros() as u64;
    remove_db(&db);
    let mut midway = 0;
    for run in 1..=runs {
        out.runs += 1;
        let child = child::start(bin, &dir, &["migrate", "-q", "--database", arg(&db)])?;
        let ended = out.ended(run, child.kill_after(Duration::from_micros(rng.below(full)))?);
        out.leftovers(run, bin, &dir, &db)?;
        if !db.exists() {
            if ended == Ended::Finished {
                out.fail(Check::Done, run, "migrate exited 0 but the database does not exist");
            }
            continue;
        }
        match history_matches_schema(&db, 200) {
            Ok(n) => {
                // A run that finished applied everything and left the journal mode a new
                // database has.
                if ended == Ended::Finished {
                    if n != 200 {
                        out.fail(Check::Done, run, format!("migrate exited 0 with {n} of 200 applied"));
                    }
                    out.journal(run, &db, NEW_DATABASE_MODE);
                }
                if n == 200 {
                    remove_db(&db);
                } else {
                    midway += usize::from(n > 0);
                }
            }
            Err(b) => {
                out.broken(Check::History, run, b);
                remove_db(&db);
            }
        }
    }
    // Whatever state the last kill left, a new run finishes the job, in the journal mode of a
    // new database.
    let last = child::start(bin, &dir, &["migrate", "-q", "--database", arg(&db)])?.wait()?;
    if out.ended(runs, last) == Ended::Finished {
        match history_matches_schema(&db, 200) {
            Ok(200) => out.journal(runs, &db, NEW_DATABASE_MODE),
            Ok(n) => out.fail(Check::Resumes, runs, format!("the final migrate stopped at {n} of 200")),
            Err(b) => out.broken(Check::History, runs, b),
        }
    } else {
        out.fail(Check::Resumes, runs, "the final migrate did not finish");
    }
    out.leftovers(runs, bin, &dir, &db)?;
    out.facts.push(format!("{midway} kills landed between two migrations of a run"));
    Ok(out)
}

/// Adds about `mib` MiB to `blobs`; the connection does not checkpoint when it closes.
fn fill(db: &Path, mib: u64) -> anyhow::Result<()> {
    Ok(crate::bench::fill(&state::open(db)?, mib)?)
}

/// Switches `db` to WAL and commits one more MiB that stays in the WAL (no checkpoint when the
/// connection closes), so a backup or restore must take the WAL into account.
fn to_wal(db: &Path) -> anyhow::Result<()> {
    let mode: String = Connection::open(db)?.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    anyhow::ensure!(mode == "wal", "{}: cannot switch to WAL ({mode})", db.display());
    fill(db, 1)?;
    anyhow::ensure!(std::fs::metadata(beside(db, "-wal"))?.len() > 0, "{}: the WAL is empty", db.display());
    Ok(())
}

/// The database's rows and journal mode once set up, in either mode.
fn big_database(bin: &Path, dir: &Path, db: &Path, mib: u64, wal: bool) -> anyhow::Result<(i64, String)> {
    envdb(bin, dir, &["migrate", "-q"], db)?;
    fill(db, mib)?;
    if wal {
        to_wal(db)?;
    }
    Ok((count(db).map_err(anyhow::Error::msg)?, journal_mode(db).map_err(anyhow::Error::msg)?))
}

fn mode_name(wal: bool) -> &'static str {
    if wal { "WAL" } else { "rollback journal" }
}

fn kill_backup(bin: &Path, tmp: &Path, runs: usize, mib: u64, wal: bool, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new(
        format!("SIGKILL during backup ({mib} MiB, {})", mode_name(wal)),
        &[Check::Exit, Check::Done, Check::BackupNames, Check::Untouched, Check::Journal, Check::Leftovers],
    );
    let (dir, db) = project(tmp, if wal { "kill-backup-wal" } else { "kill-backup" }, bin, 1, 1)?;
    let (rows, mode) = big_database(bin, &dir, &db, mib, wal)?;
    let backups = db.with_file_name("backups");
    let full = envdb(bin, &dir, &["backup", "-q"], &db)?.as_micros() as u64;
    std::fs::remove_dir_all(&backups)?;
    let (mut complete, mut partial) = (0, 0);
    for run in 1..=runs {
        out.runs += 1;
        let child = child::start(bin, &dir, &["backup", "-q", "--database", arg(&db)])?;
        let ended = out.ended(run, child.kill_after(Duration::from_micros(rng.below(full * 3 / 2)))?);
        out.leftovers(run, bin, &dir, &db)?;
        let complete_before = complete;
        for entry in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                partial += 1;
            } else if name.ends_with(".sha256") {
                // Checked and removed with its backup below (the directory may list it before its
                // backup), or alone after this loop: the kill came between writing it and placing
                // its backup (`backups` lists it, so the leftovers check passed).
                continue;
            } else {
                complete += 1;
                // A placed backup always has its checksum file (written before the backup is placed).
                let sidecar = entry.path().with_file_name(format!("{name}.sha256"));
                if !sidecar.exists() {
                    out.fail(Check::BackupNames, run, format!("{name} has no checksum file"));
                }
                let _ = std::fs::remove_file(sidecar);
                match count(&entry.path()) {
                    Ok(n) if n == rows => {}
                    Ok(n) => out.fail(Check::BackupNames, run, format!("{name} holds {n} of {rows} rows")),
                    Err(why) => out.fail(Check::BackupNames, run, format!("{name} fails verification: {why}")),
                }
            }
            std::fs::remove_file(entry.path())?;
        }
        for entry in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().ends_with(".sha256") {
                std::fs::remove_file(entry.path())?;
            }
        }
        if ended == Ended::Finished && complete == complete_before {
            out.fail(Check::Done, run, "backup exited 0 but wrote no backup");
        }
        if count(&db) != Ok(rows) {
            out.lose(Check::Untouched, run, "the database changed");
        }
        out.journal(run, &db, &mode);
    }
    out.facts.push(format!("{complete} backups finished before the kill, {partial} were killed mid-copy (an interrupted backup, listed by `backups`)"));
    Ok(out)
}

/// Copies the database and its WAL (if any) from `from` to `to`, neither open.
fn copy_db(from: &Path, to: &Path) -> anyhow::Result<()> {
    remove_db(to);
    std::fs::copy(from, to)?;
    if beside(from, "-wal").exists() {
        std::fs::copy(beside(from, "-wal"), beside(to, "-wal"))?;
    }
    Ok(())
}

fn kill_restore(bin: &Path, tmp: &Path, runs: usize, mib: u64, wal: bool, rng: &mut Rng) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new(
        format!("SIGKILL during restore ({mib} MiB, {})", mode_name(wal)),
        &[Check::Exit, Check::Done, Check::OldOrNew, Check::Journal, Check::Leftovers],
    );
    let (dir, db) = project(tmp, if wal { "kill-restore-wal" } else { "kill-restore" }, bin, 1, 1)?;
    envdb(bin, &dir, &["migrate", "-q"], &db)?;
    fill(&db, mib)?;
    let backup = dir.join("fixtures/b.db");
    timed(Command::new(bin).args(["backup", "-q", "--database"]).arg(&db).arg("-o").arg(&backup).current_dir(&dir))?;
    fill(&db, 1)?;
    if wal {
        to_wal(&db)?;
    }
    let (old_rows, new_rows) = (count(&db).map_err(anyhow::Error::msg)?, count(&backup).map_err(anyhow::Error::msg)?);
    let mode = journal_mode(&db).map_err(anyhow::Error::msg)?;
    let pristine = dir.join("fixtures/pristine.db");
    copy_db(&db, &pristine)?;
    let backups = db.with_file_name("backups");
    // A restore's time as in the runs: from the pristine copy just written, the longest of three.
    let mut full = 0;
    for _ in 0..3 {
        copy_db(&pristine, &db)?;
        full = full.max(envdb(bin, &dir, &["restore", "-q", arg(&backup)], &db)?.as_micros() as u64);
        std::fs::remove_dir_all(&backups)?;
    }
    let (mut restored, mut untouched) = (0, 0);
    for run in 1..=runs {
        out.runs += 1;
        let _ = std::fs::remove_dir_all(&backups);
        copy_db(&pristine, &db)?;
        let child = child::start(bin, &dir, &["restore", "-q", arg(&backup), "--database", arg(&db)])?;
        let ended = out.ended(run, child.kill_after(Duration::from_micros(rng.below(full * 3 / 2)))?);
        out.leftovers(run, bin, &dir, &db)?;
        let kept_old = std::fs::read_dir(&backups)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".replaced.db") && count(&e.path()) == Ok(old_rows));
        match count(&db) {
            Ok(n) if n == old_rows && ended == Ended::Finished => {
                out.fail(Check::Done, run, "restore exited 0 but the old database is still in place")
            }
            Ok(n) if n == old_rows => untouched += 1,
            Ok(n) if n == new_rows && kept_old => restored += 1,
            Ok(n) if n == new_rows => out.lose(Check::OldOrNew, run, "restored, but the replaced database is not kept"),
            Ok(n) => out.fail(
                Check::OldOrNew,
                run,
                format!("the database holds {n} rows: neither the old ({old_rows}) nor the new ({new_rows})"),
            ),
            Err(why) => {
                if kept_old {
                    out.fail(Check::OldOrNew, run, format!("the database fails verification: {why}"));
                } else {
                    out.lose(Check::OldOrNew, run, format!("the database fails verification: {why}"));
                }
            }
        }
        out.journal(run, &db, &mode);
    }
    out.facts.push(format!("{restored} runs ended with the backup in place (killed after the swap, or finished), {untouched} with the old database"));
    Ok(out)
}

fn concurrent(bin: &Path, tmp: &Path, runs: usize) -> anyhow::Result<Outcome> {
    let mut out = Outcome::new(
        "16 concurrent migrators (40 migrations)",
        &[Check::Exit, Check::History, Check::Journal, Check::Leftovers],
    );
    let (dir, db) = project(tmp, "concurrent", bin, 40, 200)?;
    for run in 1..=runs {
        out.runs += 1;
        remove_db(&db);
        let children = (0..16)
            .map(|_| child::start(bin, &dir, &["migrate", "-q", "--database", arg(&db)]))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for c in children {
            let ended = c.wait()?;
            out.ended(run, ended);
        }
        match history_matches_schema(&db, 200) {
            Ok(40) => {}
            Ok(n) => out.fail(Check::History, run, format!("{n} of 40 applied")),
            Err(b) => out.broken(Check::History, run, b),
        }
        out.journal(run, &db, NEW_DATABASE_MODE);
        out.leftovers(run, bin, &dir, &db)?;
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
    let mut out = Outcome::new(
        "backup under continuous writes (WAL)",
        &[Check::Exit, Check::Done, Check::Writer, Check::BackupContent, Check::Journal, Check::Leftovers],
    );
    let dir = tmp.join("writes");
    let items = "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\nCREATE TABLE total (n INTEGER NOT NULL);\nINSERT INTO total VALUES (0);\n";
    write_project(bin, &dir, "stress", [("0001_items.sql".to_owned(), items.to_owned())])?;
    let db = dir.join("data/app.db");
    envdb(bin, &dir, &["migrate", "-q"], &db)?;
    Connection::open(&db)?.query_row("PRAGMA journal_mode = wal", [], |_| Ok(()))?;
    let backups = db.with_file_name("backups");
    let me = std::env::current_exe()?;
    let mut writer = child::start(&me, &dir, &["__writer", arg(&db)])?;
    std::thread::sleep(Duration::from_millis(200));
    let mut last = 0;
    for run in 1..=runs {
        out.runs += 1;
        let backup = child::start(bin, &dir, &["backup", "-q", "--database", arg(&db)])?.wait()?;
        let finished = out.ended(run, backup) == Ended::Finished;
        if let Some(ended) = writer.ended()? {
            out.fail(Check::Writer, run, format!("the writer is gone after the backup: {ended:?}"));
            break;
        }
        let mut written = 0;
        for entry in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".sha256") {
                continue;
            }
            let _ = std::fs::remove_file(entry.path().with_file_name(format!("{name}.sha256")));
            written += 1;
            let check = || -> anyhow::Result<(i64, i64, Vec<String>)> {
                let c = state::open(&entry.path())?;
                let rows = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
                let total = c.query_row("SELECT n FROM total", [], |r| r.get(0))?;
                Ok((rows, total, state::lines(&c, "integrity_check")?))
            };
            match check() {
                Ok((rows, total, ok)) if rows == total && ok == ["ok"] => {
                    if rows <= last {
                        out.fail(Check::Writer, run, format!("this backup holds {rows} rows, the one before {last}"));
                    }
                    last = rows;
                }
                Ok((rows, total, ok)) => out.lose(
                    Check::BackupContent,
                    run,
                    format!("{rows} rows but total {total}; integrity: {}", ok.join("; ")),
                ),
                Err(e) => out.fail(Check::BackupContent, run, e.to_string()),
            }
            std::fs::remove_file(entry.path())?;
        }
        if finished && written != 1 {
            out.fail(Check::Done, run, format!("backup exited 0 and {written} backups are there, not one"));
        }
        out.journal(run, &db, "wal");
        out.leftovers(run, bin, &dir, &db)?;
    }
    // The writer must still be running: only our kill may end it.
    match writer.kill_after(Duration::ZERO)? {
        Ended::Killed => {}
        other => out.fail(Check::Writer, runs, format!("the writer ended on its own: {other:?}")),
    }
    out.facts.push(format!("the writer had committed {last} rows by the last backup"));
    Ok(out)
}

pub fn run(quick: bool, report: bool, markdown: bool) -> anyhow::Result<()> {
    let (workspace, bin) = release_binary()?;
    let provenance = Provenance::now(&workspace)?;
    let tmp = tempfile::tempdir()?;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (migrates, backups, restores, concurrents, writes, mib) =
        if quick { (40, 30, 30, 3, 10, 16) } else { (400, 300, 300, 20, 50, 64) };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    type Scenario<'a> = Box<dyn FnOnce(&mut Rng) -> anyhow::Result<Outcome> + 'a>;
    let scenarios: Vec<Scenario<'_>> = vec![
        Box::new(|rng| kill_migrate(&bin, tmp.path(), migrates, rng)),
        Box::new(|rng| kill_backup(&bin, tmp.path(), backups, mib, false, rng)),
        Box::new(|rng| kill_backup(&bin, tmp.path(), backups, mib, true, rng)),
        Box::new(|rng| kill_restore(&bin, tmp.path(), restores, mib, false, rng)),
        Box::new(|rng| kill_restore(&bin, tmp.path(), restores, mib, true, rng)),
        Box::new(|_| concurrent(&bin, tmp.path(), concurrents)),
        Box::new(|_| backup_under_writes(&bin, tmp.path(), writes)),
    ];
    for scenario in scenarios {
        let o = scenario(&mut rng).context("the scenario could not run")?;
        eprint!("{}", text(&o));
        outcomes.push(o);
    }
    let command = format!(
        "cargo xtask stress{}{}",
        if quick { " --quick" } else { "" },
        if markdown {
            " --report --markdown"
        } else if report {
            " --report"
        } else {
            ""
        }
    );
    let took = started.elapsed();
    if markdown {
        print!("{}", markdown_report(&outcomes, &provenance.describe(&command), took));
    } else if report {
        for o in &outcomes {
            print!("{}", text(o));
        }
        println!(
            "{} runs in {:.0} s ({})",
            outcomes.iter().map(|o| o.runs).sum::<usize>(),
            took.as_secs_f64(),
            provenance.describe(&command)
        );
    }
    anyhow::ensure!(outcomes.iter().all(|o| o.failed_runs.is_empty()), "some runs failed (see above)");
    Ok(())
}
