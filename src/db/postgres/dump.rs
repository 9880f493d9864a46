//! A verified backup of a server database: `pg_dump` (of a major version at least the server's)
//! writes a hidden partial file (or directory); `pg_restore --list` must find every table of the
//! database in it (a plain script: its `CREATE TABLE` and `COPY` lines and its last line);
//! `--verify-restore` also restores it into a scratch database and compares row counts; then it is
//! made private (0600), hashed, synced, its row counts and SHA-256 recorded beside it, and only
//! then renamed to `<data_dir>/backups/<db>.<env>.<UTC ts>.v<version>.<dump|sql|dir>`, never over
//! a file. The row counts are taken while `pg_dump` runs, in the snapshot it dumps (exported by
//! envdb's session and handed to `pg_dump --snapshot`), so they are exactly the archive's rows.

use super::archive::{self, Table};
use super::connect::{self, Target};
use super::row_counts::{self, Counts};
use super::sql::rows;
use super::tools::{self, Tool};
use super::{PgOptions, Postgres};
use crate::db::backend::Database as _;
use crate::db::backup::options::{Content, DumpOptions, Format};
use crate::db::backup::{self, BackupError, Made, Verification};
use crate::db_url::DbUrl;
use std::path::{Path, PathBuf};

/// What a dump needs to know about the database and its server, read over one connection.
pub(super) struct Source {
    /// The database's URL, password included (never shown).
    pub url: DbUrl,
    pub target: Target,
    pub label: String,
    pub dbname: String,
    pub version: u64,
    pub tables: Vec<Table>,
    pub server: String,
    pub server_major: u32,
}

fn server_error(label: &str, e: &::postgres::Error) -> BackupError {
    BackupError::Db(super::PgError::server(label, e).into())
}

/// Connects, refuses a database of another environment, and reads its version, tables and
/// server version.
pub(super) fn source(url: &DbUrl, opts: &PgOptions, env: &str) -> Result<Source, BackupError> {
    let label = url.redacted();
    let mut db = Postgres::connect(url.expose_secret(), label.clone(), opts.clone())?;
    db.check_environment(env)?;
    let version = db.latest()?;
    let tables = archive::tables(rows(db.client(), archive::TABLES_SQL).map_err(|e| server_error(&label, &e))?);
    let found = rows(db.client(), "SELECT current_setting('server_version'), current_setting('server_version_num')")
        .map_err(|e| server_error(&label, &e))?;
    let row = found.into_iter().next().unwrap_or_default();
    let server = row.first().cloned().flatten().unwrap_or_default();
    let server_major = row.get(1).cloned().flatten().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) / 10_000;
    let target =
        connect::target(url.expose_secret(), &label, opts.connect_timeout).map_err(crate::db::DbError::from)?;
    let dbname = target.config.get_dbname().map_or_else(|| connect::user(&target.config), str::to_owned);
    Ok(Source { url: url.clone(), target, label, dbname, version, tables, server, server_major })
}

impl Source {
    /// The URL with its password, for a connection of envdb's own (a scratch database).
    pub fn target_url(&self) -> String {
        self.url.expose_secret().to_owned()
    }

    /// A client program at least as new as the server.
    pub fn tool(&self, program: &'static str) -> Result<Tool, BackupError> {
        tools::find(program, &self.server, self.server_major, &self.label)
            .map_err(|e| BackupError::Server(e.to_string()))
    }
}

/// What a child program's failure says, with how it ended (a signal named: SIGXFSZ is the file
/// size limit).
pub(super) fn failed(program: &str, status: std::process::ExitStatus, stderr: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    let how = match status.signal() {
        Some(25) => String::from("killed by SIGXFSZ: the file size limit (ulimit -f) was reached"),
        Some(sig) => format!("killed by signal {sig}"),
        None => format!("exit status {}", status.code().unwrap_or(-1)),
    };
    let said = String::from_utf8_lossy(stderr).trim().replace('\n', "\n    ");
    if said.is_empty() { format!("{program} failed ({how})") } else { format!("{program} failed ({how}): {said}") }
}

