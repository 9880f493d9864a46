//! The other tool's directory as a sorted list of entries, and its files read as UTF-8 text.

use super::ImportError;
use std::path::{Path, PathBuf};

/// A directory entry of the other tool's migrations directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

/// The entries of `dir`, by name; hidden files (`.keep`, `.DS_Store`) left out.
pub fn entries(dir: &Path) -> Result<Vec<Entry>, ImportError> {
    let unreadable = |source| ImportError::Unreadable { path: dir.to_owned(), source };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let is_dir = path.is_dir();
        entries.push(Entry { name, path, is_dir });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Reads a file as text; `shown` names it in errors.
pub fn read_text(path: &Path, shown: &str) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Unreadable { path: path.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|_| ImportError::NotUtf8 { file: shown.to_owned() })
}
