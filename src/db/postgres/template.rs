//! The migrated template an ephemeral environment's test runs are cloned from: `<db>__template`
//! on the environment's server, re-made when the migrations' digest changes (the digest is the
//! template's `COMMENT`), and `CREATE DATABASE <db> TEMPLATE <db>__template` for each run.

use super::connect::{self, Target};
use super::error::{self, PgError};
use super::sql::{ident, literal, value};
use super::{PgOptions, maintenance};
use crate::db::DbError;
use crate::db_url::DbUrl;
use crate::embedded::Migration;

/// What a template's comment starts with, before the digest.
const MARK: &str = "envdb template ";
/// PostgreSQL's longest identifier, in bytes.
const NAME_MAX: usize = 63;

/// The template of database `db`: `<db>__template`, `db` shortened (on a character boundary) so
/// that the name fits PostgreSQL's 63 bytes.
pub fn name(db: &str) -> String {
    const SUFFIX: &str = "__template";
    let mut end = db.len().min(NAME_MAX - SUFFIX.len());
    while !db.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SUFFIX}", &db[..end])
}

/// The digest a template records: every migration's version, name and checksum, and the
/// history schema (a template made for another one is not this one's).
pub fn digest(migrations: &[Migration<'_>], history_schema: &str) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(format!("schema {history_schema}\n"));
    for m in migrations {
        hash.update(format!("{} {} {}\n", m.version, m.name, m.checksum));
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A session in the server's maintenance database, to make, clone and drop databases.
pub struct Templates {
    client: ::postgres::Client,
    label: String,
}

impl Templates {
    /// Connects to the maintenance database of `url`'s server.
    pub fn connect(url: &DbUrl, opts: &PgOptions) -> Result<Templates, DbError> {
        let label = url.redacted();
        let target: Target = connect::target(url.expose_secret(), &label, opts.connect_timeout)?;
        Ok(Templates { client: maintenance(&target, &label)?, label })
    }

    fn run(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(|e| PgError::server(&self.label, &e).into())
    }

    /// Whether database `name` exists.
    pub fn exists(&mut self, name: &str) -> Result<bool, DbError> {
        let sql = format!("SELECT 1 FROM pg_catalog.pg_database WHERE datname = {}", literal(name));
        let found = value(&mut self.client, &sql).map_err(|e| DbError::from(PgError::server(&self.label, &e)))?;
        Ok(found.is_some())
    }

    /// The digest template `name` records; `None` when it does not exist or records none.
    pub fn recorded(&mut self, name: &str) -> Result<Option<String>, DbError> {
        let sql = format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_catalog.pg_database WHERE datname = {}",
            literal(name)
        );
        let comment = value(&mut self.client, &sql).map_err(|e| DbError::from(PgError::server(&self.label, &e)))?;
        Ok(comment.and_then(|c| c.strip_prefix(MARK).map(str::to_owned)))
    }

    /// Makes `name` anew, empty (dropped first, its sessions ended).
    pub fn recreate(&mut self, name: &str) -> Result<(), DbError> {
        self.drop_database(name)?;
        self.run(&format!("CREATE DATABASE {}", ident(name)))
    }

    /// Records `digest` on template `name`: it is complete.
    pub fn seal(&mut self, name: &str, digest: &str) -> Result<(), DbError> {
        self.run(&format!("COMMENT ON DATABASE {} IS {}", ident(name), literal(&format!("{MARK}{digest}"))))
    }

    /// Replaces database `db` by a copy of `template`: sessions left on the template (a pool's
    /// idle server connections) are ended first, since PostgreSQL copies only an unused one.
    pub fn clone_into(&mut self, db: &str, template: &str) -> Result<(), DbError> {
        self.drop_database(db)?;
        let _ = self.client.batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()",
            literal(template)
        ));
        match self.client.batch_execute(&format!("CREATE DATABASE {} TEMPLATE {}", ident(db), ident(template))) {
            Ok(()) => Ok(()),
            Err(e) if error::code(&e) == Some("42501") => Err(PgError::Server {
                label: self.label.clone(),
                message: format!(
                    "the role may not create databases ({}), and an ephemeral environment on PostgreSQL makes one for each test run\n  help: ALTER ROLE … CREATEDB as a superuser, or remove `ephemeral = true`",
                    error::describe(&e)
                ),
            }
            .into()),
            Err(e) => Err(PgError::server(&self.label, &e).into()),
        }
    }

    /// Drops `name` when it exists, ending its sessions.
    pub fn drop_database(&mut self, name: &str) -> Result<(), DbError> {
        self.run(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_fit_an_identifier() {
        assert_eq!(name("app_test"), "app_test__template");
        let long = "é".repeat(40);
        let n = name(&long);
        assert!(n.len() <= NAME_MAX && n.ends_with("__template"), "{n}");
    }

    #[test]
    fn the_digest_follows_the_migrations_and_the_schema() {
        let m = |v, checksum| Migration { version: v, name: "0001_a.sql", up: "", down: None, checksum };
        let a = digest(&[m(1, "x")], "public");
        assert_eq!(a, digest(&[m(1, "x")], "public"));
        assert_ne!(a, digest(&[m(1, "y")], "public"));
        assert_ne!(a, digest(&[m(1, "x")], "envdb"));
        assert_ne!(a, digest(&[m(1, "x"), m(2, "x")], "public"));
    }
}