/// Backs the database of `url` up to `dest`, or to a new name in `backups`.
pub fn backup(
    url: &DbUrl,
    opts: &PgOptions,
    env: &str,
    backups: &Path,
    dest: Option<&Path>,
    dump: DumpOptions,
) -> Result<Made, BackupError> {
    let src = source(url, opts, env)?;
    let pg_dump = src.tool("pg_dump")?;
    let checker = match (dump.format, dump.verify_restore) {
        (Format::Plain, false) => None,
        (Format::Plain, true) => Some(src.tool("psql")?),
        _ => Some(src.tool("pg_restore")?),
    };
    let tail = format!(".{}", dump.format.extension());
    if let Some(dest) = dest {
        return write(&src, &pg_dump, checker.as_ref(), dest, dump, opts);
    }
    // An automatic name another backup took in the same second: take the next one.
    loop {
        let dest = backup::free_name(backups, &src.dbname, env, src.version, &tail);
        match write(&src, &pg_dump, checker.as_ref(), &dest, dump, opts) {
            Err(BackupError::Exists(_)) => continue,
            other => return other,
        }
    }
}

/// Removes a partial file or directory.
pub(super) fn remove_partial(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

fn write(
    src: &Source,
    pg_dump: &Tool,
    checker: Option<&Tool>,
    dest: &Path,
    dump: DumpOptions,
    opts: &PgOptions,
) -> Result<Made, BackupError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    backup::in_new_dirs(dir, || {
        if dest.exists() {
            return Err(BackupError::Exists(dest.to_owned()));
        }
        let tmp = backup::partial(dest);
        let result = (|| {
            let counts = dump_counted(src, pg_dump, &tmp, dump, opts)?;
            let verification = verify(src, checker, &tmp, dump, counts.as_ref(), opts)?;
            private_tree(&tmp)?;
            let digest = backup::digest(&tmp).map_err(|e| backup::write_error(&tmp, format!("cannot read it: {e}")))?;
            sync_tree(&tmp)?;
            // The row counts and the checksum first, then the backup (as for a file): a crash in
            // between leaves them alone, which `prune` removes.
            let unrecord = || {
                let _ = std::fs::remove_file(row_counts::path(dest));
                let _ = std::fs::remove_file(backup::checksum_path(dest));
            };
            if let Some(counts) = &counts {
                row_counts::write(dest, &digest, counts)?;
            }
            backup::record(dest, &digest).inspect_err(|_| unrecord())?;
            backup::place(&tmp, dest).inspect_err(|_| unrecord())?;
            Ok(Made { path: dest.to_owned(), verification, sha256: digest })
        })();
        if result.is_err() {
            remove_partial(&tmp);
        }
        backup::sync_dir(dir);
        result.map_err(|e| match e {
            BackupError::Server(message) => BackupError::Server(format!(
                "cannot back up {}: {message}\n  the partial file {} was removed; nothing was kept and the database is untouched\n  help: {}",
                src.label,
                tmp.display(),
                if message.contains("SIGXFSZ") || message.contains("No space left") {
                    "free space (or raise the file size limit) where the backups go, and retry"
                } else {
                    "fix the cause, then back up again"
                }
            )),
            other => other,
        })
    })
}

/// Runs `pg_dump` while a session of envdb's counts every table's rows in the snapshot it hands
/// `pg_dump` (`None` for a schema-only dump, or when the server would not export a snapshot:
/// the dump then runs on its own and a restore counts the archive's rows itself).
fn dump_counted(
    src: &Source,
    pg_dump: &Tool,
    tmp: &Path,
    dump: DumpOptions,
    opts: &PgOptions,
) -> Result<Option<Counts>, BackupError> {
    let session = match dump.content {
        Content::SchemaOnly => None,
        _ => snapshot_session(src, opts),
    };
    let Some((mut db, snapshot)) = session else {
        run_pg_dump(src, pg_dump, tmp, dump, None)?;
        return Ok(None);
    };
    let tables: Vec<&str> = src.tables.iter().filter(|t| !t.partitioned).map(|t| t.qualified.as_str()).collect();
    // The session's transaction holds the snapshot until pg_dump has ended, counted or not.
    let (dumped, counted) = std::thread::scope(|s| {
        let counting = s.spawn(|| row_counts::count(db.client(), tables));
        let dumped = run_pg_dump(src, pg_dump, tmp, dump, Some(&snapshot));
        (dumped, counting.join())
    });
    dumped?;
    match counted {
        Ok(Ok(counts)) => Ok(Some(counts)),
        Ok(Err(e)) => Err(server_error(&src.label, &e)),
        Err(_) => Err(BackupError::Server("counting the tables' rows panicked".into())),
    }
}

