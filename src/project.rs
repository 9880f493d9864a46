//! Finding the project: the nearest directory upward holding `envdb.toml`, else the cargo
//! workspace root. Found by walking directories, never by running `cargo metadata`, which would
//! cost more than a whole no-op command is allowed to take.

use crate::config::{self, Config, ConfigError};
use std::path::{Component, Path, PathBuf};

/// A host project as envdb sees it.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// `envdb.toml`, when the project has one.
    pub config_path: Option<PathBuf>,
    pub config: Config,
    /// The migrations directory (absolute).
    pub migrations: PathBuf,
    /// The directory the run stands in (physical), which printed paths are relative to.
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "no envdb.toml or Cargo.toml in {} or any parent directory\n  help: run this inside a cargo project, pass --manifest-path, or pass --migrations DIR to work from this directory",
        .0.display()
    )]
    NotFound(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Project {
    /// Discovers the project from `start` (a directory, or a `Cargo.toml` given by `--manifest-path`).
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start = physical(start);
        let start = if start.is_file() { start.parent().unwrap_or(&start).to_owned() } else { start };
        if let Some(root) = start.ancestors().find(|d| d.join(config::FILE_NAME).is_file()) {
            let path = root.join(config::FILE_NAME);
            let config = Config::load(&path)?;
            return Ok(Project::new(root.to_owned(), Some(path), config));
        }
        let root = workspace_root(&start).ok_or_else(|| ProjectError::NotFound(start.clone()))?;
        Ok(Project::new(root, None, Config::default()))
    }

    /// A project rooted at `dir` although it holds neither file: for a run given `--migrations`
    /// where discovery found nothing (a server with only a migrations directory). Defaults apply.
    pub fn at(dir: &Path) -> Project {
        Project::new(dir.to_owned(), None, Config::default())
    }

    fn new(root: PathBuf, config_path: Option<PathBuf>, config: Config) -> Project {
        let root = physical(&root);
        let migrations = root.join(config.migrations.as_deref().unwrap_or(Path::new("migrations")));
        let cwd = std::env::current_dir().ok().map(|d| physical(&d));
        Project { root, config_path, config, migrations, cwd }
    }

    /// The project a host binary was built from: its recorded root (which need not exist on
    /// this machine) and its embedded envdb.toml.
    pub fn embedded(root: PathBuf, config: Config) -> Project {
        Project::new(root, None, config)
    }

    /// Replaces the migrations directory (the `--migrations` option), relative to the current directory.
    pub fn with_migrations(mut self, dir: &Path) -> Project {
        self.migrations = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        self
    }

    /// How a path is shown, so that it can be pasted where the user stands: relative to the
    /// current directory when both are inside the project, else absolute. A file's own name is
    /// kept (a symlinked database is named as configured); its directory is resolved physically.
    pub fn show(&self, path: &Path) -> PathBuf {
        shown(&self.root, self.cwd.as_deref(), path)
    }

    /// The project's name: `name` in envdb.toml, else the root directory's name.
    pub fn name(&self) -> String {
        self.config
            .name
            .clone()
            .unwrap_or_else(|| self.root.file_name().map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned()))
    }
}

/// [`Project::show`] for a project root `root` (resolved physically) and the current directory
/// `cwd` (resolved physically, if known).
pub fn shown(root: &Path, cwd: Option<&Path>, path: &Path) -> PathBuf {
    let path = physical_dir(path);
    let Some(cwd) = cwd.and_then(|c| c.strip_prefix(root).ok()) else { return path };
    let Ok(rel) = path.strip_prefix(root) else { return path };
    let common = cwd.components().zip(rel.components()).take_while(|(a, b)| a == b).count();
    let mut out: PathBuf = cwd.components().skip(common).map(|_| Component::ParentDir).collect();
    out.extend(rel.components().skip(common));
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

/// `path` as the file system resolves it: its longest existing ancestor canonicalized (symlinks
/// and `..` followed), the rest appended with `.` and `..` applied lexically, since what does not
/// exist yet is created exactly so (`create_dir_all`). Absolute when any ancestor exists.
pub fn physical(path: &Path) -> PathBuf {
    let parts: Vec<Component<'_>> = path.components().collect();
    let (mut out, rest) = (1..=parts.len())
        .rev()
        .find_map(|n| {
            let prefix: PathBuf = parts[..n].iter().collect();
            std::fs::canonicalize(prefix).ok().map(|c| (c, &parts[n..]))
        })
        .unwrap_or_else(|| (PathBuf::new(), &parts[..]));
    for part in rest {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

/// `path` with its directory resolved by [`physical`] and its own name kept, so that a file that
/// is a symlink is still named as given.
pub fn physical_dir(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => physical(parent).join(name),
        _ => physical(path),
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
    fn physical_follows_symlinks_and_dotdot_only_where_they_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("l")).unwrap();
        assert_eq!(physical(&root.join("l/..")), root.join("a"));
        assert_eq!(physical(&root.join("l/new/../y")), root.join("a/b/y"));
        assert_eq!(physical(&root.join("nope/./../x")), root.join("x"));
        assert_eq!(physical(Path::new("/nope/../../x")), Path::new("/x"));
        assert_eq!(physical_dir(&root.join("l/file.db")), root.join("a/b/file.db"));
        std::os::unix::fs::symlink(root.join("a/b/real.db"), root.join("a/link.db")).unwrap();
        assert_eq!(physical_dir(&root.join("l/../link.db")), root.join("a/link.db"), "the file keeps its name");
    }

    #[test]
    fn paths_show_relative_to_where_the_run_stands_inside_the_project() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("envdb.toml"), "").unwrap();
        let mut p = Project::discover(tmp.path()).unwrap();
        let root = p.root.clone();
        let file = root.join("migrations/0001_a.sql");
        for (cwd, shown) in [
            (Some(root.clone()), "migrations/0001_a.sql"),
            (Some(root.join("src/bin")), "../../migrations/0001_a.sql"),
            (Some(root.join("migrations")), "0001_a.sql"),
            (Some(root.join("migrations/0001_a.sql")), "."),
            (Some(PathBuf::from("/")), file.to_str().unwrap()),
            (None, file.to_str().unwrap()),
        ] {
            p.cwd = cwd.clone();
            assert_eq!(p.show(&file), Path::new(shown), "from {cwd:?}");
        }
        p.cwd = Some(root.join("src"));
        assert_eq!(p.show(Path::new("/elsewhere/x.db")), Path::new("/elsewhere/x.db"));
        assert_eq!(p.show(&root.join("src/../.envdb/dev/app.db")), Path::new("../.envdb/dev/app.db"));
    }

    #[test]
    fn invalid_config_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("envdb.toml"), "bogus = 1\n").unwrap();
        let e = Project::discover(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("envdb.toml") && e.contains("bogus") && e.contains("line 1"), "{e}");
    }
}
