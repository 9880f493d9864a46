//! `restore` of a server database. `--clean` (the default) builds `<db>__restore_<ts>` from the
//! archive, verifies it (every table's row count is the archive's, the history is the archive's,
//! no invalid index), then swaps it in with two `ALTER DATABASE … RENAME` in one transaction
//! while no other session is connected, keeping the old one as `<db>__replaced_<ts>`: at every
//! moment the database's name holds the old database or the restored one, and a failure before
//! the swap drops the new one and leaves the old one untouched. `--merge` loads the archive's
//! rows (envdb's own tables left out) into the existing database in one transaction.

use super::archive::{self, Contents};
use super::connect::{self, Target};
use super::restore::Loader;
use super::scratch::{self, Purpose};
use super::sql::{ident, literal, rows};
use super::tools::{self, Tool};
use super::{PgError, PgOptions, Postgres};
use crate::db::DbError;
use crate::db::backend::Database as _;
use crate::db::backup::options::Format;
use crate::db::backup::{self, BackupError};
use crate::db_url::DbUrl;
use std::path::Path;

const RESTORE: Purpose = Purpose {
    prefix: "envdb_restore",
    needs: "restore builds the restored database beside the old one and renames them from the maintenance database",
};

/// The suffixes of the databases a restore leaves beside `<db>`.
pub const REPLACED: &str = "__replaced_";
pub const BUILDING: &str = "__restore_";
/// What `reset` builds its new database as: `<db>__reset_<ts>`.
pub const RESET: &str = "__reset_";

/// An archive to restore, by path and format.
#[derive(Debug, Clone, Copy)]
pub struct Archive<'a> {
    pub path: &'a Path,
    pub format: Format,
}

impl Archive<'_> {
    /// The format its name says (a `.db` or anything else is refused by the caller).
    pub fn format_of(path: &Path) -> Option<Format> {
        Format::of_extension(path.extension()?.to_str()?)
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The replaced database's new name (clean restore of an existing database).
    pub kept: Option<String>,
    pub before: Option<u64>,
    pub after: u64,
    /// The sessions `--force` ended, as named in the refusal.
    pub terminated: Vec<String>,
    pub tables: usize,
}

fn fail(message: String) -> BackupError {
    BackupError::Server(message)
}

fn server(label: &str, e: &::postgres::Error) -> BackupError {
    BackupError::Db(PgError::server(label, e).into())
}

/// The database's name, its connection and a maintenance session.
pub(super) struct Site {
    pub label: String,
    pub target: Target,
    pub db: String,
    pub admin: ::postgres::Client,
    server: String,
    major: u32,
}

pub(super) fn site(url: &DbUrl, opts: &PgOptions) -> Result<Site, BackupError> {
    let label = url.redacted();
    let target = connect::target(url.expose_secret(), &label, opts.connect_timeout).map_err(DbError::from)?;
    let db = target.config.get_dbname().map_or_else(|| connect::user(&target.config), str::to_owned);
    let mut connector = scratch::connector(label.clone(), opts.connect_timeout);
    let (mut admin, _) =
        scratch::maintenance(url.expose_secret(), RESTORE, &mut connector).map_err(|e| fail(e.to_string()))?;
    let found = rows(&mut admin, "SELECT current_setting('server_version'), current_setting('server_version_num')")
        .map_err(|e| server(&label, &e))?;
    let row = found.into_iter().next().unwrap_or_default();
    let server_version = row.first().cloned().flatten().unwrap_or_default();
    let major = row.get(1).cloned().flatten().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) / 10_000;
    Ok(Site { label, target, db, admin, server: server_version, major })
}

impl Site {
    pub fn tool(&self, program: &'static str) -> Result<Tool, BackupError> {
        tools::find(program, &self.server, self.major, &self.label).map_err(|e| fail(e.to_string()))
    }

