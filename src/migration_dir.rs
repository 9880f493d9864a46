//! Reads a migrations directory: classifies every entry, reads and hashes each migration file,
//! and picks up the sum file. The only I/O of the checking side; everything after it is pure.

use crate::checksum::{normalize, sha256_hex};
use crate::file_name::{Classified, FileName};
use crate::sum_file;
use std::io;
use std::path::{Path, PathBuf};

/// One migration file as found on disk.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub name: FileName,
    /// The file name exactly as on disk.
    pub file_name: String,
    pub checksum: String,
    /// The normalised content, or `None` when the file is not valid UTF-8.
    pub sql: Option<String>,
    /// Modification time, used by `fix` when git cannot tell which migrations are new.
    pub modified: Option<std::time::SystemTime>,
}

/// Everything found in a migrations directory.
#[derive(Debug, Clone)]
pub struct MigrationDir {
    /// Where the files are read from.
    pub path: PathBuf,
    /// How the directory is named to the user (relative to the project root when possible).
    pub display: PathBuf,
    /// Migration files ordered by version, then up before down, then name.
    pub files: Vec<MigrationFile>,
    /// `.sql` files whose names do not parse, with the reason.
    pub invalid: Vec<(String, String)>,
    /// Entries that are not migrations and are skipped (mentioned with `-v`).
    pub ignored: Vec<String>,
    /// Entries named like a migration or the sum file that cannot be read, with the reason: a
    /// FIFO, a device, a directory behind a symlink, a dangling symlink, an I/O error.
    pub unreadable: Vec<(String, String)>,
    /// The sum file's text; `None` when it does not exist.
    pub sum_text: Option<String>,
}

/// Why a migrations directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "migrations directory {} does not exist\n  help: run `cargo envdb init` to create it, or set `migrations = \"…\"` in envdb.toml (or pass --migrations DIR)",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "cannot read {}\n  help: replace them with regular files or remove them, then run the command again",
        .0.join(", ")
    )]
    Unreadable(Vec<String>),
    #[error("cannot read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ScanError + '_ {
    move |source| ScanError::Io { path: path.to_owned(), source }
}

impl MigrationDir {
    /// Reads `path`; `display` is how messages name it.
    pub fn read(path: &Path, display: &Path) -> Result<MigrationDir, ScanError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ScanError::Missing(display.to_owned()));
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        if !meta.is_dir() {
            return Err(ScanError::NotADirectory(display.to_owned()));
        }
        let mut dir = MigrationDir::empty(path, display);
        let mut wanted = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_err(path))? {
            let entry = entry.map_err(io_err(path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let file_type = entry.file_type().map_err(io_err(&entry.path()))?;
            if file_type.is_dir() {
                dir.ignored.push(name);
            } else if name == sum_file::FILE_NAME {
                match read_regular(&entry.path(), file_type.is_file()) {
                    Ok((bytes, _)) => dir.sum_text = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    Err(reason) => dir.unreadable.push((name, reason)),
                }
            } else if let Some((parsed, name)) = dir.classify(name) {
                wanted.push((parsed, name, file_type.is_file()));
            }
        }
        for read in read_files(path, wanted) {
            match read {
                Ok(file) => dir.files.push(file),
                Err(unreadable) => dir.unreadable.push(unreadable),
            }
        }
        dir.sort();
        Ok(dir)
    }

    /// Builds the same view from contents already in memory (the git index, tests).
    pub fn from_memory(display: &Path, entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> MigrationDir {
        let mut dir = MigrationDir::empty(display, display);
        for (name, bytes) in entries {
            if name == sum_file::FILE_NAME {
                dir.sum_text = Some(String::from_utf8_lossy(&bytes).into_owned());
            } else if let Some((parsed, file_name)) = dir.classify(name) {
                dir.files.push(MigrationFile::new(parsed, file_name, bytes, None));
            }
        }
        dir.sort();
        dir
    }

    fn empty(path: &Path, display: &Path) -> MigrationDir {
        MigrationDir {
            path: path.to_owned(),
            display: display.to_owned(),
            files: Vec::new(),
            invalid: Vec::new(),
            ignored: Vec::new(),
            unreadable: Vec::new(),
            sum_text: None,
        }
    }

    /// Files a name as invalid or ignored, or returns it parsed for reading.
    fn classify(&mut self, name: String) -> Option<(FileName, String)> {
        match FileName::classify(&name) {
            Classified::Migration(parsed) => return Some((parsed, name)),
            Classified::Invalid(reason) => self.invalid.push((name, reason)),
            Classified::Ignored => self.ignored.push(name),
        }
        None
    }

    fn sort(&mut self) {
        self.files.sort_by(|a, b| {
            (a.name.version, a.name.direction, &a.file_name).cmp(&(b.name.version, b.name.direction, &b.file_name))
        });
        self.invalid.sort();
        self.ignored.sort();
        self.unreadable.sort();
    }

    /// Refuses a directory with unreadable entries: writing the sum file or numbering a new
    /// migration without them would lose them.
    pub fn require_readable(&self) -> Result<(), ScanError> {
        if self.unreadable.is_empty() {
            return Ok(());
        }
        Err(ScanError::Unreadable(self.unreadable.iter().map(|(n, why)| format!("{} ({why})", self.show(n))).collect()))
    }

    /// The path of a file in this directory as shown to the user.
    pub fn show(&self, file: &str) -> String {
        self.display.join(file).display().to_string()
    }

    /// Up files only.
    pub fn ups(&self) -> impl Iterator<Item = &MigrationFile> {
        self.files.iter().filter(|f| f.name.direction == crate::file_name::Direction::Up)
    }

    /// The up files as migrations (with their down SQL), in version order. Only meaningful for a
    /// directory that passed `check` (no duplicates, valid UTF-8).
    ///
    /// One pass: `files` is sorted by version, then up before down, so a version's down file is
    /// among the files that follow its up file with the same version.
    pub fn migrations(&self) -> Vec<crate::Migration<'_>> {
        use crate::file_name::Direction;
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            if f.name.direction != Direction::Up {
                continue;
            }
            let down = self.files[i + 1..]
                .iter()
                .take_while(|d| d.name.version == f.name.version)
                .find(|d| d.name.direction == Direction::Down);
            out.push(crate::Migration {
                version: f.name.version,
                name: &f.file_name,
                up: f.sql.as_deref().unwrap_or_default(),
                down: down.and_then(|d| d.sql.as_deref()),
                checksum: &f.checksum,
            });
        }
        out
    }

    /// The down file of a version, if there is one (a binary search: `files` is sorted by version).
    pub fn down_of(&self, version: u64) -> Option<&MigrationFile> {
        use crate::file_name::Direction;
        let first = self.files.partition_point(|f| f.name.version < version);
        self.files[first..]
            .iter()
            .take_while(|f| f.name.version == version)
            .find(|f| f.name.direction == Direction::Down)
    }
}

