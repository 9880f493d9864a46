//! Environments: dev, test, prod and any custom name, each with its own data directory and
//! database, chosen the same way by the command line and by the application:
//! `--database PATH` > `--env NAME` > the environment variable (`ENVDB_ENV` by default) >
//! `default_env` (dev). An environment is on PostgreSQL when it has a `url` (or `--database-url`
//! gives one), else on a SQLite file.

use crate::config::{Config, EnvConfig};
use crate::db_url::{DbUrl, UrlError};
use crate::local_server::LocalSpec;
use crate::project::physical;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Whether this process is a test run: marked ([`mark_test_process`]), `ENVDB_TEST` set, or a
/// test harness that cargo built ([`is_cargo_harness`]), whether or not a test helper ran in it.
pub fn is_test_process() -> bool {
    is_test_run(&|k| std::env::var(k).ok()) || is_cargo_harness()
}

/// Whether this executable is a test harness built by cargo: every `cargo test` / `cargo bench`
/// target (unit tests of a library or a binary, integration tests, benches; cargo-nextest runs
/// the same files) is linked as `target/<profile>/deps/<crate>-<16 hex digits>` and run from
/// there, while a binary target is also copied to `target/<profile>/<name>`, which is what
/// `cargo run`, `CARGO_BIN_EXE_<name>` and a deployment use. Read once per process.
pub fn is_cargo_harness() -> bool {
    static HARNESS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HARNESS.get_or_init(|| std::env::current_exe().is_ok_and(|exe| is_harness_path(&exe)))
}

fn is_harness_path(exe: &Path) -> bool {
    let in_deps = exe.parent().and_then(Path::file_name).is_some_and(|d| d == "deps");
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let hashed = stem.rsplit_once('-').is_some_and(|(name, hash)| {
        !name.is_empty() && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
    });
    in_deps && hashed
}

fn is_test_run(var: &dyn Fn(&str) -> Option<String>) -> bool {
    TEST_PROCESS.load(Ordering::SeqCst) || var(TEST_MARKER).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Refuses, in a binary whose build root does not exist here (a server), an environment whose
/// SQLite database lies under that root (dev and test by default), rather than create the build
/// path on this machine.
pub fn check_build_root(env: &Environment, migrations: &crate::Migrations) -> Result<(), EnvError> {
    let root = Path::new(migrations.root());
    if migrations.root().is_empty() || env.spec.url.is_some() || root.exists() || !env.spec.database.starts_with(root) {
        return Ok(());
    }
    Err(EnvError::BuildRootGone {
        env: env.name().to_owned(),
        chosen_by: env.chosen_by.clone(),
        root: root.to_owned(),
        database: env.spec.database.clone(),
    })
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
    /// The PostgreSQL server, when the environment has a `url`: `Err` when it names a variable
    /// this process does not have (or its value is not a URL), raised only when the environment
    /// is resolved, so that prod's unset variable does not stop a dev command. `database` is
    /// then only the SQLite default path of `data_dir`.
    pub url: Option<Result<DbUrl, EnvError>>,
    /// PostgreSQL's settings (used when the environment is on PostgreSQL, ignored on SQLite).
    pub postgres: PgSettings,
    /// The cluster envdb runs itself (`server = "local"`); `url` is then where it listens now
    /// (or last listened), which the command line refreshes after starting it.
    pub local: Option<LocalSpec>,
}

/// Per-environment PostgreSQL settings from envdb.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// The schema of `envdb_migrations` and `envdb_meta`: a plain lowercase identifier, so it
    /// means the same quoted or not.
    pub history_schema: String,
    /// `lock_timeout` for migrations (zero: wait forever, PostgreSQL's meaning).
    pub lock_timeout: Duration,
    /// `statement_timeout` for migrations, if any.
    pub statement_timeout: Option<Duration>,
    /// Retries of a migration that hit the lock timeout (SQLSTATE 55P03).
    pub lock_retries: u32,
}

impl Default for PgSettings {
    fn default() -> PgSettings {
        PgSettings {
            history_schema: "public".into(),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_retries: 3,
        }
    }
}

