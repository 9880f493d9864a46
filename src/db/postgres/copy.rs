//! `migrate-to-envs` from a legacy PostgreSQL database: a whole database copied into an
//! environment's database. The copy is built beside the environment's database as
//! `<db>__restore_<ts>` (a killed run leaves a database `backups` lists and `prune` drops): by
//! `CREATE DATABASE … TEMPLATE <legacy>` when both are on one server and no other session is
//! connected to the legacy database, else by loading the legacy database's verified `pg_dump`
//! archive. It is verified (every table's row count is the legacy database's), marked with its
//! environment and project, and only then renamed into place while no session uses the
//! environment's database, an existing one kept as `<db>__replaced_<ts>`. The legacy database is
//! only read.

use super::archive;
use super::restore::{self, Loader};
use super::row_counts::{self, Counts};
use super::sql::{ident, rows};
use super::swap;
use super::{PgError, PgOptions, Postgres};
use crate::db::backend::Database as _;
use crate::db::backup::BackupError;
use crate::db::backup::options::Format;
use crate::db_url::DbUrl;
use std::path::Path;

/// The legacy database, as read before anything is copied.
#[derive(Debug, Clone)]
pub struct Legacy {
    pub url: DbUrl,
    /// Every table's row count, by its quoted qualified name.
    pub counts: Counts,
    /// Its schema version, if envdb migrated it (0 otherwise).
    pub version: u64,
    /// The environment it records, if any.
    pub environment: Option<String>,
}

impl Legacy {
    pub fn rows(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// How a copy was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `CREATE DATABASE … TEMPLATE` on the legacy database's server.
    Template,
    /// The legacy database's `pg_dump` archive loaded with `pg_restore`.
    Archive,
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    pub how: How,
    /// The name the environment's existing database is kept under, if it had one.
    pub kept: Option<String>,
}

fn server(label: &str, e: &::postgres::Error) -> BackupError {
    BackupError::Db(PgError::server(label, e).into())
}

/// Connects to the legacy database and reads its tables' row counts, version and environment.
pub fn legacy(url: &DbUrl, opts: &PgOptions) -> Result<Legacy, BackupError> {
    let label = url.redacted();
    let mut db = Postgres::connect(url.expose_secret(), label.clone(), opts.clone())?;
    let tables = archive::tables(rows(db.client(), archive::TABLES_SQL).map_err(|e| server(&label, &e))?);
    let own = tables.iter().filter(|t| !t.partitioned).map(|t| t.qualified.as_str());
    let counts = row_counts::count(db.client(), own).map_err(|e| server(&label, &e))?;
    let version = db.latest()?;
    let environment = db.meta("environment")?;
    Ok(Legacy { url: url.clone(), counts, version, environment })
}

/// Copies `legacy` into the database of `to` for the environment `env` of `project`;
/// `archive` is the legacy database's verified custom-format archive, loaded when a template
/// copy cannot be made.
pub fn copy(
    legacy: &Legacy,
    archive: &Path,
    to: &DbUrl,
    opts: &PgOptions,
    env: &str,
    project: &str,
) -> Result<Copied, BackupError> {
    let mut site = swap::site(to, opts)?;
    let db = site.db.clone();
    let exists = site.exists(&db)?;
    let (building, kept) = site.free_names()?;
    let same_server = legacy.url.with_dbname(&db).same_database(to);
    let template = format!("CREATE DATABASE {} TEMPLATE {}", ident(&building), ident(legacy.url.dbname()));
    // Refused while another session is on the legacy database (or the role may not copy it):
    // the archive then.
    let how = if same_server && site.admin.batch_execute(&template).is_ok() {
        How::Template
    } else {
        let create = format!("CREATE DATABASE {} TEMPLATE template0", ident(&building));
        site.admin.batch_execute(&create).map_err(|e| server(&site.label, &e))?;
        How::Archive
    };
    let built = to.with_dbname(&building);
    let outcome = (|| {
        if how == How::Archive {
            let pg_restore = site.tool("pg_restore")?;
            let load = Loader { loader: &pg_restore, reader: &pg_restore, target: &site.target, label: &site.label };
            load.load_verified(&building, built.expose_secret(), archive, Format::Custom, None, opts)?;
        }
        let mut new = Postgres::connect(built.expose_secret(), site.label.clone(), opts.clone())?;
        let tables = legacy.counts.keys().map(String::as_str);
        let found = row_counts::count(new.client(), tables).map_err(|e| server(&site.label, &e))?;
        let wrong = restore::mismatches(&legacy.counts, &found, "the legacy database holds");
        if !wrong.is_empty() {
            return Err(BackupError::Server(format!(
                "the copy of {} in {building} does not hold the legacy database's rows ({}); it was dropped and {} is untouched",
                legacy.url.redacted(),
                wrong.join("; "),
                site.label
            )));
        }
        new.adopt(env)?;
        if new.meta("project")?.is_none() {
            new.set_meta("project", Some(project))?;
        }
        Ok(())
    })();
    outcome.inspect_err(|_| site.drop_database(&building))?;
    let kept = exists.then_some(kept);
    swap::swap_in(&mut site, &building, kept.as_deref(), false).inspect_err(|_| site.drop_database(&building))?;
    Ok(Copied { how, kept })
}