    pub fn exists(&mut self, name: &str) -> Result<bool, BackupError> {
        let sql = format!("SELECT 1 FROM pg_catalog.pg_database WHERE datname = {}", literal(name));
        Ok(!rows(&mut self.admin, &sql).map_err(|e| server(&self.label, &e))?.is_empty())
    }

    /// Free names for the database built beside the site's and for the one it replaces:
    /// `<db>__restore_<ts>` and `<db>__replaced_<ts>` (`-2`, `-3`… after the timestamp when a run
    /// killed in the same second left one, as backups do).
    pub fn free_names(&mut self) -> Result<(String, String), BackupError> {
        let (db, ts) = (self.db.clone(), backup::timestamp());
        let mut n = 1;
        let (building, kept) = loop {
            let ts = if n == 1 { ts.clone() } else { format!("{ts}-{n}") };
            let (building, kept) = (format!("{db}{BUILDING}{ts}"), format!("{db}{REPLACED}{ts}"));
            if !self.exists(&building)? && !self.exists(&kept)? {
                break (building, kept);
            }
            n += 1;
        };
        if kept.len() > 63 {
            return Err(fail(format!(
                "the database name `{db}` is too long to keep it beside the new one as `{kept}` (PostgreSQL names hold 63 bytes); nothing was changed\n  help: rename the database, or restore or copy it with pg_dump and pg_restore yourself"
            )));
        }
        Ok((building, kept))
    }

    pub fn drop_database(&mut self, name: &str) {
        let _ = self.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)));
    }
}

/// What an archive records about itself (environment, project, history), read before anything
/// changes: only envdb's tables are read from a custom or directory archive.
pub fn identity(archive: Archive<'_>, history_schema: &str, label: &str) -> Result<Contents, BackupError> {
    let reader = match archive.format {
        // A plain script is read as it is; any pg_restore reads the others (a too old one says so).
        Format::Plain => None,
        _ => Some(tools::find("pg_restore", "", 0, label).map_err(|e| fail(e.to_string()))?),
    };
    let reader = reader.unwrap_or_else(|| Tool { path: "psql".into(), version: String::new(), major: 0 });
    archive::contents(&reader, archive.path, archive.format, history_schema, true)
        .map_err(|why| fail(format!("{} cannot be restored: {why}; nothing was changed", archive.path.display())))
}

/// Every other session on `db`: pid and a description naming it. Idle sessions of envdb itself
/// (a pooler's server connections envdb used last) are ended here, not named.
fn sessions(site: &mut Site, db: &str) -> Result<Vec<(String, String)>, BackupError> {
    let sql = sessions_sql(&literal(db), "");
    let found = rows(&mut site.admin, &sql).map_err(|e| server(&site.label, &e))?;
    let mut named = Vec::new();
    for row in found {
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        if text(1) == "cargo-envdb" && text(4) == "idle" {
            let _ = site.admin.batch_execute(&format!("SELECT pg_catalog.pg_terminate_backend({})", text(0)));
            continue;
        }
        named.push(describe_session(&row));
    }
    Ok(named)
}

/// The sessions on the database `database` (an SQL expression) other than the asking one, with
/// `more` added to the condition: pid, application, role, client address, state.
pub(super) fn sessions_sql(database: &str, more: &str) -> String {
    format!(
        "SELECT pid, coalesce(application_name, ''), coalesce(usename, ''), coalesce(host(client_addr), 'local socket'), \
         coalesce(state, '') FROM pg_catalog.pg_stat_activity \
         WHERE datname = {database} AND pid <> pg_backend_pid() AND backend_type = 'client backend'{more}"
    )
}

/// A row of [`sessions_sql`]: its pid, and a description naming it.
pub(super) fn describe_session(row: &[Option<String>]) -> (String, String) {
    let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let app = if text(1).is_empty() { String::from("(no application_name)") } else { format!("`{}`", text(1)) };
    (text(0), format!("pid {} {app} as {} from {}", text(0), text(2), text(3)))
}

