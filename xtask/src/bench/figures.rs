//! The benchmark's figures: each a value beside a named reference from the same run, with a
//! target or none; saved as `target/bench.json` with the commit they were measured at, and
//! printed from that file as the README's table (`cargo xtask bench --markdown`).

use crate::provenance::Provenance;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One figure. `reference` names what the value is compared with, and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub reference: String,
    pub reference_value: f64,
    pub ratio: f64,
    /// `None` for a comparison or context row: it has no target to meet.
    pub target: Option<String>,
    pub met: Option<bool>,
}

impl Figure {
    /// A figure without a target (a comparison or context row).
    pub fn new(
        name: impl Into<String>,
        (value, unit): (f64, &str),
        reference: impl Into<String>,
        reference_value: f64,
    ) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.to_owned(),
            reference: reference.into(),
            reference_value,
            ratio: value / reference_value,
            target: None,
            met: None,
        }
    }

    /// Target: at most `max` times the reference, which the target calls `short`.
    pub fn ratio_at_most(mut self, max: f64, short: &str) -> Figure {
        self.target = Some(format!("≤ {max}× {short}"));
        self.met = Some(self.ratio <= max);
        self
    }

    /// Target: at most `max` (in the figure's unit) beyond the reference, which the target
    /// calls `short`.
    pub fn beyond_at_most(mut self, max: f64, short: &str) -> Figure {
        self.target = Some(format!("≤ {short} + {max} {}", self.unit));
        self.met = Some(self.value - self.reference_value <= max);
        self
    }

    /// Target: a value of at most `max` (in the figure's unit).
    pub fn at_most(mut self, max: f64) -> Figure {
        self.target = Some(format!("≤ {max} {}", self.unit));
        self.met = Some(self.value <= max);
        self
    }

    /// Target: a value of at least `min` (in the figure's unit): a reference workload that must
    /// be heavy enough for the comparison beside it to mean something.
    pub fn at_least(mut self, min: f64) -> Figure {
        self.target = Some(format!("≥ {min} {}", self.unit));
        self.met = Some(self.value >= min);
        self
    }

    /// Target: a value below `max` (in the figure's unit).
    pub fn below(mut self, max: f64) -> Figure {
        self.target = Some(format!("< {max} {}", self.unit));
        self.met = Some(self.value < max);
        self
    }

    fn met_word(&self) -> &'static str {
        match self.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "no target",
        }
    }
}

/// A whole run: what `target/bench.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct BenchRun {
    #[serde(flatten)]
    pub provenance: Provenance,
    pub quick: bool,
    pub figures: Vec<Figure>,
}

impl BenchRun {
    pub fn path(workspace: &Path) -> PathBuf {
        workspace.join("target/bench.json")
    }

    pub fn save(&self, workspace: &Path) -> anyhow::Result<PathBuf> {
        let path = BenchRun::path(workspace);
        // `target/` is not there when CARGO_TARGET_DIR points elsewhere.
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    pub fn load(workspace: &Path) -> anyhow::Result<BenchRun> {
        let path = BenchRun::path(workspace);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}\n  help: run `cargo xtask bench` first", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!("{} is not a bench run of this version\n  help: run `cargo xtask bench` again", path.display())
        })
    }

    /// Where the figures come from, in one line.
    fn provenance(&self) -> String {
        self.provenance.describe(if self.quick { "cargo xtask bench --quick" } else { "cargo xtask bench" })
    }

    /// The console table.
    pub fn print(&self) {
        println!("{:<70} {:>10} {:>12} {:>8}  {:<14} met", "figure", "value", "reference", "ratio", "target");
        for f in &self.figures {
            println!(
                "{:<70} {:>7.2} {:<3}{:>9.2} {:<3}{:>7.2}×  {:<14} {}",
                f.name,
                f.value,
                f.unit,
                f.reference_value,
                f.unit,
                f.ratio,
                f.target.as_deref().unwrap_or("—"),
                f.met_word()
            );
            println!("{:<70} reference: {}", "", f.reference);
        }
        println!("({})", self.provenance());
    }

    /// The README's table, and the line that says where it comes from.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| figure | value | reference (same run) and its settings | ratio | target | met |\n|---|---:|---|---:|---|---|\n",
        );
        for f in &self.figures {
            out.push_str(&format!(
                "| {} | {:.2} {} | {}: {:.2} {} | {:.2}× | {} | {} |\n",
                f.name,
                f.value,
                f.unit,
                f.reference,
                f.reference_value,
                f.unit,
                f.ratio,
                f.target.as_deref().unwrap_or("—"),
                f.met_word()
            ));
        }
        out.push_str(&format!(
            "\nGenerated by `cargo xtask bench --markdown` from `target/bench.json` ({}).\n",
            self.provenance()
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_and_rows_without_one_say_so() {
        let f = Figure::new("x", (3.0, "ms"), "r", 2.0);
        assert_eq!(f.met_word(), "no target");
        assert_eq!(f.clone().ratio_at_most(1.5, "R").met, Some(true));
        assert_eq!(f.clone().ratio_at_most(1.4, "R").met, Some(false));
        assert_eq!(f.clone().at_most(3.0).target.as_deref(), Some("≤ 3 ms"));
        assert_eq!(f.below(3.0).met, Some(false));
    }

    #[test]
    fn markdown_names_the_commit_and_prints_every_row() {
        let run = BenchRun {
            provenance: Provenance {
                commit: "0123456789abcdef".into(),
                dirty: true,
                date: "2026-11-22".into(),
                cpus: 2,
            },
            quick: true,
            figures: vec![
                Figure::new("a", (1.0, "ms"), "ref a", 2.0).at_most(5.0),
                Figure::new("(context) b", (1.0, "ms"), "ref b", 1.0),
            ],
        };
        let md = run.markdown();
        assert!(md.contains("| a | 1.00 ms | ref a: 2.00 ms | 0.50× | ≤ 5 ms | yes |"), "{md}");
        assert!(md.contains("| (context) b | 1.00 ms | ref b: 1.00 ms | 1.00× | — | no target |"), "{md}");
        assert!(
            md.contains("commit 0123456789ab with uncommitted changes, 2026-11-22, `cargo xtask bench --quick`"),
            "{md}"
        );
    }
}
