//! For a host's tests: a fresh, migrated database in a temporary directory that disappears
//! with it. It never resolves an environment, so a test cannot reach a real database.

use crate::db::DbError;
use crate::embedded::Migrations;
use crate::runtime::{Db, Error};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Mutex;

/// A migrated database in its own temporary directory.
pub struct TestDb {
    // Field order matters: the database closes before its directory is removed.
    db: Db,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// The temporary directory holding the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl DerefMut for TestDb {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.db
    }
}

/// The migrated in-memory databases `fresh` copies, one per set of migrations (keyed by their
/// checksums): the migrations run once per test process, not once per test.
static TEMPLATES: Mutex<Vec<(String, rusqlite::Connection)>> = Mutex::new(Vec::new());

/// Writes a migrated copy of `migrations`' template database to `path`.
fn copy_template(migrations: &Migrations, path: &Path) -> Result<(), Error> {
    let key: String = migrations.iter().map(|m| m.checksum).collect::<Vec<_>>().join(",");
    let mut templates = TEMPLATES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = match templates.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            let memory = Path::new(":memory:");
            let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| DbError::sqlite(memory, e, BUSY))?;
            crate::runtime::migrate(&mut conn, migrations)?;
            templates.push((key, conn));
            templates.len() - 1
        }
    };
    let template = &templates[at].1;
    template
        .backup(rusqlite::MAIN_DB, path, None::<fn(rusqlite::backup::Progress)>)
        .map_err(|e| DbError::sqlite(path, e, BUSY))?;
    Ok(())
}

const BUSY: std::time::Duration = std::time::Duration::from_secs(5);

/// Creates a database in a new temporary directory, migrated: a copy of a template migrated once
/// per process (what `sqlx::test` does). It also marks the process as a test run, so that no
/// later call in it can open a protected environment.
pub fn fresh(migrations: &Migrations) -> Result<TestDb, Error> {
    crate::environment::mark_test_process();
    let dir = tempfile::Builder::new()
        .prefix("envdb-test-")
        .tempdir()
        .map_err(|source| DbError::CreateDir { path: std::env::temp_dir(), source })?;
    let path = dir.path().join("test.db");
    copy_template(migrations, &path)?;
    let db = Db::open(&path, migrations)?;
    Ok(TestDb { db, dir })
}

/// The variable naming the PostgreSQL server `fresh_pg` makes its databases on.
#[cfg(feature = "postgres")]
pub const TEST_DATABASE_URL: &str = "ENVDB_TEST_DATABASE_URL";

/// A migrated throwaway database on a PostgreSQL server, dropped (sessions and all) when this
/// handle drops, a panicking test's unwinding included.
#[cfg(feature = "postgres")]
pub struct TestPgDb {
    // Field order matters: the session closes before the database is dropped.
    db: crate::runtime::PgDb,
    scratch: crate::db::postgres::scratch::Scratch,
}

#[cfg(feature = "postgres")]
impl TestPgDb {
    /// The database's name (`envdb_test_<random>`).
    pub fn name(&self) -> &str {
        self.scratch.name()
    }

    /// The database's URL, with the password of `ENVDB_TEST_DATABASE_URL` if it has one (for a
    /// child process or a second connection; never print it).
    pub fn url(&self) -> &str {
        self.scratch.url()
    }
}

#[cfg(feature = "postgres")]
impl Deref for TestPgDb {
    type Target = crate::runtime::PgDb;
    fn deref(&self) -> &crate::runtime::PgDb {
        &self.db
    }
}

#[cfg(feature = "postgres")]
impl DerefMut for TestPgDb {
    fn deref_mut(&mut self) -> &mut crate::runtime::PgDb {
        &mut self.db
    }
}

/// Creates `envdb_test_<random>` on the server of `ENVDB_TEST_DATABASE_URL` (its role needs
/// CREATEDB) and applies every migration. Like [`fresh`] it marks the process as a test run.
#[cfg(feature = "postgres")]
pub fn fresh_pg(migrations: &Migrations) -> Result<TestPgDb, Error> {
    use crate::db::postgres::{PgOptions, scratch};
    crate::environment::mark_test_process();
    let url = std::env::var(TEST_DATABASE_URL).ok().filter(|u| !u.is_empty()).ok_or(Error::NoTestServer)?;
    let url = crate::db_url::DbUrl::parse(&url)?;
    let connect = scratch::connector(url.redacted(), PgOptions::default().connect_timeout);
    let scratch = scratch::Scratch::create_for(url.expose_secret(), scratch::TEST, connect)?;
    let db = crate::runtime::PgDb::open(scratch.url(), migrations)?;
    Ok(TestPgDb { db, scratch })
}