impl EnvSpec {
    /// Where the database is, as printed: the redacted URL of a PostgreSQL environment (or why
    /// it has none on this machine), else the file path.
    pub fn location(&self, show: &dyn Fn(&Path) -> String) -> String {
        match &self.url {
            Some(Ok(url)) => url.redacted(),
            Some(Err(_)) => "(its url cannot be resolved here)".into(),
            None => show(&self.database),
        }
    }
}

/// What replaces the environment's database on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseOverride {
    /// `--database PATH`: a SQLite file.
    Path(PathBuf),
    /// `--database-url URL`: a PostgreSQL database.
    Url(DbUrl),
}

/// How the environment was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChosenBy {
    /// `--database PATH` (the environment's name still comes from the rest of the order).
    DatabaseFlag,
    /// `--database-url URL` (likewise).
    DatabaseUrlFlag,
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
            ChosenBy::DatabaseUrlFlag => f.write_str("--database-url"),
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
        // A unit-test build of the crate holding the migrations, or any cargo test harness, is a
        // test run, as if `ENVDB_TEST` were set.
        let test_run = migrations.test_build() || is_test_process();
        let var = |k: &str| match k {
            TEST_MARKER if test_run => Some("1".to_owned()),
            _ => std::env::var(k).ok(),
        };
        let env = envs.resolve(None, flag, &var)?;
        check_build_root(&env, migrations)?;
        Ok(env)
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The SQLite file (for a PostgreSQL environment, only the default path in its data_dir).
    pub fn database(&self) -> &Path {
        &self.spec.database
    }

    /// The PostgreSQL database, when the environment is on PostgreSQL.
    pub fn url(&self) -> Option<&DbUrl> {
        self.spec.url.as_ref()?.as_ref().ok()
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
        "environment `{env}`: unknown placeholder `{{{placeholder}}}` in {key} {template}; known: {{workspace}}, {{data_dir}}, {{home}}, {{name}}"
    )]
    Placeholder { env: String, key: &'static str, placeholder: String, template: String },
    #[error("environment `{env}`: {what} is not available on this machine, so {key} {template} cannot be resolved")]
    NoDir { env: String, key: &'static str, what: &'static str, template: String },
    #[error(
        "environment `{env}`: `${{{var}` in url {template} is not a variable name (letters, digits and `_`, closed by `}}`)"
    )]
    BadVariable { env: String, var: String, template: String },
    #[error(
        "environment `{env}`: its url needs ${var}, which is not set (or is empty) in this process's environment\n  help: set {var}, or give the database with --database-url URL (envdb reads only the variables a url names)"
    )]
    UnsetVar { env: String, var: String },
    #[error("environment `{env}`: url{}: {error}", from_vars(.vars))]
    Url { env: String, vars: Vec<String>, error: UrlError },
    #[error(
        "[env.{env}] has both `url` and `database`: a PostgreSQL environment has a url, a SQLite one a database file\n  help: remove one of them"
    )]
    UrlAndDatabase { env: String },
    #[error(
        "[env.{env}] has both `url` and `server = \"local\"`: an environment is either on a server at its url or on the local server envdb runs\n  help: remove one of them"
    )]
    UrlAndServer { env: String },
    #[error(
        "[env.{env}] has both `server = \"local\"` and `database`: `database` names a SQLite file\n  help: remove `database` (the local server's database is named after the project)"
    )]
    ServerAndDatabase { env: String },
    #[error(
        "[env.{env}]: server = {value:?} is not known\n  help: the only server envdb runs itself is `server = \"local\"`; a server of your own is given with `url`"
    )]
    BadServer { env: String, value: String },
    #[error(
        "[env.{env}]: `pgbouncer = true` needs `server = \"local\"`\n  help: a PgBouncer of your own is given with `url` (its host and port)"
    )]
    BouncerWithoutLocal { env: String },
    #[error(
        "environment `{env}`: history_schema {value:?} {reason}\n  help: use a plain lowercase identifier such as `public` or `envdb`"
    )]
    HistorySchema { env: String, value: String, reason: &'static str },
    #[error(
        "environments `{a}` and `{b}` both use the PostgreSQL database {url}\n  help: give each its own database in envdb.toml: isolation is the point"
    )]
    SharedUrl { a: String, b: String, url: String },
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
        "refusing to open the protected environment `{env}` ({database}) from a test run\n  help: tests use the test environment or envdb::testing::fresh; a test run is a test harness cargo built, a process where the test helper ran, or {TEST_MARKER} set (by `cargo envdb test`)"
    )]
    TestRun { env: String, database: String },
    /// A deployed binary asked for an environment kept in the source tree it was built in.
    #[error(
        "the environment `{env}` (chosen by {chosen_by}) keeps its database in the project directory this binary was built in, {}, which does not exist on this machine; nothing was opened or created\n  help: choose the environment this machine runs (for example ENVDB_ENV=prod), or give [env.{env}] a data_dir outside {{workspace}} in envdb.toml (the database would have been {})",
        .root.display(), .database.display()
    )]
    BuildRootGone { env: String, chosen_by: ChosenBy, root: PathBuf, database: PathBuf },
    #[error(
        "{} records the protected environment `{env}`; taking it from `{env}` needs that environment's confirmation, which a test run cannot give; nothing was changed\n  help: adopt it outside the test run ({TEST_MARKER} unset), confirming `{env}`",
        .database.display()
    )]
    RecordedTestRun { env: String, database: PathBuf },
}

