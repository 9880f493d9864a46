//! One finding of `check`: what is wrong, where, and how bad.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What kind of problem; its kebab-case name is what `--format json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    InvalidName,
    DuplicateVersion,
    Gap,
    DownWithoutUp,
    SumMissing,
    SumEdited,
    SumConflict,
    ChecksumMismatch,
    FileGone,
    NotInSum,
    NotUtf8,
    UnknownDirective,
    MisplacedDirective,
    NulByte,
    TransactionControl,
    InternalTable,
    Unreadable,
    Empty,
    Destructive,
    /// PostgreSQL: a statement that blocks the application behind a lock or rewrites a table.
    Locking,
    /// PostgreSQL: a statement that fails as soon as its table has a row.
    FailsOnRows,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The file at fault, as shown to the user (`migrations/0002_x.sql`).
    pub file: Option<String>,
    pub version: Option<u64>,
    pub kind: ProblemKind,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn error(kind: ProblemKind, file: Option<String>, version: Option<u64>, message: String) -> Problem {
        Problem { file, version, kind, severity: Severity::Error, message }
    }

    pub fn warning(kind: ProblemKind, file: Option<String>, version: Option<u64>, message: String) -> Problem {
        Problem { file, version, kind, severity: Severity::Warning, message }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The outcome of a check: every problem found, errors first.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }

    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The report under `--strict`: every warning counts as an error.
    pub fn strict(mut self) -> Report {
        for p in &mut self.problems {
            p.severity = Severity::Error;
        }
        self
    }
}

/// A failed check as an error value: what `envdb::build` and the runtime return.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the migrations:\n{}", .0.errors().count(), .0.errors().map(|p| format!("  error: {p}")).collect::<Vec<_>>().join("\n"))]
pub struct CheckFailed(pub Report);
