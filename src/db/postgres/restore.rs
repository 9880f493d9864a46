//! Loading a `pg_dump` archive into a database (`pg_restore`, or `psql` for a plain script, each
//! stopping at the first error) and proving it loaded: every table's row count in the database
//! is the one the backup recorded in `pg_dump`'s snapshot (`<backup>.rows`), or, for an archive
//! without them, the one the archive's data holds (read while it loads).

use super::PgOptions;
use super::archive::{self, Contents};
use super::connect::Target;
use super::dump::{Source, failed};
use super::row_counts::{self, Counts};
use super::scratch::{self, Purpose, Scratch};
use super::tools::{self, Tool};
use crate::db::backup::BackupError;
use crate::db::backup::options::Format;
use std::path::Path;

/// `backup --verify-restore`'s scratch database.
const VERIFY: Purpose = Purpose {
    prefix: "envdb_verify",
    needs: "backup --verify-restore restores the dump into a scratch database it creates and drops",
};

/// Loads `archive` into the database `dbname` on the target's server, in one transaction,
/// stopping at the first error; objects are owned by the URL's role (`--no-owner`).
pub fn load(
    tool: &Tool,
    target: &Target,
    dbname: &str,
    archive: &Path,
    format: Format,
    data_only: bool,
) -> Result<(), String> {
    let mut cmd = tools::command(&tool.path, target, Some(dbname));
    if format == Format::Plain {
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password", "-f"])
            .arg(archive)
            .stdout(std::process::Stdio::null());
    } else {
        cmd.arg(format!("--dbname={dbname}"))
            .args(["--no-owner", "--exit-on-error", "--single-transaction", "--no-password"])
            .arg(archive);
        if data_only {
            cmd.arg("--data-only");
        }
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", tool.path.display()))?;
    if !out.status.success() {
        let program = tool.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        return Err(failed(&program, out.status, &out.stderr));
    }
    Ok(())
}

/// The tables whose row count in the database differs from what was `expected` (`whose`, e.g.
/// "the archive holds"), one line each.
pub fn mismatches(expected: &Counts, found: &Counts, whose: &str) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(t, n)| match found.get(t) {
            Some(m) if m == n => None,
            Some(m) => Some(format!("{t}: {m} rows, {whose} {n}")),
            None => Some(format!("{t}: missing, {whose} {n} rows")),
        })
        .collect()
}

/// The programs and connection that load an archive into a database of the target's server.
pub struct Loader<'a> {
    /// `pg_restore`, or `psql` for a plain script.
    pub loader: &'a Tool,
    /// What reads the archive's data (`pg_restore`; the script itself for a plain one).
    pub reader: &'a Tool,
    pub target: &'a Target,
    pub label: &'a str,
}

impl Loader<'_> {
    /// Loads `archive` into `db` (at `db_url`) and compares every table's row count with the
    /// counts `recorded` when the backup was made, or else with the archive's data, read while it
    /// loads (the two cost about as long as the slowest; on two cores, half as long again as the
    /// load alone). Returns the archive's contents and a session on `db`.
    pub fn load_verified(
        &self,
        db: &str,
        db_url: &str,
        archive: &Path,
        format: Format,
        recorded: Option<&Counts>,
        opts: &PgOptions,
    ) -> Result<(Contents, super::Postgres), BackupError> {
        let (identity_only, whose) = match recorded {
            Some(_) => (true, "the backup recorded"),
            None => (false, "the archive holds"),
        };
        let mut contents = std::thread::scope(|s| {
            let read = s.spawn(|| archive::contents(self.reader, archive, format, &opts.history_schema, identity_only));
            let loaded = load(self.loader, self.target, db, archive, format, false);
            let contents = read.join().unwrap_or_else(|_| Err("reading the archive panicked".into()));
            loaded.and(contents)
        })
        .map_err(|e| BackupError::Server(format!("loading {} into {db}: {e}", archive.display())))?;
        if let Some(recorded) = recorded {
            contents.counts = recorded.clone();
        }
        let mut session = super::Postgres::connect(db_url, self.label.to_owned(), opts.clone())?;
        let found = row_counts::count(session.client(), contents.counts.keys().map(String::as_str))
            .map_err(|e| BackupError::Db(super::PgError::server(self.label, &e).into()))?;
        let wrong = mismatches(&contents.counts, &found, whose);
        if !wrong.is_empty() {
            return Err(BackupError::Server(format!(
                "restored into {db}, the row counts differ from the backup's: {}",
                wrong.join("; ")
            )));
        }
        Ok((contents, session))
    }
}

/// Restores `archive` into a scratch database on the source's server (dropped however this
/// ends) and compares every table's row count with the archive's.
pub(super) fn verify_in_scratch(
    src: &Source,
    loader: &Tool,
    archive_path: &Path,
    format: Format,
    counts: Option<&Counts>,
    opts: &PgOptions,
) -> Result<(), BackupError> {
    let connect = scratch::connector(src.label.clone(), opts.connect_timeout);
    let scratch =
        Scratch::create_for(&src.target_url(), VERIFY, connect).map_err(|e| BackupError::Server(e.to_string()))?;
    // A session on it all along: a database nobody is connected to for ten minutes (a long load)
    // would look abandoned to another run's sweep.
    let held = super::Postgres::connect(scratch.url(), src.label.clone(), opts.clone())?;
    let reader = if format == Format::Plain { loader.clone() } else { src.tool("pg_restore")? };
    let load = Loader { loader, reader: &reader, target: &src.target, label: &src.label };
    let (_, session) = load.load_verified(scratch.name(), scratch.url(), archive_path, format, counts, opts)?;
    drop((session, held));
    scratch.drop_database().map_err(|e| BackupError::Server(e.to_string()))
}
