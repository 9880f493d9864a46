//! Migration file names: `NNNN_slug.sql` and `NNNN_slug.down.sql`, parsed and built.
//!
//! The version is zero-padded to four digits; from 10000 on it simply has more digits, and
//! ordering is always numeric. A name has exactly one spelling per version (`0001`, never `1` or
//! `00001`), so two files can never silently mean the same version.

use std::fmt;

/// The pattern quoted in every error about a name.
pub const PATTERN: &str = "NNNN_slug.sql or NNNN_slug.down.sql (NNNN zero-padded to 4 digits, slug in [a-z0-9_])";

/// The file `cargo envdb schema dump` conventionally writes beside the migrations; not a migration.
pub const SCHEMA_DUMP: &str = "schema.sql";

/// Minimum number of digits in a version.
pub const WIDTH: usize = 4;

/// Whether a file applies a migration or reverts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Up,
    Down,
}

/// A parsed migration file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName {
    pub version: u64,
    pub slug: String,
    pub direction: Direction,
}

/// What a directory entry is, judged by its name alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Classified {
    Migration(FileName),
    /// Looks like SQL (ends in `.sql`, any case) but does not follow the pattern; the reason says why.
    Invalid(String),
    /// Not ours (README.md, .DS_Store, the sum file, …).
    Ignored,
}

impl FileName {
    pub fn new(version: u64, slug: impl Into<String>, direction: Direction) -> Self {
        FileName { version, slug: slug.into(), direction }
    }

    /// Classifies a file name found in the migrations directory.
    pub fn classify(name: &str) -> Classified {
        let lower = name.to_ascii_lowercase();
        if !lower.ends_with(".sql") || name == SCHEMA_DUMP {
            return Classified::Ignored;
        }
        match Self::parse(name) {
            Ok(f) => Classified::Migration(f),
            Err(reason) => Classified::Invalid(reason),
        }
    }

    /// Parses a name that should be a migration, saying what is wrong when it is not.
    pub fn parse(name: &str) -> Result<FileName, String> {
        let Some(stem) = name.strip_suffix(".sql") else {
            return Err("the extension must be lowercase `.sql`".into());
        };
        let (stem, direction) = match stem.strip_suffix(".down") {
            Some(s) => (s, Direction::Down),
            None => (stem, Direction::Up),
        };
        let digits_end = stem.find(|c: char| !c.is_ascii_digit()).unwrap_or(stem.len());
        let digits = &stem[..digits_end];
        if digits.is_empty() {
            return Err("the name must start with a version number".into());
        }
        let rest = &stem[digits_end..];
        let Some(slug) = rest.strip_prefix('_') else {
            return Err("the version must be followed by `_` and a slug".into());
        };
        let version: u64 = digits.parse().map_err(|_| format!("the version `{digits}` is too large"))?;
        if version == 0 {
            return Err("versions start at 1".into());
        }
        let canonical = format!("{version:0WIDTH$}");
        if digits != canonical {
            return Err(format!("the version must be written `{canonical}`"));
        }
        if slug.is_empty() {
            return Err("the slug after the version is empty".into());
        }
        if let Some(c) = slug.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_')) {
            return Err(format!("the slug contains {c:?}; only a-z, 0-9 and _ are allowed"));
        }
        Ok(FileName { version, slug: slug.to_owned(), direction })
    }

    /// The up file's name for the same migration.
    pub fn up(&self) -> FileName {
        FileName { direction: Direction::Up, ..self.clone() }
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let down = if self.direction == Direction::Down { ".down" } else { "" };
        write!(f, "{:0WIDTH$}_{}{down}.sql", self.version, self.slug)
    }
}

/// Turns the user's words into a slug: lowercase ASCII letters and digits joined by single `_`.
/// Returns `None` when nothing usable is left.
pub fn slugify<S: AsRef<str>>(words: &[S]) -> Option<String> {
    let mut slug = String::new();
    for word in words {
        for c in word.as_ref().chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('_') {
                slug.push('_');
            }
        }
        if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    (!slug.is_empty()).then(|| slug.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(name: &str) -> String {
        match FileName::classify(name) {
            Classified::Invalid(reason) => reason,
            other => panic!("{name}: expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_up_and_down() {
        assert_eq!(FileName::parse("0001_init.sql").unwrap(), FileName::new(1, "init", Direction::Up));
        assert_eq!(FileName::parse("0042_add_x.down.sql").unwrap(), FileName::new(42, "add_x", Direction::Down));
        assert_eq!(FileName::parse("12345_wide.sql").unwrap().version, 12345);
    }

    #[test]
    fn display_round_trips_and_widens() {
        for name in ["0001_a.sql", "0002_b_c.down.sql", "9999_z.sql", "10000_z.sql"] {
            assert_eq!(FileName::parse(name).unwrap().to_string(), name);
        }
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        assert!(invalid("1_a.sql").contains("`0001`"));
        assert!(invalid("00001_a.sql").contains("`0001`"));
        assert!(invalid("0001-a.sql").contains("`_`"));
        assert!(invalid("0001_.sql").contains("slug"));
        assert!(invalid("0001_A B.sql").contains("'A'"));
        assert!(invalid("abc.sql").contains("start with a version"));
        assert!(invalid("0001_a.SQL").contains("lowercase"));
        assert!(invalid("0000_a.sql").contains("start at 1"));
        assert!(invalid("99999999999999999999999_a.sql").contains("too large"));
    }

    #[test]
    fn ignores_other_files() {
        for name in ["README.md", ".DS_Store", "envdb.sum", "notes.txt", "schema.sql"] {
            assert_eq!(FileName::classify(name), Classified::Ignored);
        }
    }

    #[test]
    fn slugify_words() {
        assert_eq!(slugify(&["add_priority"]).as_deref(), Some("add_priority"));
        assert_eq!(slugify(&["Add", "Priority!"]).as_deref(), Some("add_priority"));
        assert_eq!(slugify(&["  user--roles  "]).as_deref(), Some("user_roles"));
        assert_eq!(slugify(&["café au lait"]).as_deref(), Some("caf_au_lait"));
        assert_eq!(slugify(&["!!!"]), None);
        assert_eq!(slugify::<&str>(&[]), None);
    }
}
