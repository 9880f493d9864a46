//! `migrations/envdb.sum`: the committed record of every migration file's checksum.
//!
//! ```text
//! envdb-sum-v1 <sha256 of every line below, each ending in \n>
//! 0001_initial.sql <checksum>
//! 0002_add_priority.sql <checksum>
//! 0002_add_priority.down.sql <checksum>
//! ```
//! The first line changes whenever any other line does, so two branches that each add a
//! migration both edit line 1 and git reports a conflict instead of merging silently.

use crate::checksum::sha256_hex;
use crate::file_name::FileName;
use std::fmt;

/// The name of the sum file inside the migrations directory.
pub const FILE_NAME: &str = "envdb.sum";
const HEADER: &str = "envdb-sum-v1";

/// The parsed entries, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SumFile {
    pub entries: Vec<(String, String)>,
}

/// Why a sum file cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SumError {
    #[error("it contains merge-conflict markers (line {line})")]
    ConflictMarkers { line: usize },
    #[error("line {line} is not `<file> <checksum>`: {text:?}")]
    Malformed { line: usize, text: String },
    #[error("its first line is not `{HEADER} <checksum>`")]
    MissingHeader,
    #[error("its first line does not match the lines below it (edited by hand?)")]
    TotalMismatch,
}

impl SumError {
    /// Whether `cargo envdb fix` is the remedy (rather than `cargo envdb hash`).
    pub fn wants_fix(&self) -> bool {
        matches!(self, SumError::ConflictMarkers { .. })
    }
}

fn is_conflict_marker(line: &str) -> bool {
    ["<<<<<<<", "=======", ">>>>>>>", "|||||||"].iter().any(|m| line.starts_with(m))
}

fn parse_entry(line: &str) -> Option<(String, String)> {
    let (file, sum) = line.split_once(' ')?;
    let ok = !file.is_empty() && sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| (file.to_owned(), sum.to_owned()))
}

impl SumFile {
    /// Builds a sum file from `(file name, checksum)` pairs, ordering them by version, up before down.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a FileName, &'a str)>) -> SumFile {
        let mut entries: Vec<_> = files.into_iter().collect();
        entries.sort_by(|(a, _), (b, _)| (a.version, a.direction, &a.slug).cmp(&(b.version, b.direction, &b.slug)));
        SumFile { entries: entries.into_iter().map(|(f, s)| (f.to_string(), s.to_owned())).collect() }
    }

    /// Parses and verifies a sum file.
    pub fn parse(text: &str) -> Result<SumFile, SumError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some(i) = text.lines().position(is_conflict_marker) {
            return Err(SumError::ConflictMarkers { line: i + 1 });
        }
        let mut lines = text.lines().enumerate();
        let total = match lines.next() {
            Some((_, first)) => match first.trim_end().split_once(' ') {
                Some((HEADER, total)) => total.to_owned(),
                _ => return Err(SumError::MissingHeader),
            },
            None => return Err(SumError::MissingHeader),
        };
        let mut entries = Vec::new();
        for (i, line) in lines {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let entry = parse_entry(line).ok_or_else(|| SumError::Malformed { line: i + 1, text: line.to_owned() })?;
            entries.push(entry);
        }
        let sum = SumFile { entries };
        if sum.total() != total {
            return Err(SumError::TotalMismatch);
        }
        Ok(sum)
    }

    /// Every entry found on any side of a conflicted (or otherwise broken) sum file: what `fix`
    /// uses to tell which checksums were recorded before the merge.
    pub fn salvage(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !is_conflict_marker(l) && !l.starts_with(HEADER))
            .filter_map(|l| parse_entry(l.trim_end_matches('\r')))
            .collect()
    }

    /// The checksum recorded for a file.
    pub fn get(&self, file: &str) -> Option<&str> {
        self.entries.iter().find(|(f, _)| f == file).map(|(_, s)| s.as_str())
    }

    fn body(&self) -> String {
        let mut body = String::with_capacity(self.entries.len() * 100);
        for (file, sum) in &self.entries {
            body.push_str(file);
            body.push(' ');
            body.push_str(sum);
            body.push('\n');
        }
        body
    }

    fn total(&self) -> String {
        sha256_hex(self.body().as_bytes())
    }
}

impl fmt::Display for SumFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body();
        writeln!(f, "{HEADER} {}", sha256_hex(body.as_bytes()))?;
        f.write_str(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_name::Direction;

    fn sample() -> SumFile {
        let a = FileName::new(2, "b", Direction::Up);
        let b = FileName::new(1, "a", Direction::Up);
        let c = FileName::new(2, "b", Direction::Down);
        let x = "a".repeat(64);
        SumFile::from_files([(&a, x.as_str()), (&c, x.as_str()), (&b, x.as_str())])
    }

    #[test]
    fn orders_by_version_up_first_and_round_trips() {
        let sum = sample();
        let names: Vec<_> = sum.entries.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["0001_a.sql", "0002_b.sql", "0002_b.down.sql"]);
        assert_eq!(SumFile::parse(&sum.to_string()).unwrap(), sum);
        assert_eq!(SumFile::parse(&sum.to_string().replace('\n', "\r\n")).unwrap(), sum);
    }

    #[test]
    fn detects_hand_edits() {
        let text = sample().to_string().replace("0002_b.sql", "0002_c.sql");
        assert_eq!(SumFile::parse(&text), Err(SumError::TotalMismatch));
        assert_eq!(SumFile::parse(""), Err(SumError::MissingHeader));
        assert_eq!(SumFile::parse("0001_a.sql x\n"), Err(SumError::MissingHeader));
        let text = sample().to_string() + "garbage\n";
        assert!(matches!(SumFile::parse(&text), Err(SumError::Malformed { line: 5, .. })));
    }

    #[test]
    fn detects_conflicts_and_salvages_both_sides() {
        let h = "b".repeat(64);
        let text = format!(
            "<<<<<<< HEAD\nenvdb-sum-v1 {h}\n=======\nenvdb-sum-v1 {h}\n>>>>>>> other\n0001_a.sql {h}\n<<<<<<< HEAD\n0002_x.sql {h}\n=======\n0002_y.sql {h}\n>>>>>>> other\n"
        );
        let err = SumFile::parse(&text).unwrap_err();
        assert_eq!(err, SumError::ConflictMarkers { line: 1 });
        assert!(err.wants_fix());
        let names: Vec<_> = SumFile::salvage(&text).into_iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["0001_a.sql", "0002_x.sql", "0002_y.sql"]);
    }
}
