//! A stress scenario's outcome: runs, how its children ended, and each check's failures (a run
//! counts once however many checks it fails); and the reports printed from outcomes: text per
//! scenario, and the README's Reliability table (`--markdown`).

use super::child::Ended;
use super::state::{self, journal_mode, unlisted};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// The checks made after runs, as the report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// Every child ended by our SIGKILL or with exit status 0.
    Exit,
    /// A child that exited 0 did its job.
    Done,
    /// The README's "the history matches the schema exactly".
    History,
    /// A new run after the last kill finishes the job.
    Resumes,
    /// Nothing under a backup name that does not verify with all the rows.
    BackupNames,
    /// A backup holds exactly a committed state, and later ones hold more.
    BackupContent,
    /// A backup leaves the database as it was.
    Untouched,
    /// A restore leaves the old or the new database in place, and keeps the old one.
    OldOrNew,
    /// The journal mode after the run is the mode before it.
    Journal,
    /// No partial, temporary or restore file that `backups` does not list.
    Leftovers,
    /// The writer is alive after every backup and its rows keep growing.
    Writer,
}

impl Check {
    pub fn describe(self) -> &'static str {
        match self {
            Check::Exit => "every child killed by the harness or exited 0 (none failed on its own)",
            Check::Done => {
                "a child that exited 0 did its job (all applied, a verified backup written, the backup in place)"
            }
            Check::History => "history matches the schema exactly (1..n, user_version, schema_version, one table each)",
            Check::Resumes => "a new run after the last kill finishes the job",
            Check::BackupNames => "nothing under a backup name unless it verifies with every row",
            Check::BackupContent => "every backup holds exactly a committed state, each more than the last",
            Check::Untouched => "the database is unchanged by a backup",
            Check::OldOrNew => "the old or the new database in place, the old one kept",
            Check::Journal => "journal mode after the run equals the mode before",
            Check::Leftovers => {
                "no partial, temporary or restore file in the data directory that `backups` does not list"
            }
            Check::Writer => "the writer alive after every backup, its rows growing",
        }
    }
}

pub struct Outcome {
    pub scenario: String,
    pub checks: Vec<Check>,
    pub runs: usize,
    /// Children our SIGKILL ended, and children that finished (exit 0) before it.
    pub killed: usize,
    pub finished: usize,
    pub failed_runs: BTreeSet<usize>,
    pub lost_runs: BTreeSet<usize>,
    pub by_check: BTreeMap<Check, usize>,
    /// The first failures, the first failure of each check, and facts about where the kills landed.
    pub notes: Vec<String>,
    pub first: BTreeMap<Check, String>,
    pub facts: Vec<String>,
}

impl Outcome {
    /// Runs, children killed, children that finished first, failed runs, runs with data lost.
    fn counts(&self) -> [usize; 5] {
        [self.runs, self.killed, self.finished, self.failed_runs.len(), self.lost_runs.len()]
    }

    pub fn new(scenario: impl Into<String>, checks: &[Check]) -> Outcome {
        Outcome {
            scenario: scenario.into(),
            checks: checks.to_vec(),
            runs: 0,
            killed: 0,
            finished: 0,
            failed_runs: BTreeSet::new(),
            lost_runs: BTreeSet::new(),
            by_check: BTreeMap::new(),
            notes: Vec::new(),
            first: BTreeMap::new(),
            facts: Vec::new(),
        }
    }

    pub fn fail(&mut self, check: Check, run: usize, why: impl Into<String>) {
        debug_assert!(self.checks.contains(&check), "{check:?} is not listed for {}", self.scenario);
        self.failed_runs.insert(run);
        *self.by_check.entry(check).or_default() += 1;
        let note = format!("run {run}: {}", why.into());
        if self.notes.len() < 8 {
            self.notes.push(note.clone());
        }
        self.first.entry(check).or_insert(note);
    }

    pub fn lose(&mut self, check: Check, run: usize, why: impl Into<String>) {
        self.lost_runs.insert(run);
        self.fail(check, run, why);
    }

