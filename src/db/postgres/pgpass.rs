//! Where a password comes from when the URL has none, as libpq looks: `PGPASSWORD`, then the
//! password file (`PGPASSFILE`, default `~/.pgpass`: `host:port:database:user:password` lines,
//! `*` matching anything, `\:` and `\\` escapes, ignored unless its mode is 0600 or stricter).

use std::path::{Path, PathBuf};

/// Where a password was found (errors say which one to check, never the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Url,
    Env,
    File,
    None,
}

impl Source {
    /// The source as a help line names it.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Url => "the password in the URL",
            Source::Env => "the password in PGPASSWORD",
            Source::File => "the password file (PGPASSFILE or ~/.pgpass)",
            Source::None => "no password (none in the URL, PGPASSWORD or ~/.pgpass)",
        }
    }
}

/// What a password file line is matched against.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// A host name, an address, or `localhost` for a unix socket (as libpq matches it).
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password for `key` from `PGPASSWORD` or the password file, with where it came from.
pub fn lookup(key: Key<'_>) -> Option<(String, Source)> {
    if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Some((p.to_string_lossy().into_owned(), Source::Env));
    }
    let file = password_file()?;
    from_file(&file, key).map(|p| (p, Source::File))
}

fn password_file() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("PGPASSFILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(f));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".pgpass"))
}

/// The password of the first matching line of `file`; `None` when it is missing, unreadable, or
/// readable by its group or others (libpq ignores such a file too).
pub fn from_file(file: &Path, key: Key<'_>) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    find(&std::fs::read_to_string(file).ok()?, key)
}

/// The password of the first line of `text` matching `key`.
pub fn find(text: &str, key: Key<'_>) -> Option<String> {
    let port = key.port.to_string();
    let wanted = [key.host, port.as_str(), key.database, key.user];
    text.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|line| {
        let fields = fields(line);
        if fields.len() < 5 {
            return None;
        }
        let matches = fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w);
        // As libpq: the password ends at the next unescaped colon.
        matches.then(|| fields[4].clone())
    })
}

/// A line's fields, split at unescaped colons, with `\:` and `\\` unescaped.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().into_iter().for_each(|f| f.extend(chars.next())),
            ':' => out.push(String::new()),
            c => out.last_mut().into_iter().for_each(|f| f.push(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key<'static> = Key { host: "db.example", port: 5432, database: "app", user: "alice" };

    #[test]
    fn first_matching_line_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:app:alice:no\ndb.example:*:app:alice:s\\:e\\\\c:ret\n*:*:*:*:fallback\n";
        assert_eq!(find(text, KEY).as_deref(), Some("s:e\\c"));
        assert_eq!(find("*:*:*:*:any:thing", KEY).as_deref(), Some("any"));
        assert_eq!(find("db.example:5433:app:alice:x", KEY), None);
        assert_eq!(find("db.example:5432:app", KEY), None);
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(from_file(&file, KEY), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(from_file(&file, KEY).as_deref(), Some("pw"));
    }
}