/// A file read, or its name and why it cannot be read.
type Read = Result<MigrationFile, (String, String)>;

/// Reads and hashes the files, on a few threads when there are many: hashing thousands of
/// files is the whole cost of `check`.
fn read_files(dir: &Path, wanted: Vec<(FileName, String, bool)>) -> Vec<Read> {
    let threads =
        if wanted.len() < 256 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) };
    if threads == 1 {
        return wanted.into_iter().map(|(n, f, regular)| read_one(dir, n, f, regular)).collect();
    }
    let chunk = wanted.len().div_ceil(threads);
    let mut wanted = wanted;
    let mut parts = Vec::new();
    while !wanted.is_empty() {
        let rest = wanted.split_off(chunk.min(wanted.len()));
        parts.push(std::mem::replace(&mut wanted, rest));
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter().map(|(n, f, regular)| read_one(dir, n, f, regular)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("reader thread panicked")).collect()
    })
}

/// `regular`: the directory entry says it is a regular file (no symlink), so it can be opened
/// without looking first.
fn read_one(dir: &Path, name: FileName, file_name: String, regular: bool) -> Read {
    match read_regular(&dir.join(&file_name), regular) {
        Ok((bytes, modified)) => Ok(MigrationFile::new(name, file_name, bytes, modified)),
        Err(reason) => Err((file_name, reason)),
    }
}

/// What a path is, for a message.
fn describe(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        } else if ft.is_char_device() {
            return "a character device";
        } else if ft.is_block_device() {
            return "a block device";
        } else if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() { "a directory" } else { "not a regular file" }
}

/// Reads a regular file (through symlinks) and its modification time, refusing anything else
/// without opening it: opening a FIFO blocks and a device never ends. The error is a reason for
/// a message. `regular`: the directory entry already says it is a plain regular file.
fn read_regular(path: &Path, regular: bool) -> Result<(Vec<u8>, Option<std::time::SystemTime>), String> {
    if !regular {
        look_before_opening(path)?;
    }
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // Replaced by something else since it was listed: refuse rather than read it.
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(describe(&meta.file_type()).to_owned());
    }
    // One read of size + 1 bytes sees the whole file and its end: a quarter of the system
    // calls of `fs::read`, which is most of what `check` costs on thousands of small files.
    let expected = meta.len() as usize;
    let mut bytes = vec![0; expected + 1];
    let n = io::Read::read(&mut file, &mut bytes).map_err(|e| e.to_string())?;
    bytes.truncate(n);
    if n != expected {
        // Short read or a file that grew meanwhile: read the rest the ordinary way.
        io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| e.to_string())?;
    }
    Ok((bytes, meta.modified().ok()))
}

/// Refuses anything but a regular file (through symlinks), saying what it is.
fn look_before_opening(path: &Path) -> Result<(), String> {
    let link = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    let via = if link.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_or_else(|_| "?".into(), |t| t.display().to_string());
        format!("a symbolic link to {target}, which is ")
    } else {
        String::new()
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(format!("{via}missing (a dangling link)")),
        Err(e) => return Err(format!("{via}unreadable: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("{via}{}", describe(&meta.file_type())));
    }
    Ok(())
}

impl MigrationFile {
    fn new(name: FileName, file_name: String, bytes: Vec<u8>, modified: Option<std::time::SystemTime>) -> Self {
        let normalized = match normalize(&bytes) {
            std::borrow::Cow::Borrowed(b) if b.len() == bytes.len() => bytes,
            other => other.into_owned(),
        };
        let checksum = sha256_hex(&normalized);
        let sql = String::from_utf8(normalized).ok();
        MigrationFile { name, file_name, checksum, sql, modified }
    }
}
