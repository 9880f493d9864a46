//! Environments: dev, test, prod and any custom name, each with its own data directory and
//! database, chosen the same way by the command line and by the application:
//! `--database PATH` > `--env NAME` > the environment variable (`ENVDB_ENV` by default) >
//! `default_env` (dev).

use crate::config::{Config, EnvConfig};
use crate::project::physical;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The variable naming the environment unless envdb.toml renames it with `env_var`.
pub const DEFAULT_ENV_VAR: &str = "ENVDB_ENV";
/// Set by `cargo envdb test` (and by `testing::fresh` for its own process): protected
/// environments cannot be opened while it is set.
pub const TEST_MARKER: &str = "ENVDB_TEST";

static TEST_PROCESS: AtomicBool = AtomicBool::new(false);

/// Marks this process as a test run: from now on it cannot resolve a protected environment,
/// whatever `ENVDB_ENV` says. `testing::fresh` calls it.
pub fn mark_test_process() {
    TEST_PROCESS.store(true, Ordering::SeqCst);
}

fn is_test_run(var: &dyn Fn(&str) -> Option<String>) -> bool {
    TEST_PROCESS.load(Ordering::SeqCst) || var(TEST_MARKER).is_some_and(|v| !v.is_empty() && v != "0")
}

/// A fully resolved environment definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    pub name: String,
    /// The project's name (recorded in the databases it creates).
    pub project: String,
    pub data_dir: PathBuf,
    pub database: PathBuf,
    pub seed: Option<PathBuf>,
    pub protected: bool,
    pub ephemeral: bool,
    pub backup_keep: Option<u32>,
}

/// How the environment was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChosenBy {
    /// `--database PATH` (the environment's name still comes from the rest of the order).
    DatabaseFlag,
    /// `--env NAME` or `--dev`/`--test`/`--prod`.
    Flag,
    /// The environment variable, by name.
    Variable(String),
    /// `default_env`.
    Default,
    /// Recorded in the database itself (the environment a database belongs to).
    Recorded,
}

impl fmt::Display for ChosenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChosenBy::DatabaseFlag => f.write_str("--database"),
            ChosenBy::Flag => f.write_str("--env flag"),
            ChosenBy::Variable(v) => write!(f, "${v}"),
            ChosenBy::Default => f.write_str("default_env"),
            ChosenBy::Recorded => f.write_str("the database's record"),
        }
    }
}

/// The environment a command or an application works in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub spec: EnvSpec,
    pub chosen_by: ChosenBy,
}

impl Environment {
    /// The application's environment, resolved exactly as the command line resolves it, from the
    /// envdb.toml embedded at build time: `flag` (the application's own `--env`, if it has one) >
    /// the environment variable > `default_env`.
    pub fn resolve(migrations: &crate::Migrations, flag: Option<&str>) -> Result<Environment, ResolveError> {
        let config = Config::parse(migrations.config_text()).map_err(ResolveError::Config)?;
        let root = match migrations.root() {
            "" => std::env::current_dir().unwrap_or_default(),
            root => PathBuf::from(root),
        };
        let project = config
            .name
            .clone()
            .unwrap_or_else(|| root.file_name().map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned()));
        let envs = Environments::load(&config, &root, &project, &Dirs::os())?;
        Ok(envs.resolve(None, flag, &|k| std::env::var(k).ok())?)
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn database(&self) -> &Path {
        &self.spec.database
    }