/// Refuses while other sessions are connected to `db`, naming them; `force` ends them.
fn keep_out(site: &mut Site, db: &str, force: bool) -> Result<Vec<String>, BackupError> {
    let found = sessions(site, db)?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = found.iter().map(|(_, n)| n.clone()).collect();
    if !force {
        return Err(fail(format!(
            "{} session(s) are connected to {}: {}; the new database was dropped and {} is untouched\n  help: stop the application and try again, or pass --force to end those sessions (audited)",
            names.len(),
            site.label,
            names.join("; "),
            site.db
        )));
    }
    for (pid, _) in &found {
        let _ = site.admin.batch_execute(&format!("SELECT pg_catalog.pg_terminate_backend({pid})"));
    }
    Ok(names)
}

/// `restore --clean`: see the module's documentation. `status(verb, what)` reports each step.
pub fn clean(
    url: &DbUrl,
    opts: &PgOptions,
    env: &str,
    archive: Archive<'_>,
    force: bool,
    status: &mut dyn FnMut(&str, String),
) -> Result<Restored, BackupError> {
    let mut site = site(url, opts)?;
    let db = site.db.clone();
    let (loader, reader) = match archive.format {
        Format::Plain => (site.tool("psql")?, site.tool("psql")?),
        _ => (site.tool("pg_restore")?, site.tool("pg_restore")?),
    };
    let before = if site.exists(&db)? {
        let mut old = Postgres::connect(url.expose_secret(), site.label.clone(), opts.clone())?;
        old.check_environment(env)?;
        Some(old.latest()?)
    } else {
        None
    };
    let (building, kept) = site.free_names()?;
    site.admin
        .batch_execute(&format!("CREATE DATABASE {} TEMPLATE template0", ident(&building)))
        .map_err(|e| server(&site.label, &e))?;
    status("Restoring", format!("into a new database {building}; {db} is untouched until it is verified"));
    let outcome = (|| {
        let new_url = scratch::with_database(url.expose_secret(), &building).map_err(|e| fail(e.to_string()))?;
        let load = Loader { loader: &loader, reader: &reader, target: &site.target, label: &site.label };
        // The counts recorded with the archive's checksum, which the restore has re-read.
        let counted = backup::recorded(archive.path)
            .ok()
            .flatten()
            .and_then(|digest| super::row_counts::read(archive.path, &digest));
        let (contents, mut new) =
            load.load_verified(&building, &new_url, archive.path, archive.format, counted.as_ref(), opts)?;
        new.check_environment(env)?;
        let history: Vec<(u64, String)> = new.applied()?.into_iter().map(|a| (a.version, a.checksum)).collect();
        let recorded: Vec<(u64, String)> = contents.history.iter().map(|a| (a.version, a.checksum.clone())).collect();
        if history != recorded {
            return Err(fail("the restored database's history differs from the archive's".into()));
        }
        let problems = new.problems(20)?;
        if !problems.is_empty() {
            return Err(fail(format!("the restored database fails validation: {}", problems.join("; "))));
        }
        let after = new.latest()?;
        drop(new);
        status(
            "Verified",
            format!(
                "{building}: the row counts of all {} tables match {}, history at version {after}, no invalid index",
                contents.counts.len(),
                if counted.is_some() { "those the backup recorded" } else { "the archive" }
            ),
        );
        Ok((after, contents.counts.len()))
    })();
    let (after, tables) = outcome
        .inspect_err(|_| site.drop_database(&building))
        .map_err(|e| match e {
            BackupError::Server(m) => fail(format!(
                "{m}\n  the new database {building} was dropped; {db} is untouched, nothing was changed\n  help: restore another backup (`cargo envdb backups --verify` lists them)"
            )),
            other => other,
        })?;
    let kept_as = before.map(|_| kept.as_str());
    let terminated = swap_in(&mut site, &building, kept_as, force).inspect_err(|_| site.drop_database(&building))?;
    Ok(Restored { kept: before.map(|_| kept), before, after, terminated, tables })
}

