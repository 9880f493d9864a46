//! Where a database lives, and the one place that picks the backend for it: a SQLite file, or
//! (feature `postgres`) a database on a PostgreSQL server. Commands and the runtime hold a
//! `Location` and get a [`Database`] from it; they never look at which backend it is.

use super::backend::Database;
use super::schema::{Object, ReplayError};
use super::sqlite::Sqlite;
use super::{DbError, OpenOptions, lock};
use crate::embedded::Migration;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database, by where it lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite database file.
    File(PathBuf),
}

/// The exclusive run lock of a database, released on drop.
pub struct RunLock {
    _held: Box<dyn std::any::Any>,
}

impl Location {
    /// The database as messages name it: its path, or its URL without the password.
    pub fn label(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
        }
    }

    /// The file, for what only a SQLite database has (file backups, the application lock file).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
        }
    }

    /// Whether the database exists.
    pub fn exists(&self) -> bool {
        match self {
            Location::File(path) => path.exists(),
        }
    }

    /// Opens it; `opts.create` creates it when missing.
    pub fn open(&self, opts: OpenOptions) -> Result<Box<dyn Database>, DbError> {
        match self {
            Location::File(path) => Ok(Box::new(Sqlite::open(path, opts)?)),
        }
    }

    /// Removes a database this run created and could not migrate past version 0 (best effort).
    pub fn remove_created(&self) {
        match self {
            Location::File(path) => super::remove_database(path),
        }
    }

    /// Takes the exclusive run lock, waiting up to `timeout`; `on_wait` is told once what it
    /// waits for.
    pub fn run_lock(&self, timeout: Duration, on_wait: &mut dyn FnMut(&str)) -> Result<RunLock, DbError> {
        match self {
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
                }
                let held = lock::run_lock(path, timeout, &mut |p| {
                    on_wait(&format!("another envdb run to release {}", p.display()))
                })?;
                Ok(RunLock { _held: Box::new(held) })
            }
        }
    }

    /// The schema `migrations` (up to `upto`) produce on an empty database of the same backend,
    /// never this one: SQLite's in-memory sandbox.
    pub fn replay(&self, migrations: &[Migration<'_>], upto: Option<u64>) -> Result<Vec<Object>, ReplayError> {
        match self {
            Location::File(_) => super::schema::of_migrations(migrations, upto),
        }
    }
}