    pub fn broken(&mut self, check: Check, run: usize, b: state::Broken) {
        if b.lost {
            self.lose(check, run, b.why);
        } else {
            self.fail(check, run, b.why);
        }
    }

    /// Records how a child ended; one that failed on its own fails the run.
    pub fn ended(&mut self, run: usize, ended: Ended) -> Ended {
        match &ended {
            Ended::Killed => self.killed += 1,
            Ended::Finished => self.finished += 1,
            Ended::Failed(why) => self.fail(Check::Exit, run, why.clone()),
        }
        ended
    }

    /// The journal mode of `db` must be `before`.
    pub fn journal(&mut self, run: usize, db: &Path, before: &str) {
        match journal_mode(db) {
            Ok(mode) if mode == before => {}
            Ok(mode) => self.fail(Check::Journal, run, format!("journal mode {mode}, was {before}")),
            Err(e) => self.fail(Check::Journal, run, format!("cannot read the journal mode: {e}")),
        }
    }

    /// No file in the data directory that nothing lists; those found are removed (after being
    /// counted) so that the next run starts clean.
    pub fn leftovers(&mut self, run: usize, bin: &Path, project: &Path, db: &Path) -> anyhow::Result<()> {
        let project = std::fs::canonicalize(project)?;
        for path in unlisted(bin, &project, db)? {
            let shown = path.strip_prefix(&project).unwrap_or(&path).display().to_string();
            self.fail(Check::Leftovers, run, format!("{shown} is left and `backups` does not list it"));
            std::fs::remove_file(&path)?;
        }
        Ok(())
    }
}

/// One scenario as text: its counts, each check with its failures, the first failures, facts.
pub fn text(o: &Outcome) -> String {
    let [runs, killed, finished, failed, lost] = o.counts();
    let mut s = format!(
        "{}: {runs} runs ({killed} children killed, {finished} finished first), {failed} failed, {lost} with data lost\n",
        o.scenario
    );
    for c in &o.checks {
        let n = o.by_check.get(c).copied().unwrap_or(0);
        s.push_str(&format!(
            "    {:<10} {}\n",
            if n == 0 { "ok".to_owned() } else { format!("{n} FAILED") },
            c.describe()
        ));
    }
    for n in &o.notes {
        s.push_str(&format!("    failure: {n}\n"));
    }
    for f in &o.facts {
        s.push_str(&format!("    {f}\n"));
    }
    s
}

/// The README's Reliability table: the scenarios, then every check with the scenarios it ran in
/// and its failures, the first failures, and where the figures come from.
pub fn markdown_report(outcomes: &[Outcome], provenance: &str, took: Duration) -> String {
    let mut s = String::from(
        "| scenario | runs | killed | finished first | failed | data lost |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let cells: Vec<String> = o.counts().iter().map(usize::to_string).collect();
        s.push_str(&format!("| {} | {} |\n", o.scenario, cells.join(" | ")));
    }
    let mut checks: BTreeMap<Check, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        for c in &o.checks {
            let e = checks.entry(*c).or_default();
            e.0 += 1;
            e.1 += o.by_check.get(c).copied().unwrap_or(0);
        }
    }
    s.push_str("\n| checked after every run | scenarios | failures |\n|---|---:|---:|\n");
    for (c, (scenarios, failures)) in &checks {
        s.push_str(&format!("| {} | {scenarios} | {failures} |\n", c.describe()));
    }
    let firsts: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.first.iter().map(move |(c, n)| format!("- {}: {}: {n}", o.scenario, c.describe())))
        .collect();
    if !firsts.is_empty() {
        s.push_str("\nThe first failure of each failed check:\n\n");
        s.push_str(&firsts.join("\n"));
        s.push('\n');
    }
    s.push_str("\nWhat the runs covered:\n\n");
    for o in outcomes {
        for f in &o.facts {
            s.push_str(&format!("- {}: {f}\n", o.scenario));
        }
    }
    s.push_str(&format!(
        "\n{} runs in {:.0} s ({provenance}).\n",
        outcomes.iter().map(|o| o.runs).sum::<usize>(),
        took.as_secs_f64(),
    ));
    s
}
