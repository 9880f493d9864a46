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
