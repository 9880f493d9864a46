//! What goes wrong talking to PostgreSQL, in messages envdb builds itself: the client library's
//! errors may carry the connection's configuration, so none is shown as it is, and no message
//! ever contains a password (the database is named by its redacted label).

use super::pgpass;
use std::error::Error as _;
use std::time::Duration;

/// An error of the PostgreSQL backend, naming the database (its label) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "the database URL {label} cannot be used: {reason}\n  help: write it as postgres://USER@HOST:PORT/DATABASE?sslmode=disable|prefer|require|verify-full"
    )]
    Url { label: String, reason: String },
    #[error(
        "cannot reach the PostgreSQL server at {address} for {label}: {reason}\n  help: check that the server runs and that the host and port in the URL are right"
    )]
    Unreachable { label: String, address: String, reason: String },
    #[error(
        "the PostgreSQL server at {address} for {label} did not answer within the connect timeout ({timeout:?})\n  help: check the host and port in the URL (a firewall that drops packets looks like this), or raise connect_timeout"
    )]
    Timeout { label: String, address: String, timeout: Duration },
    #[error(
        "password authentication failed for the role `{user}` on {label} (using {})\n  help: check that password; it is never shown",
        .source_of_password.describe()
    )]
    WrongPassword { label: String, user: String, source_of_password: pgpass::Source },
    #[error(
        "the server asks for a password for the role `{user}` on {label}, and none was given\n  help: put it in the URL (in envdb.toml as `${{VAR}}`, so it is never committed), in PGPASSWORD or in ~/.pgpass (mode 0600)"
    )]
    NoPassword { label: String, user: String },
    #[error(
        "the database `{name}` does not exist on the server of {label}\n  help: `cargo envdb migrate` creates it for an unprotected environment (a protected one needs --create), or create it yourself: CREATE DATABASE \"{name}\";"
    )]
    MissingDatabase { label: String, name: String },
    #[error("TLS with the server of {label} failed: {reason}\n  help: {help}")]
    Tls { label: String, reason: String, help: &'static str },
    #[error(
        "the role `{role}` cannot create envdb's tables in the schema `{schema}` of {label} ({message})\n  help: as the schema's owner, run `GRANT CREATE ON SCHEMA \"{schema}\" TO \"{role}\";` (or CREATE on the database when the schema does not exist yet), or set history_schema to a schema the role may create in"
    )]
    HistorySchemaDenied { label: String, schema: String, role: String, message: String },
    #[error(
        "another envdb run holds the migration lock of {label}: {holder}; gave up after {waited:?}\n  help: wait for it to finish, or raise --lock-timeout; the lease of a run that died expires by itself {ttl:?} after its last heartbeat"
    )]
    LockTimeout { label: String, holder: String, waited: Duration, ttl: Duration },
    #[error("{label}: {message}")]
    Server { label: String, message: String },
}

impl PgError {
    /// The database named in the URL does not exist (SQLSTATE 3D000).
    pub fn is_missing_database(&self) -> bool {
        matches!(self, PgError::MissingDatabase { .. })
    }
}

/// The server's error as `ERROR <SQLSTATE>: <message>` (with its detail), or the client
/// library's error with its causes; never its configuration.
pub fn describe(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// The SQLSTATE of a server error.
pub fn code(e: &::postgres::Error) -> Option<&str> {
    e.as_db_error().map(|db| db.code().code())
}

impl PgError {
    /// A server or client error on `label`, described by [`describe`].
    pub fn server(label: &str, e: &::postgres::Error) -> PgError {
        PgError::Server { label: label.to_owned(), message: describe(e) }
    }
}

impl From<PgError> for crate::db::DbError {
    fn from(e: PgError) -> Self {
        crate::db::DbError::Postgres(Box::new(e))
    }
}