    pub fn protected(&self) -> bool {
        self.spec.protected
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("unknown environment `{name}` (from {source_of_name}); known: {}", .known.join(", "))]
    Unknown { name: String, source_of_name: String, known: Vec<String> },
    #[error(
        "environment `{env}`: unknown placeholder `{{{placeholder}}}` in data_dir {template:?}; known: {{workspace}}, {{data_dir}}, {{home}}, {{name}}"
    )]
    Placeholder { env: String, placeholder: String, template: String },
    #[error(
        "environment `{env}`: {what} is not available on this machine, so data_dir {template:?} cannot be resolved"
    )]
    NoDir { env: String, what: &'static str, template: String },
    #[error(
        "environments `{a}` and `{b}` both use the database {}{}\n  help: give each its own data_dir or database in envdb.toml: isolation is the point",
        .path.display(), spellings(.a, .a_path, .b, .b_path, .path)
    )]
    Shared { a: String, b: String, path: PathBuf, a_path: PathBuf, b_path: PathBuf },
    #[error(
        "{key} {value:?} must be a plain file name (not empty, no `/`, not `.` or `..`)\n  help: file names in envdb.toml are names, not paths; choose the directory with data_dir"
    )]
    NotAFileName { key: String, value: String },
    #[error(
        "[env.{canonical}] and [env.{alias}] are the same environment (`{alias}` is an alias of `{canonical}`), so one table would silently override the other\n  help: merge them into one [env.{canonical}] table"
    )]
    Alias { canonical: String, alias: String },
    #[error("`{0}` is not a valid environment name: use lowercase letters, digits, `-` and `_`")]
    BadName(String),
    #[error(
        "refusing to open the protected environment `{env}` ({}) from a test run\n  help: tests use the test environment or envdb::testing::fresh; {TEST_MARKER} is set by `cargo envdb test` and the test helper",
        .database.display()
    )]
    TestRun { env: String, database: PathBuf },
    #[error(
        "{} records the protected environment `{env}`; taking it from `{env}` needs that environment's confirmation, which a test run cannot give; nothing was changed\n  help: adopt it outside the test run ({TEST_MARKER} unset), confirming `{env}`",
        .database.display()
    )]
    RecordedTestRun { env: String, database: PathBuf },
}

/// Why the application's environment could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("the envdb.toml embedded at build time is invalid: {0}")]
    Config(String),
    #[error(transparent)]
    Env(#[from] EnvError),
}

/// `development` → `dev`, `production` → `prod`.
pub fn canonical(name: &str) -> &str {
    match name {
        "development" => "dev",
        "production" => "prod",
        other => other,
    }
}

/// The machine directories templates refer to; injectable so tests need no real home.
#[derive(Debug, Clone, Default)]
pub struct Dirs {
    pub data_dir: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Dirs {
    /// The operating system's: `$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application
    /// Support` on macOS, `%APPDATA%` on Windows.
    pub fn os() -> Dirs {
        let base = directories::BaseDirs::new();
        Dirs {
            data_dir: base.as_ref().map(|b| b.data_dir().to_owned()),
            home: base.as_ref().map(|b| b.home_dir().to_owned()),
        }
    }
}

/// Every environment of a project, validated.
#[derive(Debug, Clone)]
pub struct Environments {
    pub specs: BTreeMap<String, EnvSpec>,
    pub env_var: String,
    pub default_env: String,
}

fn defaults(name: &str) -> EnvConfig {
    match name {
        "dev" | "test" => EnvConfig { data_dir: Some(format!("{{workspace}}/.envdb/{name}")), ..EnvConfig::default() },
        "prod" => {
            EnvConfig { data_dir: Some("{data_dir}/{name}".into()), protected: Some(true), ..EnvConfig::default() }
        }
        _ => EnvConfig::default(),
    }
}

fn expand(env: &str, template: &str, root: &Path, project: &str, dirs: &Dirs) -> Result<PathBuf, EnvError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).unwrap_or(rest.len() - 1);
        let key = &rest[open + 1..close];
        let missing = |what| EnvError::NoDir { env: env.to_owned(), what, template: template.to_owned() };
        let value = match key {
            "workspace" => root.to_owned(),
            "data_dir" => dirs.data_dir.clone().ok_or_else(|| missing("the OS data directory"))?,
            "home" => dirs.home.clone().ok_or_else(|| missing("the home directory"))?,
            "name" => PathBuf::from(project),
            other => {
                return Err(EnvError::Placeholder {
                    env: env.to_owned(),
                    placeholder: other.to_owned(),
                    template: template.to_owned(),
                });
            }
        };
        out.push_str(&value.to_string_lossy());
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    let path = PathBuf::from(out);
    Ok(if path.is_relative() { root.join(path) } else { path })
}

/// How two environments reached one database, when their configured paths differ.
fn spellings(a: &str, a_path: &Path, b: &str, b_path: &Path, real: &Path) -> String {
    if a_path == real && b_path == real {
        return String::new();
    }
    format!(" (`{a}` as {}, `{b}` as {})", a_path.display(), b_path.display())
}

