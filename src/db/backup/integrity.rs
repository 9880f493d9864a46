//! What makes a backup trustworthy after it was made: its SQLite header agrees with its size (a
//! cheap check, 100 bytes read), and its SHA-256 matches the checksum file written beside it when
//! it was made (`<backup>.sha256`, in `sha256sum -c` format), which costs one read of the file.

use super::{BackupError, companion, write_error};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The checksum file of a backup: `<backup>.sha256`.
pub fn checksum_path(backup: &Path) -> PathBuf {
    companion(backup, ".sha256")
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The cheap check: a SQLite header whose page count × page size is the file's size.
/// `Err(why)` says what is wrong, for a person.
pub fn check_header(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot be read: {e}"))?.len();
    if size == 0 {
        return Err("empty (0 bytes)".into());
    }
    let mut header = Vec::with_capacity(100);
    file.take(100).read_to_end(&mut header).map_err(|e| format!("cannot be read: {e}"))?;
    if header.len() < 100 {
        return Err(format!("truncated: {size} bytes, shorter than a SQLite header (100 bytes)"));
    }
    if !header.starts_with(MAGIC) {
        return Err("not a SQLite database (no SQLite header)".into());
    }
    let be32 = |at: usize| u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(format!("its header names an impossible page size ({page_size})"));
    }
    // The page count is only meaningful when the change counter and its "valid for" copy agree
    // (files written by SQLite before 3.7.0 do not keep it).
    let (pages, counter_valid) = (be32(28), be32(24) == be32(92));
    if pages > 0 && counter_valid {
        let expected = u64::from(pages) * page_size;
        if size < expected {
            return Err(format!(
                "truncated: its header says {pages} pages of {page_size} bytes ({expected} bytes), the file has {size} bytes"
            ));
        }
        if size > expected {
            return Err(format!(
                "{} bytes longer than its header says ({pages} pages of {page_size} bytes)",
                size - expected
            ));
        }
    } else if size % page_size != 0 {
        return Err(format!("its size ({size} bytes) is not a whole number of {page_size}-byte pages"));
    }
    Ok(())
}

/// Bytes 18 and 19 of a SQLite header, the file format's write and read versions: 1 for a
/// rollback journal, 2 for WAL. WAL is the one journal mode a database file records.
const FORMAT_VERSIONS: u64 = 18;

/// Whether a database file records WAL mode; `Ok(None)` when it is not a SQLite file with a
/// header that says either (missing, empty, another format).
pub fn wal_flag(path: &Path) -> std::io::Result<Option<bool>> {
    let mut header = [0u8; 20];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) if header.starts_with(MAGIC) => Ok(match header[18..20] {
            [1, 1] => Some(false),
            [2, 2] => Some(true),
            _ => None,
        }),
        Ok(()) => Ok(None),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes a closed database file (a copy no connection has open) record WAL mode or a rollback
/// journal, as `PRAGMA journal_mode` would, by writing the two bytes SQLite itself writes; a file
/// already in that mode, or whose header says neither, is left alone. Unlike the pragma, it
/// opens no `-wal`, `-shm` or `-journal` beside the file, so a kill leaves nothing but the file.
pub(super) fn set_wal_flag(path: &Path, wal: bool) -> std::io::Result<()> {
    use std::io::{Seek as _, SeekFrom, Write as _};
    match wal_flag(path)? {
        Some(now) if now != wal => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.seek(SeekFrom::Start(FORMAT_VERSIONS))?;
            f.write_all(if wal { &[2, 2] } else { &[1, 1] })
        }
        _ => Ok(()),
    }
}

/// The checksum recorded beside a backup; `Ok(None)` when it has no checksum file.
pub fn recorded(backup: &Path) -> Result<Option<String>, String> {
    let sidecar = checksum_path(backup);
    let text = match std::fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("its checksum file {} cannot be read: {e}", sidecar.display())),
    };
    match text.split_whitespace().next() {
        Some(d) if d.len() == 64 && d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(Some(d.to_owned()))
        }
        _ => Err(format!("its checksum file {} does not hold a SHA-256 checksum", sidecar.display())),
    }
}

/// Writes `<backup>.sha256` for a backup about to be put at `backup`, never replacing a file.
pub(crate) fn record(backup: &Path, digest: &str) -> Result<(), BackupError> {
    let sidecar = checksum_path(backup);
    let name = backup.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    crate::fs_util::create_new(&sidecar, format!("{digest}  {name}\n").as_bytes()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::Exists(sidecar.clone())
        } else {
            write_error(&sidecar, e)
        }
    })
}

/// SHA-256 of a whole file, as lowercase hex. A directory (a `pg_dump` directory archive, whose
/// files are all at its top) is hashed as the `sha256sum` listing of its files, sorted by name.
pub fn digest(path: &Path) -> std::io::Result<String> {
    if !path.is_dir() {
        return crate::checksum::sha256_stream(std::fs::File::open(path)?);
    }
    let mut names: Vec<_> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    let mut listing = String::new();
    for name in names {
        let sum = crate::checksum::sha256_stream(std::fs::File::open(path.join(&name))?)?;
        listing += &format!("{sum}  {}\n", name.to_string_lossy());
    }
    crate::checksum::sha256_stream(listing.as_bytes())
}

