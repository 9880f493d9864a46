//! For a host's tests: a fresh, migrated database in a temporary directory that disappears
//! with it. It never resolves an environment, so a test cannot reach a real database.

use crate::embedded::Migrations;
use crate::runtime::{Db, Error};
use std::ops::{Deref, DerefMut};

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

/// Creates a database in a new temporary directory and applies every migration. It also marks
/// the process as a test run, so that no later call in it can open a protected environment.
pub fn fresh(migrations: &Migrations) -> Result<TestDb, Error> {
    crate::environment::mark_test_process();
    let dir = tempfile::Builder::new()
        .prefix("envdb-test-")
        .tempdir()
        .map_err(|source| crate::db::DbError::CreateDir { path: std::env::temp_dir(), source })?;
    let db = Db::open(dir.path().join("test.db"), migrations)?;
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