/// Puts the database `building` under the site's name: the old one (when `kept` names where it
/// goes) and the new one renamed in one transaction, while no other session is connected
/// (refused and named; `force` ends them). Returns the sessions it ended. On failure the new
/// database is still there, under its own name, for the caller to drop.
pub(super) fn swap_in(
    site: &mut Site,
    building: &str,
    kept: Option<&str>,
    force: bool,
) -> Result<Vec<String>, BackupError> {
    let db = site.db.clone();
    let swap = match kept {
        Some(kept) => format!(
            "BEGIN; ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} RENAME TO {}; COMMIT;",
            ident(&db),
            ident(kept),
            ident(building),
            ident(&db)
        ),
        None => format!("ALTER DATABASE {} RENAME TO {}", ident(building), ident(&db)),
    };
    let mut terminated = Vec::new();
    // A session may connect between the check and the rename: `--force` ends it and tries again.
    for tries in 1.. {
        terminated.extend(keep_out(site, &db, force)?);
        // Only envdb knows the new database's name: what is left on it is envdb's own (a
        // pooler's server connection the verification used).
        let _ = site.admin.batch_execute(&format!(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = {}",
            literal(building)
        ));
        match site.admin.batch_execute(&swap) {
            Ok(()) => break,
            Err(e) => {
                let _ = site.admin.batch_execute("ROLLBACK");
                if tries < 5 && super::error::code(&e) == Some("55006") {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
                return Err(fail(format!(
                    "cannot swap the new database in ({}); it was dropped and {db} is untouched",
                    super::error::describe(&e)
                )));
            }
        }
    }
    Ok(terminated)
}

/// The application's sessions on the database (`application_name` = `app`), each named.
pub fn app_sessions(url: &DbUrl, opts: &PgOptions, app: &str) -> Result<Vec<String>, BackupError> {
    let mut site = site(url, opts)?;
    let db = site.db.clone();
    Ok(sessions(&mut site, &db)?
        .into_iter()
        .filter(|(_, named)| named.contains(&format!("`{app}`")))
        .map(|(_, named)| named)
        .collect())
}

/// Creates `<db>__<tag>_<UTC ts>` beside the URL's database (`reset` builds its new database
/// there) and returns its URL.
pub fn create_beside(url: &DbUrl, opts: &PgOptions, tag: &str) -> Result<DbUrl, BackupError> {
    let mut site = site(url, opts)?;
    let name = format!("{}__{tag}_{}", site.db, backup::timestamp());
    if name.len() > 63 {
        return Err(fail(format!(
            "the database name `{}` is too long to build `{name}` beside it (PostgreSQL names hold 63 bytes); nothing was changed",
            site.db
        )));
    }
    site.admin.batch_execute(&format!("CREATE DATABASE {}", ident(&name))).map_err(|e| server(&site.label, &e))?;
    Ok(url.with_dbname(&name))
}

/// Drops the URL's database (ending its sessions): a database `reset` built and did not use.
pub fn discard(url: &DbUrl, opts: &PgOptions) {
    if let Ok(mut site) = site(url, opts) {
        let db = site.db.clone();
        site.drop_database(&db);
    }
}

/// Puts the database `built` in place of the URL's (see [`swap_in`]) and drops the old one;
/// returns the sessions `force` ended. A failure leaves both as they were.
pub fn replace_with(url: &DbUrl, opts: &PgOptions, built: &DbUrl, force: bool) -> Result<Vec<String>, BackupError> {
    let mut site = site(url, opts)?;
    let db = site.db.clone();
    let exists = site.exists(&db)?;
    let kept = format!("{db}{REPLACED}{}", backup::timestamp());
    let ended = swap_in(&mut site, built.dbname(), exists.then_some(kept.as_str()), force)?;
    if exists {
        // Best effort: a replaced database left is listed by `backups` and dropped by `prune`.
        site.drop_database(&kept);
    }
    Ok(ended)
}

/// `restore --merge`: the archive's rows (envdb's own tables left out) loaded into the existing
/// database in one transaction; its schema version must be the database's.
pub fn merge(
    url: &DbUrl,
    opts: &PgOptions,
    env: &str,
    archive: Archive<'_>,
    archive_version: u64,
) -> Result<Restored, BackupError> {
    if archive.format == Format::Plain {
        return Err(fail(format!(
            "{} is a plain script: --merge needs a custom or directory archive (pg_restore chooses what to load from it); nothing was changed",
            archive.path.display()
        )));
    }
    let site = site(url, opts)?;
    let pg_restore = site.tool("pg_restore")?;
    let mut db = Postgres::connect(url.expose_secret(), site.label.clone(), opts.clone())?;
    db.check_environment(env)?;
    let before = db.latest()?;
    drop(db);
    if before != archive_version {
        return Err(fail(format!(
            "{} is at schema version {before} and the archive at {archive_version}: --merge loads rows into the same schema only; nothing was changed\n  help: migrate the database to {archive_version} first, or restore --clean",
            site.label
        )));
    }
    let toc = archive::toc(&pg_restore, archive.path).map_err(fail)?;
    let envdb = format!(" {} envdb_", opts.history_schema);
    let list: String = toc
        .lines()
        .filter(|l| !l.starts_with(';') && (l.contains(" TABLE DATA ") || l.contains(" SEQUENCE SET ")))
        .filter(|l| !l.contains(&envdb))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = std::env::temp_dir().join(format!("envdb-merge-{}.list", std::process::id()));
    crate::fs_util::write_atomic(&file, list.as_bytes()).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    let mut cmd = tools::command(&pg_restore.path, &site.target, None);
    cmd.arg(format!("--dbname={}", site.db))
        .args(["--data-only", "--exit-on-error", "--single-transaction", "--no-password", "--use-list"])
        .arg(&file)
        .arg(archive.path);
    let out = cmd.output();
    let _ = std::fs::remove_file(&file);
    let out = out.map_err(|e| fail(format!("cannot run {}: {e}", pg_restore.path.display())))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{}; the merge was rolled back and {} is as it was",
            super::dump::failed("pg_restore", out.status, &out.stderr),
            site.label
        )));
    }
    Ok(Restored { kept: None, before: Some(before), after: before, terminated: Vec::new(), tables: 0 })
}