fn from_vars(vars: &[String]) -> String {
    match vars {
        [] => String::new(),
        vars => format!(" (from {})", vars.iter().map(|v| format!("${v}")).collect::<Vec<_>>().join(", ")),
    }
}

/// Why the application's environment could not be resolved. `Debug` prints the message, as
/// `Display` does (a host's `main() -> Result<(), Box<dyn Error>>` prints it with `Debug`).
#[derive(thiserror::Error)]
pub enum ResolveError {
    #[error("the envdb.toml embedded at build time is invalid: {0}")]
    Config(String),
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl fmt::Debug for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
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

/// A template's pieces: text, `{placeholder}` and, where variables are allowed, `${VAR}` (an
/// unclosed one runs to the end, and is then refused as a name).
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
    /// A variable's name, and whether its `}` closes it.
    Var(&'a str, bool),
}

fn pieces(template: &str, vars: bool) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    loop {
        let var_at = if vars { rest.find("${") } else { None };
        let brace_at = rest.find('{');
        let (at, open_len) = match (var_at, brace_at) {
            (Some(v), Some(b)) if v < b => (v, 2),
            (_, Some(b)) => (b, 1),
            (_, None) => break,
        };
        out.push(Piece::Text(&rest[..at]));
        let inner = &rest[at + open_len..];
        let closed = inner.find('}');
        let close = closed.unwrap_or(inner.len());
        let key = &inner[..close];
        out.push(if open_len == 2 { Piece::Var(key, closed.is_some()) } else { Piece::Placeholder(key) });
        rest = &inner[(close + 1).min(inner.len())..];
    }
    out.push(Piece::Text(rest));
    out
}

/// Reads one variable of the process environment (injected for tests).
type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a template may refer to besides the process environment.
struct Context<'a> {
    root: &'a Path,
    project: &'a str,
    dirs: &'a Dirs,
}

