//! `envdb.toml`: the project's settings. Every key is optional and the defaults work.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file's name, at the project root.
pub const FILE_NAME: &str = "envdb.toml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The migrations directory, relative to the project root (default `migrations`).
    pub migrations: Option<PathBuf>,
    /// The project's name, used in default database names (default: the root directory's name).
    pub name: Option<String>,
    /// The database file name (default `<name>.db`).
    pub database: Option<String>,
    /// A journal mode to set on every database envdb migrates (`wal`, `delete`, …); by default
    /// a database keeps the mode it was found in.
    pub journal_mode: Option<JournalMode>,
    /// The environment variable that names the environment (default `ENVDB_ENV`).
    pub env_var: Option<String>,
    /// The environment used when nothing else names one (default `dev`).
    pub default_env: Option<String>,
    /// Per-environment settings: `[env.dev]`, `[env.prod]`, `[env.staging]`, …
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
}

/// One `[env.NAME]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Where the environment keeps its database, backups and audit log. Templates: `{workspace}`,
    /// `{data_dir}` (the OS data directory), `{home}`, `{name}` (the project's name).
    pub data_dir: Option<String>,
    /// The database file name inside `data_dir`.
    pub database: Option<String>,
    /// A SQL file run by `seed` and after `reset`, relative to the project root.
    pub seed: Option<PathBuf>,
    /// Destructive commands need the environment's name typed (or `--confirm NAME`).
    pub protected: Option<bool>,
    /// `cargo envdb test` starts from a new database every run.
    pub ephemeral: Option<bool>,
    /// Backups to keep after each upgrade.
    pub backup_keep: Option<u32>,
    /// A PostgreSQL environment's server: `postgres://user@host:port/dbname?sslmode=…`, with
    /// `${VAR}` read from the process environment (so no password is committed). Not with
    /// `database`.
    pub url: Option<String>,
    /// `"local"`: a PostgreSQL cluster envdb makes and starts itself under `data_dir` (dev and
    /// test). Not with `url` or `database`.
    pub server: Option<String>,
    /// With `server = "local"`: a PgBouncer in transaction mode in front of it.
    pub pgbouncer: Option<bool>,
    /// PostgreSQL: the schema of envdb's tables (default `public`).
    pub history_schema: Option<String>,
    /// PostgreSQL: how long a migration's statement waits for a lock (default 5 s; 0 waits forever).
    pub lock_timeout: Option<Seconds>,
    /// PostgreSQL: how long one statement of a migration may run (default: no limit).
    pub statement_timeout: Option<Seconds>,
    /// PostgreSQL: how many times a migration that hit `lock_timeout` is retried (default 3).
    pub lock_retries: Option<u32>,
}

/// A number of seconds (`5`, `0.5`): from 0 to 2147483.647 (PostgreSQL counts its timeouts in
/// milliseconds in a C `int`), and not below a millisecond unless 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// The longest accepted, in milliseconds.
    pub const MAX_MILLIS: u64 = i32::MAX as u64;

    fn from_f64<E: serde::de::Error>(secs: f64) -> Result<Seconds, E> {
        let range = "a number of seconds from 0 to 2147483.647, at least 0.001 unless 0";
        if !secs.is_finite() || secs < 0.0 || secs * 1000.0 > Self::MAX_MILLIS as f64 || (secs > 0.0 && secs < 0.001) {
            return Err(E::custom(format!("{secs} is out of range: expected {range}")));
        }
        Ok(Seconds(Duration::from_secs_f64(secs)))
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seconds, E> {
                Seconds::from_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seconds, E> {
                Seconds::from_f64(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Seconds, E> {
                Seconds::from_f64(v)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JournalMode {
    Delete,
    Truncate,
    Persist,
    Wal,
}

impl JournalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
            JournalMode::Wal => "wal",
        }
    }
}

/// An `envdb.toml` that cannot be used; the message names the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {}: {}", .path.display(), .message.trim_end())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// The SQL dialect the migrations are written for: PostgreSQL's when any environment has a
    /// `url` (the migrations must run there), SQLite's otherwise.
    pub fn dialect(&self) -> crate::sql_lex::Dialect {
        if self.env.values().any(|e| e.url.is_some()) {
            crate::sql_lex::Dialect::Postgres
        } else {
            crate::sql_lex::Dialect::Sqlite
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn reads_keys() {
        let c = Config::parse("migrations = \"db/migrations\"\nname = \"vigil\"\njournal_mode = \"wal\"\n").unwrap();
        assert_eq!(c.migrations.as_deref(), Some(Path::new("db/migrations")));
        assert_eq!(c.name.as_deref(), Some("vigil"));
        assert_eq!(c.journal_mode, Some(JournalMode::Wal));
    }

    #[test]
    fn reads_environment_tables() {
        let c = Config::parse("default_env = \"test\"\n[env.prod]\ndata_dir = \"/srv/app\"\nbackup_keep = 5\n[env.staging]\nprotected = true\n").unwrap();
        assert_eq!(c.default_env.as_deref(), Some("test"));
        assert_eq!(c.env["prod"].data_dir.as_deref(), Some("/srv/app"));
        assert_eq!(c.env["prod"].backup_keep, Some(5));
        assert_eq!(c.env["staging"].protected, Some(true));
        let e = Config::parse("[env.prod]\nprotect = true\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("protect"), "{e}");
    }

    #[test]
    fn reads_postgres_settings() {
        let c = Config::parse("[env.staging]\nurl = \"${STAGING_URL}\"\nhistory_schema = \"envdb\"\nlock_timeout = 0.5\nstatement_timeout = 60\nlock_retries = 0\n").unwrap();
        let s = &c.env["staging"];
        assert_eq!(s.url.as_deref(), Some("${STAGING_URL}"));
        assert_eq!(s.history_schema.as_deref(), Some("envdb"));
        assert_eq!(s.lock_timeout, Some(Seconds(Duration::from_millis(500))));
        assert_eq!(s.statement_timeout, Some(Seconds(Duration::from_secs(60))));
        assert_eq!(s.lock_retries, Some(0));
        assert_eq!(
            Config::parse("[env.x]\nlock_timeout = 0\n").unwrap().env["x"].lock_timeout,
            Some(Seconds(Duration::ZERO))
        );
        for bad in ["-1", "1e300", "nan", "inf", "0.0001", "2147484", "\"5s\"", "true"] {
            let e = Config::parse(&format!("[env.x]\nurl = \"postgres://h/d\"\nlock_timeout = {bad}\n")).unwrap_err();
            assert!(e.contains("line 3") && e.contains("lock_timeout"), "{bad}: {e}");
        }
        let e = Config::parse("[env.x]\nlock_retries = -1\n").unwrap_err();
        assert!(e.contains("lock_retries"), "{e}");
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = Config::parse("name = \"x\"\nmigratons = \"m\"\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("migratons"), "{e}");
        let e = Config::parse("migrations = 3\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }
}