/// The databases restores left beside `url`'s: `(name, replaced)` — replaced ones
/// (`<db>__replaced_<ts>`), or the half-built ones of an interrupted restore (`<db>__restore_<ts>`).
pub fn leftovers(url: &DbUrl, opts: &PgOptions) -> Result<Vec<(String, bool)>, BackupError> {
    let mut site = site(url, opts)?;
    let like = |suffix: &str| literal(&format!("{}{}%", site.db.replace('_', "\\_"), suffix.replace('_', "\\_")));
    let sql = format!(
        "SELECT datname, datname LIKE {} FROM pg_catalog.pg_database WHERE datname LIKE {} OR datname LIKE {} OR datname LIKE {} ORDER BY 1",
        like(REPLACED),
        like(REPLACED),
        like(BUILDING),
        like(RESET)
    );
    let found = rows(&mut site.admin, &sql).map_err(|e| server(&site.label, &e))?;
    Ok(found
        .into_iter()
        .map(|r| {
            (r.first().cloned().flatten().unwrap_or_default(), r.get(1).cloned().flatten().as_deref() == Some("t"))
        })
        .collect())
}

/// Drops a database a restore left (never one with a session: an interrupted restore still
/// loading, or a replaced database someone uses, is left and reported).
pub fn drop_leftover(url: &DbUrl, opts: &PgOptions, name: &str) -> Result<(), BackupError> {
    let mut site = site(url, opts)?;
    if ![REPLACED, BUILDING, RESET].iter().any(|s| name.starts_with(&format!("{}{s}", site.db))) {
        return Err(fail(format!("{name} is not a database a restore of {} left", site.label)));
    }
    site.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}", ident(name))).map_err(|e| server(&site.label, &e))
}