/// A session in a repeatable-read, read-only transaction and the snapshot it exported; `None`
/// when the server refuses either.
fn snapshot_session(src: &Source, opts: &PgOptions) -> Option<(Postgres, String)> {
    let mut db = Postgres::connect(src.url.expose_secret(), src.label.clone(), opts.clone()).ok()?;
    let found =
        rows(db.client(), "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_catalog.pg_export_snapshot()")
            .ok()?;
    let snapshot = found.into_iter().next()?.into_iter().next().flatten()?;
    Some((db, snapshot))
}

fn run_pg_dump(
    src: &Source,
    pg_dump: &Tool,
    tmp: &Path,
    dump: DumpOptions,
    snapshot: Option<&str>,
) -> Result<(), BackupError> {
    let mut cmd = tools::command(&pg_dump.path, &src.target, None);
    cmd.arg(format!("--format={}", dump.format.flag())).arg("--file").arg(tmp).arg("--no-password");
    if let Some(snapshot) = snapshot {
        cmd.arg(format!("--snapshot={snapshot}"));
    }
    match dump.content {
        Content::Full => {}
        Content::SchemaOnly => {
            cmd.arg("--schema-only");
        }
        Content::DataOnly => {
            cmd.arg("--data-only");
        }
    }
    if let Some(jobs) = dump.jobs.filter(|_| dump.format == Format::Directory) {
        cmd.arg(format!("--jobs={jobs}"));
    }
    let out = cmd.output().map_err(|e| BackupError::Server(format!("cannot run {}: {e}", pg_dump.path.display())))?;
    if !out.status.success() {
        return Err(BackupError::Server(failed("pg_dump", out.status, &out.stderr)));
    }
    Ok(())
}

/// Checks the archive lists every table (and, with `--verify-restore`, restores it into a
/// scratch database whose row counts must be the archive's).
fn verify(
    src: &Source,
    checker: Option<&Tool>,
    tmp: &Path,
    dump: DumpOptions,
    counts: Option<&Counts>,
    opts: &PgOptions,
) -> Result<Verification, BackupError> {
    let missing = match (dump.format, checker) {
        (Format::Plain, _) => archive::missing_in_plain(tmp, &src.tables, dump.content)
            .map_err(|e| backup::write_error(tmp, format!("cannot read it back: {e}")))?,
        (_, Some(pg_restore)) => {
            let toc = archive::toc(pg_restore, tmp).map_err(BackupError::Server)?;
            archive::missing_in_toc(&toc, &src.tables, dump.content)
        }
        (_, None) => Vec::new(),
    };
    if !missing.is_empty() {
        return Err(BackupError::Server(format!(
            "the archive pg_dump wrote lacks {} of the database's tables: {}",
            missing.len(),
            missing.join(", ")
        )));
    }
    if !dump.verify_restore {
        return Ok(Verification::Dump);
    }
    let Some(loader) = checker else { return Ok(Verification::Dump) };
    super::restore::verify_in_scratch(src, loader, tmp, dump.format, counts, opts)?;
    Ok(Verification::DumpRestored)
}

/// Mode 0600 for a file, 0700 for a directory archive and 0600 for each of its files.
fn private_tree(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt as _;
    if !path.is_dir() {
        return backup::private(path);
    }
    for file in files(path)? {
        backup::private(&file)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(|e| backup::write_error(path, e))
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let read = std::fs::read_dir(dir).map_err(|e| backup::write_error(dir, e))?;
    read.map(|e| e.map(|e| e.path()).map_err(|e| backup::write_error(dir, e))).collect()
}

/// fsync of a file, or of every file of a directory archive and the directory.
fn sync_tree(path: &Path) -> Result<(), BackupError> {
    if path.is_dir() {
        for file in files(path)? {
            backup::sync(&file)?;
        }
    }
    backup::sync(path)
}
