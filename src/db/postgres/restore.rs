//! Loading a `pg_dump` archive into a database (`pg_restore`, or `psql` for a plain script, each
//! stopping at the first error) and proving it loaded: every table's row count in the database
//! is the one the archive holds.

use super::PgOptions;
use super::archive::{self, Contents};
use super::connect::Target;
use super::dump::{Source, failed};
use super::scratch::{self, Purpose, Scratch};
use super::sql::rows;
use super::tools::{self, Tool};
use crate::db::backup::BackupError;
use crate::db::backup::options::Format;
use std::collections::BTreeMap;
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

/// Every table's row count in the database `client` is on, for the tables `contents` names.
pub fn counts(
    client: &mut ::postgres::Client,
    contents: &Contents,
) -> Result<BTreeMap<String, u64>, ::postgres::Error> {
    let mut out = BTreeMap::new();
    let names: Vec<&String> = contents.counts.keys().collect();
    // A few hundred tables a query: one round trip for most databases.
    for chunk in names.chunks(200) {
        let sql = chunk
            .iter()
            .map(|t| format!("SELECT {}, count(*) FROM {t}", super::sql::literal(t)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for row in rows(client, &sql)? {
            let name = row.first().cloned().flatten().unwrap_or_default();
            let n = row.get(1).cloned().flatten().and_then(|n| n.parse().ok()).unwrap_or(0);
            out.insert(name, n);
        }
    }
    Ok(out)
}

/// The tables whose row count in the database differs from the archive's, one line each.
pub fn mismatches(contents: &Contents, found: &BTreeMap<String, u64>) -> Vec<String> {
    contents
        .counts
        .iter()
        .filter_map(|(t, n)| match found.get(t) {
            Some(m) if m == n => None,
            Some(m) => Some(format!("{t}: {m} rows, the archive holds {n}")),
            None => Some(format!("{t}: missing, the archive holds {n} rows")),
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
    /// Loads `archive` into `db` (at `db_url`) while its data is read, then compares every
    /// table's row count with the archive's; returns the archive's contents and a session on `db`.
    pub fn load_verified(
        &self,
        db: &str,
        db_url: &str,
        archive: &Path,
        format: Format,
        opts: &PgOptions,
    ) -> Result<(Contents, super::Postgres), BackupError> {
        // Read the archive's data while it loads: the two cost about as long as the slowest.
        let contents = std::thread::scope(|s| {
            let read = s.spawn(|| archive::contents(self.reader, archive, format, &opts.history_schema, false));
            let loaded = load(self.loader, self.target, db, archive, format, false);
            let contents = read.join().unwrap_or_else(|_| Err("reading the archive panicked".into()));
            loaded.and(contents)
        })
        .map_err(|e| BackupError::Server(format!("loading {} into {db}: {e}", archive.display())))?;
        let mut session = super::Postgres::connect(db_url, self.label.to_owned(), opts.clone())?;
        let found = counts(session.client(), &contents)
            .map_err(|e| BackupError::Db(super::PgError::server(self.label, &e).into()))?;
        let wrong = mismatches(&contents, &found);
        if !wrong.is_empty() {
            return Err(BackupError::Server(format!(
                "restored into {db}, the archive's rows do not all arrive: {}",
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
    opts: &PgOptions,
) -> Result<(), BackupError> {
    let connect = scratch::connector(src.label.clone(), opts.connect_timeout);
    let scratch =
        Scratch::create_for(&src.target_url(), VERIFY, connect).map_err(|e| BackupError::Server(e.to_string()))?;
    let reader = if format == Format::Plain { loader.clone() } else { src.tool("pg_restore")? };
    let load = Loader { loader, reader: &reader, target: &src.target, label: &src.label };
    let (_, session) = load.load_verified(scratch.name(), scratch.url(), archive_path, format, opts)?;
    drop(session);
    scratch.drop_database().map_err(|e| BackupError::Server(e.to_string()))
}
