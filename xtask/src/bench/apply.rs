//! The migrate rows, like for like: `migrate` of 1,000 migrations beside in-process reference
//! appliers that run the same SQL through the same bundled SQLite, once with SQLite's defaults (R1,
//! R2: what a hand-written runner does) and once with exactly the settings envdb uses for a run
//! (R1′, R2′). envdb ÷ R′ is the tool's own cost, R′ ÷ R what the durability strategy gains.

use super::figures::Figure;
use super::{median, migration_sql, ms, timed};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How a reference applier sets SQLite up.
#[derive(Clone, Copy, PartialEq)]
enum Settings {
    /// SQLite's defaults: rollback journal, `synchronous=FULL` (an fsync at every commit).
    Defaults,
    /// What `migrate` does on a database no application holds: WAL with `synchronous=NORMAL`
    /// for the run, then `synchronous=FULL`, one `wal_checkpoint(TRUNCATE)` and back to the
    /// rollback journal.
    Envdb,
}

const DEFAULTS: &str = "SQLite defaults (rollback journal, synchronous=FULL: an fsync per commit)";
const ENVDB: &str =
    "envdb's settings (WAL, synchronous=NORMAL, one synced checkpoint at the end, back to the rollback journal)";

/// The reference applier: the same SQL, one transaction per migration (`single` false) or one
/// for all, each migration with a history insert, into a new database file.
fn reference_apply(path: &Path, n: usize, single: bool, settings: Settings) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let conn = Connection::open(path)?;
    // envdb creates its tables first, then switches the journal for the run.
    conn.execute_batch(
        "CREATE TABLE history (version INTEGER PRIMARY KEY, name TEXT, checksum TEXT, applied_at TEXT, ms INTEGER)",
    )?;
    if settings == Settings::Envdb {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(mode == "wal", "{}: cannot switch to WAL ({mode})", path.display());
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
    }
    let body = |i: usize| -> rusqlite::Result<()> {
        conn.execute_batch(&migration_sql(i))?;
        conn.execute("INSERT INTO history VALUES (?1, 'm', 'c', 'now', 0)", [i as i64])?;
        Ok(())
    };
    if single {
        conn.execute_batch("BEGIN")?;
        (1..=n).try_for_each(body)?;
        conn.execute_batch("COMMIT")?;
    } else {
        for i in 1..=n {
            conn.execute_batch("BEGIN")?;
            body(i)?;
            conn.execute_batch("COMMIT")?;
        }
    }
    if settings == Settings::Envdb {
        conn.execute_batch("PRAGMA synchronous = FULL")?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        anyhow::ensure!(busy == 0, "{}: the checkpoint could not finish", path.display());
        let _: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    }
    drop(conn);
    Ok(start.elapsed())
}

/// Six timings per repetition, interleaved so that a drifting disk weighs on all of them alike.
#[derive(Default)]
struct Series {
    r: Vec<Duration>,
    r_envdb: Vec<Duration>,
    ours: Vec<Duration>,
}

/// The migrate rows for `n` migrations in the project at `dir`; `fresh` names new database files.
pub fn rows(
    bin: &Path,
    dir: &Path,
    n: usize,
    reps: usize,
    fresh: &mut dyn FnMut() -> PathBuf,
) -> anyhow::Result<Vec<Figure>> {
    let (mut each, mut single) = (Series::default(), Series::default());
    for _ in 0..reps {
        for (series, one) in [(&mut each, false), (&mut single, true)] {
            series.r.push(reference_apply(&fresh(), n, one, Settings::Defaults)?);
            series.r_envdb.push(reference_apply(&fresh(), n, one, Settings::Envdb)?);
            let mut cmd = Command::new(bin);
            cmd.args(["migrate", "-q"]);
            if one {
                cmd.arg("--single-transaction");
            }
            series.ours.push(timed(cmd.arg("--database").arg(fresh()).current_dir(dir))?);
        }
    }
    // Each migration atomic beside all in one transaction (SQLite's defaults): what atomicity
    // costs the whole process.
    let r2 = ms(median(single.r.clone()));
    let mut out = vec![
        Figure::new(
            format!("migrate {n} to a fresh file (each migration atomic), beside R2"),
            (ms(median(each.ours.clone())), "ms"),
            format!("R2: same SQL in-process, all in one transaction, {DEFAULTS}"),
            r2,
        )
        .ratio_at_most(1.5, "R2"),
    ];
    for (series, what, label, r, tool_target, r_target) in [
        (
            each,
            format!("migrate {n} to a fresh file (each migration atomic, durable at exit)"),
            "a transaction per migration + history insert",
            "R1",
            1.5,
            0.35,
        ),
        (single, format!("migrate {n} --single-transaction"), "all in one transaction", "R2", 1.5, 1.2),
    ] {
        let (ours, r_value, r_envdb) = (ms(median(series.ours)), ms(median(series.r)), ms(median(series.r_envdb)));
        let prime = format!("{r}′");
        let reference = |name: &str, settings: &str| format!("{name}: same SQL in-process, {label}, {settings}");
        out.push(
            Figure::new(what.clone(), (ours, "ms"), reference(&prime, ENVDB), r_envdb)
                .ratio_at_most(tool_target, &prime),
        );
        out.push(Figure::new(what, (ours, "ms"), reference(r, DEFAULTS), r_value).ratio_at_most(r_target, r));
        out.push(Figure::new(
            format!("(context) {prime} beside {r}: what envdb's settings alone gain"),
            (r_envdb, "ms"),
            reference(r, DEFAULTS),
            r_value,
        ));
    }
    Ok(out)
}
