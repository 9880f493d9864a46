//! For a host's `build.rs`: verify the migrations with the same rules as `cargo envdb check`,
//! fail the build with the same messages, and embed every migration for the runtime library.
//!
//! ```text
//! // build.rs
//! fn main() { envdb::build::embed().expect("migrations"); }
//! ```

use crate::check::check_as;
use crate::migration_dir::{MigrationDir, ScanError};
use crate::problem::CheckFailed;
use crate::project::{Project, ProjectError};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why the build stops. Its `Debug` is its message, so that `.expect()` in a build script
/// prints something a person can act on.
#[derive(thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("{0}\n  help: fix the files, or run `cargo envdb hash` if an edit is intended")]
    Check(CheckFailed),
    #[error("cannot write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0} is not set: envdb::build runs from a build script")]
    Env(&'static str),
}

impl std::fmt::Debug for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Checks the project's migrations and writes `$OUT_DIR/envdb_migrations.rs` for `envdb::embedded!()`.
pub fn embed() -> Result<(), BuildError> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").ok_or(BuildError::Env("CARGO_MANIFEST_DIR"))?;
    let out = std::env::var_os("OUT_DIR").ok_or(BuildError::Env("OUT_DIR"))?;
    let project = Project::discover(Path::new(&manifest))?;
    if let Some(config) = &project.config_path {
        println!("cargo:rerun-if-changed={}", config.display());
    }
    println!("cargo:rerun-if-changed={}", project.migrations.display());
    let dir = MigrationDir::read(&project.migrations, &project.show(&project.migrations))?;
    for f in &dir.files {
        println!("cargo:rerun-if-changed={}", dir.path.join(&f.file_name).display());
    }
    println!("cargo:rerun-if-changed={}", dir.path.join(crate::sum_file::FILE_NAME).display());
    let report = check_as(&dir, false, project.config.dialect());
    for w in report.warnings() {
        println!("cargo:warning={w}");
    }
    if !report.is_ok() {
        return Err(BuildError::Check(CheckFailed(report)));
    }
    let config = match &project.config_path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| BuildError::Read { path: p.clone(), source })?,
        None => String::new(),
    };
    let digest = crate::digest::of(dir.ups().map(|up| (up.name.version, up.checksum.as_str())));
    let code = format!("({}, {config:?}, {:?}, {digest:?})", generate(&dir), project.root.to_string_lossy());
    let path = Path::new(&out).join("envdb_migrations.rs");
    std::fs::write(&path, code).map_err(|source| BuildError::Write { path, source })
}

/// The generated array. Only called on a directory that passed `check`.
fn generate(dir: &MigrationDir) -> String {
    let mut code = String::from("&[\n");
    for up in dir.ups() {
        let down = dir.down_of(up.name.version).and_then(|d| d.sql.as_deref());
        let sql = up.sql.as_deref().unwrap_or_default();
        let _ = writeln!(
            code,
            "    ({}u64, {:?}, {:?}, {:?}, {:?}),",
            up.name.version, up.file_name, sql, down, up.checksum
        );
    }
    code.push(']');
    code
}