/// Expands a template: `{workspace}`, `{data_dir}`, `{home}`, `{name}`, and with `var` given
/// `${VAR}` from the process environment. `key` names the setting in errors, where `shown` is the
/// template as it may be printed.
fn expand(
    env: &str,
    key: &'static str,
    template: &str,
    shown: &str,
    cx: &Context<'_>,
    var: Option<Vars<'_>>,
) -> Result<String, EnvError> {
    let mut out = String::new();
    for piece in pieces(template, var.is_some()) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var(name, closed) => {
                let valid = closed
                    && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(EnvError::BadVariable {
                        env: env.to_owned(),
                        var: name.to_owned(),
                        template: shown.to_owned(),
                    });
                }
                match var.and_then(|v| v(name)).filter(|v| !v.is_empty()) {
                    Some(value) => out.push_str(&value),
                    None => return Err(EnvError::UnsetVar { env: env.to_owned(), var: name.to_owned() }),
                }
            }
            Piece::Placeholder(placeholder) => {
                let missing = |what| EnvError::NoDir { env: env.to_owned(), key, what, template: shown.to_owned() };
                let value = match placeholder {
                    "workspace" => cx.root.to_owned(),
                    "data_dir" => cx.dirs.data_dir.clone().ok_or_else(|| missing("the OS data directory"))?,
                    "home" => cx.dirs.home.clone().ok_or_else(|| missing("the home directory"))?,
                    "name" => PathBuf::from(cx.project),
                    other => {
                        return Err(EnvError::Placeholder {
                            env: env.to_owned(),
                            key,
                            placeholder: other.to_owned(),
                            template: shown.to_owned(),
                        });
                    }
                };
                out.push_str(&value.to_string_lossy());
            }
        }
    }
    Ok(out)
}

/// An environment's data directory.
fn expand_dir(env: &str, template: &str, cx: &Context<'_>) -> Result<PathBuf, EnvError> {
    let path = PathBuf::from(expand(env, "data_dir", template, &format!("{template:?}"), cx, None)?);
    Ok(if path.is_relative() { cx.root.join(path) } else { path })
}

/// An environment's `url`: a template error is the configuration's (`Err`); an unset variable,
/// or a variable whose value does not make a URL, is this machine's (`Ok(Err)`, raised only if
/// the environment is used); a literal URL that does not parse is the configuration's.
fn expand_url(
    env: &str,
    template: &str,
    cx: &Context<'_>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Result<DbUrl, EnvError>, EnvError> {
    let shown = crate::db_url::redact_or_hide(template);
    let vars: Vec<String> = pieces(template, true)
        .into_iter()
        .filter_map(|p| if let Piece::Var(v, _) = p { Some(v.to_owned()) } else { None })
        .collect();
    let text = match expand(env, "url", template, &shown, cx, Some(var)) {
        Err(e @ EnvError::UnsetVar { .. }) => return Ok(Err(e)),
        other => other?,
    };
    match DbUrl::parse(&text) {
        Ok(url) => Ok(Ok(url)),
        Err(error) if vars.is_empty() => Err(EnvError::Url { env: env.to_owned(), vars, error }),
        Err(error) => Ok(Err(EnvError::Url { env: env.to_owned(), vars, error })),
    }
}

/// Refuses a history schema that is not a plain identifier PostgreSQL would let a user create.
fn history_schema(env: &str, value: &str) -> Result<(), EnvError> {
    let reason = if value.is_empty() {
        Some("is empty")
    } else if value.len() > 63 {
        Some("is longer than 63 bytes (PostgreSQL would truncate it)")
    } else if !value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        || !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Some("is not a plain identifier (lowercase letters, digits and `_`, not starting with a digit)")
    } else if value.starts_with("pg_") || value == "information_schema" {
        Some("is a system schema name")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(EnvError::HistorySchema { env: env.to_owned(), value: value.to_owned(), reason }),
        None => Ok(()),
    }
}

