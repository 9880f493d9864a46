//! The replay on PostgreSQL: the migrations run in a scratch database on the same server (with
//! the same backend, so they run exactly as `migrate` runs them), its schema read from the
//! catalogs, and the scratch database dropped whatever happened.

use super::scratch::{self, Scratch};
use super::{PgOptions, Postgres, catalog};
use crate::db::DbError;
use crate::db::apply::MigrateOptions;
use crate::db::backend::Database as _;
use crate::db::schema::{Object, ReplayError};
use crate::db_url::DbUrl;
use crate::embedded::Migration;

/// The schema `migrations` (up to `upto`) produce in an empty database on the server of `url`.
pub fn replay(
    url: &DbUrl,
    opts: &PgOptions,
    migrations: &[Migration<'_>],
    upto: Option<u64>,
    progress: &mut dyn FnMut(crate::db::apply::Progress<'_>),
) -> Result<Vec<Object>, ReplayError> {
    let connect = scratch::connector(url.redacted(), opts.connect_timeout);
    let scratch = Scratch::create(url.expose_secret(), connect).map_err(|e| ReplayError::Scratch(e.to_string()))?;
    let label = format!("the scratch database {}", scratch.name());
    let other = |e: DbError| ReplayError::Scratch(e.to_string());
    let mut db = Postgres::connect(scratch.url(), label, opts.clone()).map_err(other)?;
    let run = MigrateOptions { target: upto, ..MigrateOptions::default() };
    match db.migrate(migrations, &run, progress) {
        Ok(_) => {}
        Err(DbError::Migration(failed)) => {
            let failed = *failed;
            return Err(ReplayError::ScratchMigration {
                file: failed.file,
                line: failed.line,
                message: failed.message,
            });
        }
        Err(e) => return Err(other(e)),
    }
    let objects = catalog::objects(db.client(), &opts.history_schema)
        .map_err(|e| ReplayError::Scratch(super::error::describe(&e)))?;
    drop(db);
    scratch.drop_database().map_err(|e| ReplayError::Scratch(e.to_string()))?;
    Ok(objects)
}