/// The cheap check of a backup by its kind: a SQLite file's header against its size (see
/// [`check_header`]); a `pg_dump` archive's start (`PGDMP` of a custom archive, the table of
/// contents of a directory, a plain script's first line).
pub fn check_backup(path: &Path) -> Result<(), String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let Some(format) = super::options::Format::of_extension(ext) else { return check_header(path) };
    let start = |p: &Path, n: u64| -> Result<Vec<u8>, String> {
        let mut buf = Vec::new();
        let f = std::fs::File::open(p).map_err(|e| format!("cannot be read: {e}"))?;
        f.take(n).read_to_end(&mut buf).map_err(|e| format!("cannot be read: {e}"))?;
        Ok(buf)
    };
    match format {
        super::options::Format::Custom if !start(path, 5)?.starts_with(b"PGDMP") => {
            Err("not a pg_dump custom archive (no PGDMP header)".into())
        }
        super::options::Format::Directory if !path.join("toc.dat").is_file() => {
            Err("not a pg_dump directory archive (no toc.dat)".into())
        }
        super::options::Format::Plain if !start(path, 64)?.starts_with(b"--") => {
            Err("not a pg_dump plain script (it does not start with a comment)".into())
        }
        _ => Ok(()),
    }
}

/// Why `actual` (just computed) is not the checksum `recorded` when the backup was made.
pub(super) fn mismatch(recorded: &str, actual: &str) -> Option<String> {
    (recorded != actual).then(|| {
        format!(
            "its SHA-256 checksum ({}…) differs from the one recorded in its .sha256 file when it was made ({}…): the file changed since",
            &actual[..12.min(actual.len())],
            &recorded[..12.min(recorded.len())]
        )
    })
}

/// Re-reads a backup and compares it with its recorded checksum; `Err(why)` when they differ.
pub fn matches(path: &Path, recorded: &str) -> Result<(), String> {
    let actual = digest(path).map_err(|e| format!("cannot be read: {e}"))?;
    mismatch(recorded, &actual).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("a.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (randomblob(20000));").unwrap();
        path
    }

    #[test]
    fn the_header_must_agree_with_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        assert_eq!(check_header(&db), Ok(()));
        let len = std::fs::metadata(&db).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.set_len(len - 4096).unwrap();
        assert!(check_header(&db).unwrap_err().starts_with("truncated: its header says"));
        f.set_len(len + 10).unwrap();
        assert!(check_header(&db).unwrap_err().contains("10 bytes longer"));
        f.set_len(50).unwrap();
        assert!(check_header(&db).unwrap_err().contains("shorter than a SQLite header"));
        f.set_len(0).unwrap();
        assert_eq!(check_header(&db), Err("empty (0 bytes)".into()));
        std::fs::write(&db, "x".repeat(4096)).unwrap();
        assert!(check_header(&db).unwrap_err().contains("no SQLite header"));
    }

    #[test]
    fn the_wal_flag_is_read_and_set_in_a_closed_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        assert_eq!(wal_flag(&db).unwrap(), Some(false));
        set_wal_flag(&db, true).unwrap();
        assert_eq!(wal_flag(&db).unwrap(), Some(true));
        let mode = |p: &Path| -> String {
            rusqlite::Connection::open(p).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(mode(&db), "wal");
        set_wal_flag(&db, false).unwrap();
        assert_eq!(mode(&db), "delete");
        let ok: String =
            rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        // Not a database, missing, empty: no flag, and nothing written.
        std::fs::write(dir.path().join("text"), "x".repeat(100)).unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        for name in ["text", "missing", "empty"] {
            let p = dir.path().join(name);
            assert_eq!(wal_flag(&p).unwrap(), None, "{name}");
            set_wal_flag(&p, true).unwrap();
            assert_eq!(wal_flag(&p).unwrap(), None, "{name}");
        }
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn a_checksum_file_is_written_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        assert_eq!(recorded(&db), Ok(None));
        let sum = digest(&db).unwrap();
        record(&db, &sum).unwrap();
        assert!(matches!(record(&db, &sum), Err(BackupError::Exists(_))));
        assert_eq!(std::fs::read_to_string(checksum_path(&db)).unwrap(), format!("{sum}  a.db\n"));
        assert_eq!(recorded(&db), Ok(Some(sum.clone())));
        assert_eq!(matches(&db, &sum), Ok(()));
        std::fs::OpenOptions::new().append(true).open(&db).unwrap().set_len(4096).unwrap();
        assert!(matches(&db, &sum).unwrap_err().contains("changed since"));
        std::fs::write(checksum_path(&db), "not a checksum\n").unwrap();
        assert!(recorded(&db).unwrap_err().contains("does not hold a SHA-256 checksum"));
    }
}