/// Refuses `server` with `url` or `database`, a server other than `"local"`, and `pgbouncer`
/// without the local server.
fn local_server_keys(env: &str, table: &EnvConfig) -> Result<(), EnvError> {
    let env = env.to_owned();
    match &table.server {
        Some(value) if value != "local" => Err(EnvError::BadServer { env, value: value.clone() }),
        Some(_) if table.url.is_some() => Err(EnvError::UrlAndServer { env }),
        Some(_) if table.database.is_some() => Err(EnvError::ServerAndDatabase { env }),
        None if table.pgbouncer == Some(true) => Err(EnvError::BouncerWithoutLocal { env }),
        _ => Ok(()),
    }
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
        Environments::load_with(config, root, project, dirs, &|k| std::env::var(k).ok())
    }

    /// [`Environments::load`] with the process environment injected (`${VAR}` in a `url`): a
    /// variable is read only by the url that names it.
    pub fn load_with(
        config: &Config,
        root: &Path,
        project: &str,
        dirs: &Dirs,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Environments, EnvError> {
        let cx = Context { root, project, dirs };
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
            if table.url.is_some() && table.database.is_some() {
                return Err(EnvError::UrlAndDatabase { env: written.clone() });
            }
            if let Some(schema) = &table.history_schema {
                history_schema(name, schema)?;
            }
            local_server_keys(written, table)?;
            let base = tables.remove(name).unwrap_or_default();
            let merged = EnvConfig {
                data_dir: table.data_dir.clone().or(base.data_dir),
                database: table.database.clone().or(base.database),
                seed: table.seed.clone().or(base.seed),
                protected: table.protected.or(base.protected),
                ephemeral: table.ephemeral.or(base.ephemeral),
                backup_keep: table.backup_keep.or(base.backup_keep),
                url: table.url.clone().or(base.url),
                server: table.server.clone().or(base.server),
                pgbouncer: table.pgbouncer.or(base.pgbouncer),
                history_schema: table.history_schema.clone().or(base.history_schema),
                lock_timeout: table.lock_timeout.or(base.lock_timeout),
                statement_timeout: table.statement_timeout.or(base.statement_timeout),
                lock_retries: table.lock_retries.or(base.lock_retries),
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
            let written = expand_dir(&name, &template, &cx)?;
            let file = t.database.as_deref().unwrap_or(&default_file);
            let data_dir = physical(&written);
            let database = data_dir.join(file);
            files.push((name.clone(), written.join(file), physical(&database)));
            let local = t.server.is_some().then(|| LocalSpec {
                ephemeral: t.ephemeral == Some(true),
                ..LocalSpec::new(&name, &data_dir, project, t.pgbouncer == Some(true))
            });
            let url = match &local {
                Some(local) => Some(Ok(local.url())),
                None => t.url.as_deref().map(|u| expand_url(&name, u, &cx, var)).transpose()?,
            };
            let pg = PgSettings::default();
            let postgres = PgSettings {
                history_schema: t.history_schema.unwrap_or(pg.history_schema),
                lock_timeout: t.lock_timeout.map_or(pg.lock_timeout, |s| s.0),
                statement_timeout: t.statement_timeout.map(|s| s.0),
                lock_retries: t.lock_retries.unwrap_or(pg.lock_retries),
            };
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
                    url,
                    postgres,
                    local,
                },
            );
        }
        let urls: Vec<(&String, &DbUrl)> =
            specs.iter().filter_map(|(n, s): (&String, &EnvSpec)| Some((n, s.url.as_ref()?.as_ref().ok()?))).collect();
        for (i, (a, url)) in urls.iter().enumerate() {
            if let Some((b, _)) = urls[i + 1..].iter().find(|(_, other)| other.same_database(url)) {
                return Err(EnvError::SharedUrl { a: a.to_string(), b: b.to_string(), url: url.redacted() });
            }
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
                url: None,
                postgres: PgSettings::default(),
                local: None,
            },
        };
        spec.database = database.to_owned();
        spec.url = None;
        if spec.protected && is_test_run(var) {
            return Err(EnvError::RecordedTestRun { env: spec.name, database: spec.database });
        }
        Ok(Environment { spec, chosen_by: ChosenBy::Recorded })
    }

    /// Chooses the environment: `database` (`--database PATH` or `--database-url URL`, which
    /// replace the database but not the name) > `flag` > the variable > `default_env`. `var`
    /// reads the process environment (injected for tests). A protected environment is refused
    /// in a test run, whether on a file or a server; then an environment whose url cannot be
    /// resolved here is refused.
    pub fn resolve(
        &self,
        database: Option<DatabaseOverride>,
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
            Some(DatabaseOverride::Path(path)) => {
                spec.data_dir = path.parent().map(Path::to_owned).unwrap_or_default();
                spec.database = path;
                spec.url = None;
                ChosenBy::DatabaseFlag
            }
            Some(DatabaseOverride::Url(url)) => {
                spec.url = Some(Ok(url));
                ChosenBy::DatabaseUrlFlag
            }
            None => chosen_by,
        };
        if spec.protected && is_test_run(var) {
            let database = spec.location(&|p| p.display().to_string());
            return Err(EnvError::TestRun { env: spec.name, database });
        }
        if let Some(Err(e)) = spec.url {
            return Err(e);
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
    fn cargo_test_harnesses_are_recognised_by_their_path() {
        assert!(is_cargo_harness(), "this very unit-test binary is one");
        for (path, harness) in [
            ("/w/target/debug/deps/app-0123456789abcdef", true),
            ("/w/target/release/deps/my_app-0123456789ABCDEF.exe", true),
            ("/w/target/debug/app", false),
            ("/usr/local/bin/app", false),
            ("/w/target/debug/deps/app", false),
            ("/w/target/debug/deps/app-0123", false),
            ("/w/target/debug/deps/-0123456789abcdef", false),
            ("/w/target/debug/bin/app-0123456789abcdef", false),
        ] {
            assert_eq!(is_harness_path(Path::new(path)), harness, "{path}");
        }
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
            let r = e.resolve(db.map(|d| DatabaseOverride::Path(d.into())), *flag, &vars(vs)).unwrap();
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

    fn pg_envs(toml: &str, vs: &'static [(&'static str, &'static str)]) -> Result<Environments, EnvError> {
        let config = Config::parse(toml).unwrap();
        Environments::load_with(&config, Path::new("/work/app"), "app", &dirs(), &vars(vs))
    }

    #[test]
    fn url_environments_and_their_settings() {
        let toml = "[env.staging]\nurl = \"postgres://app:${PW}@db:6432/{name}_staging\"\nlock_timeout = 2\nlock_retries = 0\n[env.prod]\nurl = \"${PROD_URL}\"\nhistory_schema = \"envdb\"\nstatement_timeout = 30\n";
        let e = pg_envs(toml, &[("PW", "s3cret"), ("PROD_URL", "postgresql://h/app")]).unwrap();
        let staging = e.resolve(None, Some("staging"), &vars(&[])).unwrap();
        let url = staging.url().unwrap();
        assert_eq!((url.password(), url.dbname(), url.port()), (Some("s3cret"), "app_staging", 6432));
        assert_eq!(staging.spec.postgres.lock_timeout, Duration::from_secs(2));
        assert_eq!((staging.spec.postgres.lock_retries, staging.spec.postgres.history_schema.as_str()), (0, "public"));
        assert_eq!(staging.database(), Path::new("/work/app/.envdb/staging/app.db"), "the data_dir default stays");
        let prod = &e.specs["prod"];
        assert_eq!(prod.postgres.history_schema, "envdb");
        assert_eq!(prod.postgres.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(prod.postgres.lock_timeout, Duration::from_secs(5));
        assert_eq!(prod.location(&|p| p.display().to_string()), "postgresql://h/app");
        assert!(e.specs["dev"].url.is_none() && e.specs["dev"].postgres == PgSettings::default());
        assert!(e.resolve(None, None, &vars(&[])).unwrap().url().is_none());
    }

    #[test]
    fn an_unset_variable_is_an_error_only_for_the_environment_that_needs_it() {
        let toml = "[env.prod]\nurl = \"${PROD_URL}\"\n[env.staging]\nurl = \"${STAGING_URL}\"\n";
        let e = pg_envs(toml, &[("STAGING_URL", "sqlite://x.db")]).unwrap();
        assert!(e.resolve(None, None, &vars(&[])).is_ok(), "dev does not need $PROD_URL");
        let err = e.resolve(None, Some("prod"), &vars(&[])).unwrap_err();
        assert_eq!(err, EnvError::UnsetVar { env: "prod".into(), var: "PROD_URL".into() });
        assert!(err.to_string().contains("needs $PROD_URL, which is not set"), "{err}");
        let err = e.resolve(None, Some("staging"), &vars(&[])).unwrap_err().to_string();
        assert!(err.contains("environment `staging`: url (from $STAGING_URL)") && err.contains("sqlite://"), "{err}");
        let url = DbUrl::parse("postgres://other/db").unwrap();
        let r = e.resolve(Some(DatabaseOverride::Url(url.clone())), Some("prod"), &vars(&[])).unwrap();
        assert_eq!((r.name(), r.url(), &r.chosen_by), ("prod", Some(&url), &ChosenBy::DatabaseUrlFlag));
        let empty = pg_envs(toml, &[("PROD_URL", "")]).unwrap();
        assert!(matches!(empty.resolve(None, Some("prod"), &vars(&[])), Err(EnvError::UnsetVar { .. })));
    }

    #[test]
    fn bad_url_configurations() {
        let err = |toml: &str| pg_envs(toml, &[("PW", "pw")]).unwrap_err();
        assert_eq!(
            err("[env.dev]\nurl = \"postgres://h/d\"\ndatabase = \"x.db\"\n"),
            EnvError::UrlAndDatabase { env: "dev".into() }
        );
        let e = err("[env.staging]\nurl = \"postgress://u:hunter2@h/d\"\n").to_string();
        assert!(
            e.contains("environment `staging`") && e.contains("did you mean postgres://") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(matches!(err("[env.staging]\nurl = \"postgres://u:${PW@h/d\"\n"), EnvError::BadVariable { .. }));
        assert!(matches!(err("[env.staging]\nurl = \"postgres://h/${}\"\n"), EnvError::BadVariable { .. }));
        assert!(matches!(
            err("[env.staging]\nurl = \"postgres://h/{nope}\"\n"),
            EnvError::Placeholder { key: "url", .. }
        ));
        let e = err(
            "[env.a]\nurl = \"postgres://u:${PW}@H:5432/d\"\n[env.b]\nurl = \"postgresql://h/d?sslmode=disable\"\n",
        )
        .to_string();
        assert!(e.contains("`a` and `b` both use the PostgreSQL database postgres://u:***@H:5432/d"), "{e}");
        for bad in ["", "Public", "1x", "my-schema", "pg_catalog", "information_schema", &"x".repeat(64)] {
            let e = err(&format!("[env.dev]\nhistory_schema = \"{bad}\"\n"));
            assert!(matches!(&e, EnvError::HistorySchema { env, .. } if env == "dev"), "{bad}: {e}");
        }
        assert!(pg_envs("[env.dev]\nhistory_schema = \"_envdb2\"\n", &[]).is_ok());
    }

    #[test]
    fn a_test_run_cannot_reach_a_protected_postgres_environment() {
        let toml = "[env.prod]\nurl = \"postgres://app:${PW}@db/app\"\n";
        let e = pg_envs(toml, &[("PW", "s3cret")]).unwrap();
        let err = e.resolve(None, Some("prod"), &vars(&[("ENVDB_TEST", "1")])).unwrap_err();
        assert_eq!(err, EnvError::TestRun { env: "prod".into(), database: "postgres://app:***@db/app".into() });
        let unset = pg_envs(toml, &[]).unwrap();
        let err = unset.resolve(None, Some("prod"), &vars(&[("ENVDB_TEST", "1")])).unwrap_err();
        assert!(matches!(err, EnvError::TestRun { .. }), "refused as protected before the unset variable: {err}");
        let url = DbUrl::parse("postgres://elsewhere/x").unwrap();
        let err = e.resolve(Some(DatabaseOverride::Url(url)), Some("prod"), &vars(&[("ENVDB_TEST", "1")])).unwrap_err();
        assert!(matches!(err, EnvError::TestRun { .. }), "{err}");
        let r = e.resolve(Some(DatabaseOverride::Path("/tmp/x.db".into())), Some("prod"), &vars(&[])).unwrap();
        assert!(r.url().is_none(), "--database makes it a file");
    }

    #[test]
    fn tests_cannot_reach_protected_environments() {
        let e = envs("").unwrap();
        let err = e.resolve(None, None, &vars(&[("ENVDB_ENV", "prod"), ("ENVDB_TEST", "1")])).unwrap_err();
        assert!(matches!(err, EnvError::TestRun { .. }));
        assert!(e.resolve(None, None, &vars(&[("ENVDB_ENV", "test"), ("ENVDB_TEST", "1")])).is_ok());
    }
}
