//! Finding the project: the nearest directory upward holding `envdb.toml`, else the cargo
//! workspace root. Found by walking directories, never by running `cargo metadata`, which would
//! cost more than a whole no-op command is allowed to take.

use crate::config::{self, Config, ConfigError};
use std::path::{Path, PathBuf};

/// A host project as envdb sees it.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// `envdb.toml`, when the project has one.
    pub config_path: Option<PathBuf>,
    pub config: Config,
    /// The migrations directory (absolute).
    pub migrations: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "no envdb.toml or Cargo.toml in {} or any parent directory\n  help: run this inside a cargo project, or pass --manifest-path",
        .0.display()
    )]
    NotFound(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Project {
    /// Discovers the project from `start` (a directory, or a `Cargo.toml` given by `--manifest-path`).
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start = if start.is_file() { start.parent().unwrap_or(start) } else { start };
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_owned());
        if let Some(root) = start.ancestors().find(|d| d.join(config::FILE_NAME).is_file()) {
            let path = root.join(config::FILE_NAME);
            let config = Config::load(&path)?;
            return Ok(Project::new(root.to_owned(), Some(path), config));
        }
        let root = workspace_root(&start).ok_or_else(|| ProjectError::NotFound(start.clone()))?;
        Ok(Project::new(root, None, Config::default()))
    }

    fn new(root: PathBuf, config_path: Option<PathBuf>, config: Config) -> Project {
        let migrations = root.join(config.migrations.as_deref().unwrap_or(Path::new("migrations")));
        Project { root, config_path, config, migrations }
    }

    /// Replaces the migrations directory (the `--migrations` option), relative to the current directory.
    pub fn with_migrations(mut self, dir: &Path) -> Project {
        self.migrations = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        self
    }

    /// How a path inside the project is shown: relative to the root when it is inside it.
    pub fn show(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).map(Path::to_owned).unwrap_or_else(|_| path.to_owned())
    }

    /// The project's name: `name` in envdb.toml, else the root directory's name.
    pub fn name(&self) -> String {
        self.config
            .name
            .clone()
            .unwrap_or_else(|| self.root.file_name().map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned()))
    }
}

/// The workspace root above `start`: the highest `Cargo.toml` with a `[workspace]` table between
/// the nearest package and the filesystem root, else the nearest `Cargo.toml`.
fn workspace_root(start: &Path) -> Option<PathBuf> {
    let nearest = start.ancestors().find(|d| d.join("Cargo.toml").is_file())?;
    let workspace = nearest.ancestors().find(|d| {
        std::fs::read_to_string(d.join("Cargo.toml"))
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|t| t.contains_key("workspace"))
    });
    Some(workspace.unwrap_or(nearest).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_envdb_toml_wins_then_workspace_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = [\"app\"]\n").unwrap();
        std::fs::create_dir_all(root.join("app/src")).unwrap();
        std::fs::write(root.join("app/Cargo.toml"), "[package]\nname = \"app\"\n").unwrap();
        let p = Project::discover(&root.join("app/src")).unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.migrations, root.join("migrations"));

        std::fs::write(root.join("app/envdb.toml"), "migrations = \"db\"\n").unwrap();
        let p = Project::discover(&root.join("app/src")).unwrap();
        assert_eq!(p.root, root.join("app"));
        assert_eq!(p.migrations, root.join("app/db"));
        assert_eq!(p.name(), "app");

        let p = Project::discover(&root.join("app/Cargo.toml")).unwrap();
        assert_eq!(p.root, root.join("app"));
    }

    #[test]
    fn invalid_config_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("envdb.toml"), "bogus = 1\n").unwrap();
        let e = Project::discover(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("envdb.toml") && e.contains("bogus") && e.contains("line 1"), "{e}");
    }
}