/// Refuses a file name that is a path, empty, `.` or `..`: it would leave the data directory.
fn plain_file_name(key: impl FnOnce() -> String, value: &str) -> Result<(), EnvError> {
    let plain = !matches!(value, "" | "." | "..") && !value.chars().any(|c| std::path::is_separator(c) || c == '\0');
    if plain { Ok(()) } else { Err(EnvError::NotAFileName { key: key(), value: value.to_owned() }) }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

impl Environments {
    /// Resolves every environment of `config` for the project at `root`, refusing unknown
    /// placeholders, file names that are paths, an environment written both under its name and
    /// its alias, and two environments that share a database file (compared physically).
    pub fn load(config: &Config, root: &Path, project: &str, dirs: &Dirs) -> Result<Environments, EnvError> {
        plain_file_name(|| "`name` (the project's name, used in file names)".into(), project)?;
        if let Some(file) = &config.database {
            plain_file_name(|| "`database`".into(), file)?;
        }
        let mut tables: BTreeMap<String, EnvConfig> =
            ["dev", "test", "prod"].iter().map(|n| (n.to_string(), defaults(n))).collect();
        let mut spelled: BTreeMap<&str, &str> = BTreeMap::new();
        for (written, table) in &config.env {
            let name = canonical(written);
            if !valid_name(name) {
                return Err(EnvError::BadName(name.to_owned()));
            }
            if let Some(other) = spelled.insert(name, written) {
                let alias = if other == name { written.as_str() } else { other };
                return Err(EnvError::Alias { canonical: name.to_owned(), alias: alias.to_owned() });
            }
            if let Some(file) = &table.database {
                plain_file_name(|| format!("`database` in [env.{written}]"), file)?;
            }
            let base = tables.remove(name).unwrap_or_default();
            let merged = EnvConfig {
                data_dir: table.data_dir.clone().or(base.data_dir),
                database: table.database.clone().or(base.database),
                seed: table.seed.clone().or(base.seed),
                protected: table.protected.or(base.protected),
                ephemeral: table.ephemeral.or(base.ephemeral),
                backup_keep: table.backup_keep.or(base.backup_keep),
            };
            tables.insert(name.to_owned(), merged);
        }
        let default_file = config.database.clone().unwrap_or_else(|| format!("{project}.db"));
        let mut specs = BTreeMap::new();
        // Each database as configured and as the file system resolves it (symlinked directories or
        // files, `..` after a symlink), so that no two environments share one file.
        let mut files: Vec<(String, PathBuf, PathBuf)> = Vec::new();
        for (name, t) in tables {
            let template = t.data_dir.clone().unwrap_or_else(|| format!("{{workspace}}/.envdb/{name}"));
            let written = expand(&name, &template, root, project, dirs)?;
            let file = t.database.as_deref().unwrap_or(&default_file);
            let data_dir = physical(&written);
            let database = data_dir.join(file);
            files.push((name.clone(), written.join(file), physical(&database)));
            specs.insert(
                name.clone(),
                EnvSpec {
                    name,
                    project: project.to_owned(),
                    data_dir,
                    database,
                    seed: t.seed.map(|s| root.join(s)),
                    protected: t.protected.unwrap_or(false),
                    ephemeral: t.ephemeral.unwrap_or(false),
                    backup_keep: t.backup_keep,
                },
            );
        }
        for (i, (a, a_path, real)) in files.iter().enumerate() {
            if let Some((b, b_path, _)) = files[i + 1..].iter().find(|(_, _, other)| other == real) {
                return Err(EnvError::Shared {
                    a: a.clone(),
                    b: b.clone(),
                    path: real.clone(),
                    a_path: a_path.clone(),
                    b_path: b_path.clone(),
                });
            }
        }
        let env_var = config.env_var.clone().unwrap_or_else(|| DEFAULT_ENV_VAR.to_owned());
        let default_env = canonical(config.default_env.as_deref().unwrap_or("dev")).to_owned();
        let envs = Environments { specs, env_var, default_env };
        envs.get(&envs.default_env, "default_env in envdb.toml")?;
        Ok(envs)
    }

    fn get(&self, name: &str, source_of_name: &str) -> Result<&EnvSpec, EnvError> {
        self.specs.get(canonical(name)).ok_or_else(|| EnvError::Unknown {
            name: name.to_owned(),
            source_of_name: source_of_name.to_owned(),
            known: self.specs.keys().cloned().collect(),
        })
    }

    /// The environment that `database` records it belongs to, as the owner of that file (its
    /// spec with `database` as its database): what `env --adopt` takes the file from. A name this
    /// configuration does not define is treated as protected, its data directory the database's.
    /// A protected owner is refused in a test run.
    pub fn owner_of(
        &self,
        recorded: &str,
        database: &Path,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Environment, EnvError> {
        let mut spec = match self.specs.get(canonical(recorded)) {
            Some(spec) => spec.clone(),
            None => EnvSpec {
                name: recorded.to_owned(),
                project: self.specs.values().next().map(|s| s.project.clone()).unwrap_or_default(),
                data_dir: database.parent().map(Path::to_owned).unwrap_or_default(),
                database: PathBuf::new(),
                seed: None,
                protected: true,
                ephemeral: false,
                backup_keep: None,
            },
        };
        spec.database = database.to_owned();
        if spec.protected && is_test_run(var) {
            return Err(EnvError::RecordedTestRun { env: spec.name, database: spec.database });
        }
        Ok(Environment { spec, chosen_by: ChosenBy::Recorded })
    }

    /// Chooses the environment: `database` (a path) > `flag` > the variable > `default_env`.
    /// `var` reads the process environment (injected for tests).
    pub fn resolve(
        &self,
        database: Option<&Path>,
        flag: Option<&str>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Environment, EnvError> {
        let from_var = var(&self.env_var).filter(|v| !v.is_empty());
        let (name, chosen_by, source) = match (flag, &from_var) {
            (Some(f), _) => (f.to_owned(), ChosenBy::Flag, "--env".to_owned()),
            (None, Some(v)) => (v.clone(), ChosenBy::Variable(self.env_var.clone()), format!("${}", self.env_var)),
            (None, None) => (self.default_env.clone(), ChosenBy::Default, "default_env".to_owned()),
        };
        let mut spec = self.get(&name, &source)?.clone();
        let chosen_by = match database {
            Some(path) => {
                spec.database = path.to_owned();
                spec.data_dir = path.parent().map(Path::to_owned).unwrap_or_default();
                ChosenBy::DatabaseFlag
            }
            None => chosen_by,
        };
        if spec.protected && is_test_run(var) {
            return Err(EnvError::TestRun { env: spec.name, database: spec.database });
        }
        Ok(Environment { spec, chosen_by })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> Dirs {
        Dirs { data_dir: Some("/home/u/.local/share".into()), home: Some("/home/u".into()) }
    }

    fn envs(toml: &str) -> Result<Environments, EnvError> {
        Environments::load(&Config::parse(toml).unwrap(), Path::new("/work/app"), "app", &dirs())
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_without_a_file() {
        let e = envs("").unwrap();
        assert_eq!(e.specs["dev"].database, Path::new("/work/app/.envdb/dev/app.db"));
        assert_eq!(e.specs["test"].database, Path::new("/work/app/.envdb/test/app.db"));
        assert_eq!(e.specs["prod"].database, Path::new("/home/u/.local/share/app/app.db"));
        assert!(e.specs["prod"].protected && !e.specs["dev"].protected);
    }

    #[test]
    fn resolution_order() {
        let e = envs("").unwrap();
        // (database flag, env flag, variables) → (environment, chosen by)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            &'static [(&'static str, &'static str)],
            &'static str,
            ChosenBy,
        );
        let cases: &[Case] = &[
            (None, None, &[], "dev", ChosenBy::Default),
            (None, None, &[("ENVDB_ENV", "test")], "test", ChosenBy::Variable("ENVDB_ENV".into())),
            (None, Some("prod"), &[("ENVDB_ENV", "test")], "prod", ChosenBy::Flag),
            (None, Some("production"), &[], "prod", ChosenBy::Flag),
            (None, None, &[("ENVDB_ENV", "development")], "dev", ChosenBy::Variable("ENVDB_ENV".into())),
            (Some("/tmp/x.db"), Some("test"), &[("ENVDB_ENV", "prod")], "test", ChosenBy::DatabaseFlag),
            (Some("/tmp/x.db"), None, &[], "dev", ChosenBy::DatabaseFlag),
            (None, None, &[("ENVDB_ENV", "")], "dev", ChosenBy::Default),
        ];
        for (db, flag, vs, name, by) in cases {
            let r = e.resolve(db.map(Path::new), *flag, &vars(vs)).unwrap();
            assert_eq!((r.name(), &r.chosen_by), (*name, by), "{db:?} {flag:?} {vs:?}");
            if let Some(db) = db {
                assert_eq!(r.database(), Path::new(db));
            }
        }
    }

    #[test]
    fn renamed_variable_and_default() {
        let e = envs("env_var = \"VIGIL_ENV\"\ndefault_env = \"test\"\n").unwrap();
        assert_eq!(e.resolve(None, None, &vars(&[("ENVDB_ENV", "prod")])).unwrap().name(), "test");
        assert_eq!(e.resolve(None, None, &vars(&[("VIGIL_ENV", "prod")])).unwrap().name(), "prod");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = envs("[env.staging]\nprotected = true\n").unwrap();
        let err = e.resolve(None, Some("qa"), &vars(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown environment `qa` (from --env); known: dev, prod, staging, test"), "{err}");
        let err = e.resolve(None, None, &vars(&[("ENVDB_ENV", "stagin")])).unwrap_err().to_string();
        assert!(err.contains("(from $ENVDB_ENV)"), "{err}");
        assert!(envs("default_env = \"nope\"\n").is_err());
    }

    #[test]
    fn custom_environments_and_templates() {
        let e = envs("database = \"main.db\"\n[env.staging]\ndata_dir = \"{home}/staging\"\nprotected = true\nbackup_keep = 3\n[env.dev]\ndata_dir = \"var/{name}-dev\"\nseed = \"seeds/dev.sql\"\n").unwrap();
        assert_eq!(e.specs["staging"].database, Path::new("/home/u/staging/main.db"));
        assert_eq!(e.specs["staging"].backup_keep, Some(3));
        assert_eq!(e.specs["dev"].database, Path::new("/work/app/var/app-dev/main.db"));
        assert_eq!(e.specs["dev"].seed.as_deref(), Some(Path::new("/work/app/seeds/dev.sql")));
    }

    #[test]
    fn bad_configurations() {
        let err = envs("[env.dev]\ndata_dir = \"{workspace}/{tmp}\"\n").unwrap_err().to_string();
        assert!(err.contains("unknown placeholder `{tmp}`") && err.contains("`dev`"), "{err}");
        let err = envs("[env.staging]\ndata_dir = \"{workspace}/.envdb/dev\"\n").unwrap_err().to_string();
        assert!(err.contains("`dev` and `staging` both use the database"), "{err}");
        let err = envs("[env.staging]\ndata_dir = \".envdb/./x/../dev\"\n").unwrap_err().to_string();
        assert!(err.contains("both use"), "{err}");
        assert!(matches!(envs("[env.Prod]\n"), Err(EnvError::BadName(_))));
        let no_dirs = Environments::load(&Config::default(), Path::new("/w"), "app", &Dirs::default()).unwrap_err();
        assert!(no_dirs.to_string().contains("OS data directory"));
    }

    #[test]
    fn file_names_are_plain_and_aliases_are_one_table() {
        for toml in [
            "database = \"a/b.db\"\n",
            "[env.dev]\ndatabase = \"../x.db\"\n",
            "[env.dev]\ndatabase = \"\"\n",
            "[env.dev]\ndatabase = \"..\"\n",
        ] {
            assert!(matches!(envs(toml), Err(EnvError::NotAFileName { .. })), "{toml}");
        }
        let bad_name = Environments::load(&Config::default(), Path::new("/w"), "../x", &dirs()).unwrap_err();
        assert!(bad_name.to_string().contains("`name`"), "{bad_name}");
        let err = envs("[env.prod]\nprotected = true\n[env.production]\nprotected = false\n").unwrap_err();
        assert_eq!(err, EnvError::Alias { canonical: "prod".into(), alias: "production".into() });
        assert!(envs("[env.production]\nprotected = false\n").is_ok());
    }

    #[test]
    fn the_owner_of_a_database() {
        let e = envs("").unwrap();
        let db = Path::new("/work/app/.envdb/dev/app.db");
        let owner = e.owner_of("production", db, &vars(&[])).unwrap();
        assert_eq!((owner.name(), owner.database(), owner.protected()), ("prod", db, true));
        assert_eq!(owner.spec.data_dir, Path::new("/home/u/.local/share/app"), "its audit log stays its own");
        let unknown = e.owner_of("staging", db, &vars(&[])).unwrap();
        assert!(unknown.protected() && unknown.spec.data_dir == Path::new("/work/app/.envdb/dev"));
        let err = e.owner_of("prod", db, &vars(&[("ENVDB_TEST", "1")])).unwrap_err();
        assert!(matches!(err, EnvError::RecordedTestRun { .. }));
        assert!(e.owner_of("test", db, &vars(&[("ENVDB_TEST", "1")])).is_ok());
    }

    #[test]
    fn tests_cannot_reach_protected_environments() {
        let e = envs("").unwrap();
        let err = e.resolve(None, None, &vars(&[("ENVDB_ENV", "prod"), ("ENVDB_TEST", "1")])).unwrap_err();
        assert!(matches!(err, EnvError::TestRun { .. }));
        assert!(e.resolve(None, None, &vars(&[("ENVDB_ENV", "test"), ("ENVDB_TEST", "1")])).is_ok());
    }
}
