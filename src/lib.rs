//! envdb: numbered, checksummed SQL migrations for SQLite, per-environment databases, and the
//! runtime a host application links to open its database up to date.
//!
//! The library has three layers (see ARCHITECTURE.md):
//! - the file side, pure and dependency-light: names, checksums, the sum file, `check`, `fix`,
//!   and [`build`] for a host's build script;
//! - the database side (feature `runtime`): planning, applying, history, [`Db`];
//! - the command line (feature `cli`; its command layer alone, `commands`, is what `app-cli`
//!   links), which alone prints.

#[cfg(feature = "app-cli")]
pub mod app;
pub mod authoring;
pub mod build;
pub mod check;
#[cfg(feature = "commands")]
pub mod check_cache;
pub mod checksum;
pub mod config;
pub mod db_url;
pub mod digest;
pub mod embedded;
pub mod file_name;
pub mod fix;
pub mod fs_util;
pub mod migration_dir;
pub mod pg_check;
pub mod pg_lex;
pub mod plan;
pub mod problem;
pub mod project;
pub mod sql_lex;
pub mod sql_rules;
pub mod sql_text;
pub mod sum_file;

#[cfg(feature = "commands")]
pub mod cli;
#[cfg(feature = "runtime")]
pub mod db;
#[cfg(feature = "runtime")]
pub mod environment;
#[cfg(feature = "commands")]
pub mod import;
#[cfg(feature = "runtime")]
pub mod local_server;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "testing")]
pub mod testing;

/// The PostgreSQL client `PgDb` hands out (the same version envdb links).
#[cfg(feature = "postgres")]
pub use ::postgres;
/// The SQLite client `Db` hands out (the same version envdb links): name its types through it.
#[cfg(feature = "runtime")]
pub use ::rusqlite;
#[cfg(feature = "runtime")]
pub use db::apply::{AppliedNow, MigrateReport};
pub use embedded::{Migration, Migrations};
#[cfg(feature = "runtime")]
pub use environment::Environment;
#[cfg(feature = "postgres")]
pub use runtime::PgDb;
#[cfg(feature = "runtime")]
pub use runtime::{BackupPolicy, Db, Error, InUse, Options, Policy, VersionInfo};

/// This tool's version, recorded in every history row.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
