//! The database a command works on and the migrations on disk, resolved once per command.

use super::Ctx;
use crate::check::check;
use crate::db::{self, DbError, OpenOptions, lock};
use crate::embedded::Migration;
use crate::migration_dir::MigrationDir;
use crate::problem::CheckFailed;
use crate::project::Project;
use anyhow::Context as _;
use rusqlite::Connection;
use std::path::PathBuf;
use std::time::Duration;

/// Options of every command that touches a database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// The database file (default: the dev database, .envdb/dev/<name>.db)
    #[arg(long, value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// Seconds to wait for another envdb run on the same database
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub lock_timeout: f64,
    /// Seconds a statement waits for another connection's write lock
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub busy_timeout: f64,
}

/// A resolved database plus the project's migrations.
pub struct Target {
    pub project: Project,
    pub dir: MigrationDir,
    pub path: PathBuf,
    pub busy: Duration,
    pub lock_timeout: Duration,
}

impl Target {
    pub fn resolve(ctx: &mut Ctx, args: &DbArgs) -> anyhow::Result<Target> {
        let project = ctx.project()?;
        let dir = MigrationDir::read(&project.migrations, &project.show(&project.migrations))?;
        let path = match &args.database {
            Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
            None => {
                let file = project
                    .config
                    .database
                    .clone()
                    .unwrap_or_else(|| format!("{}.db", project.name()));
                project.root.join(".envdb").join("dev").join(file)
            }
        };
        let secs = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s)
                .with_context(|| format!("--{what} must be a number of seconds, not {s}"))
        };
        let target = Target {
            busy: secs(args.busy_timeout, "busy-timeout")?,
            lock_timeout: secs(args.lock_timeout, "lock-timeout")?,
            project,
            dir,
            path,
        };
        ctx.out
            .status("Database", target.project.show(&target.path).display());
        Ok(target)
    }

    /// The migrations on disk, refusing a directory that fails `check`.
    pub fn migrations(&self) -> anyhow::Result<Vec<Migration<'_>>> {
        let report = check(&self.dir, false);
        if !report.is_ok() {
            return Err(anyhow::Error::new(CheckFailed(report)))
                .context("the migrations must pass `cargo envdb check` before they are applied");
        }
        Ok(self
            .dir
            .ups()
            .map(|f| Migration {
                version: f.name.version,
                name: &f.file_name,
                up: f.sql.as_deref().unwrap_or_default(),
                down: self
                    .dir
                    .down_of(f.name.version)
                    .and_then(|d| d.sql.as_deref()),
                checksum: &f.checksum,
            })
            .collect())
    }

    pub fn show(&self) -> String {
        self.project.show(&self.path).display().to_string()
    }

    /// Opens the database; `create` makes it (and its directory) when missing.
    pub fn open(&self, create: bool) -> Result<Connection, DbError> {
        db::open(
            &self.path,
            OpenOptions {
                create,
                read_only: false,
                busy_timeout: self.busy,
            },
        )
    }

    /// Opens for reading only; `None` when the database does not exist yet.
    pub fn open_existing_read_only(&self) -> Result<Option<Connection>, DbError> {
        if !self.path.exists() {
            return Ok(None);
        }
        db::open(
            &self.path,
            OpenOptions {
                create: false,
                read_only: true,
                busy_timeout: self.busy,
            },
        )
        .map(Some)
    }

    /// Takes the exclusive run lock, saying so when it has to wait.
    pub fn run_lock(&self, ctx: &mut Ctx) -> Result<lock::Held, DbError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let timeout = self.lock_timeout;
        let out = &mut ctx.out;
        Ok(lock::run_lock(&self.path, timeout, &mut |path| {
            out.status(
                "Waiting",
                format!(
                    "for another envdb run to release {} (up to {timeout:?})",
                    path.display()
                ),
            )
        })?)
    }
}
