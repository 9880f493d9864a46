//! A scratch database on the target's server (`envdb_scratch_<secs>_<random>`) where `validate`
//! runs the migrations to learn the schema they produce, or (`envdb_test_…`) where a host's test
//! runs (`testing::fresh_pg`); a guard drops it (`WITH (FORCE)`) however the run ends, a
//! panicking test's unwinding included, and the next run drops what a killed one left. URLs are
//! secrets here: they may hold a password, so no message ever shows one.

use ::postgres::Client;
use ::postgres::error::SqlState;
use std::fmt;

/// The databases a scratch database is created from, in order: the maintenance database every
/// server has, and `template1` where `postgres` was dropped or may not be connected to.
const MAINTENANCE: [&str; 2] = ["postgres", "template1"];

/// How to open a session from a URL (the backend's, with its TLS settings).
pub type Connect = Box<dyn FnMut(&str) -> Result<Client, super::PgError>>;

/// The backend's way of connecting (its TLS settings, `timeout` for the whole connection), every
/// message naming the server by `label` (a URL without its password).
pub fn connector(label: String, timeout: std::time::Duration) -> Connect {
    Box::new(move |u: &str| super::connect::connect(&super::connect::target(u, &label, timeout)?))
}

/// What a scratch database is for: its name's prefix, and what needs it (for the messages).
#[derive(Debug, Clone, Copy)]
pub struct Purpose {
    pub prefix: &'static str,
    /// Completes "… needs it": who creates and drops the database, and why.
    pub needs: &'static str,
}

/// `validate`'s: the schema the migrations make, in `envdb_scratch_<random>`.
pub const VALIDATE: Purpose = Purpose {
    prefix: "envdb_scratch",
    needs: "validate compares your schema with the one the migrations make in a scratch database it creates and drops",
};

/// `testing::fresh_pg`'s: a throwaway test database, `envdb_test_<random>`.
pub const TEST: Purpose = Purpose {
    prefix: "envdb_test",
    needs: "envdb::testing::fresh_pg creates a throwaway database for each test and drops it",
};

/// Why a scratch database could not be made or dropped; each names the server and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(
        "the database URL cannot be read to make a scratch database on its server ({reason}; the URL is not shown, it may hold a password)\n  help: write it as postgres://user@host:port/dbname"
    )]
    Url { reason: String },
    #[error(
        "cannot connect to the maintenance database (tried {}) on {server} to create a scratch database: {error}\n  help: let the role connect to `postgres` or `template1`: {}",
        MAINTENANCE.join(", "), .purpose.needs
    )]
    Connect { server: String, error: Box<super::PgError>, purpose: Purpose },
    #[error(
        "the role `{role}` may not create databases on {server} (SQLSTATE 42501), and {}\n  help: run `ALTER ROLE {role} CREATEDB` as a superuser, or use a role that has CREATEDB",
        .purpose.needs
    )]
    NoCreatedb { role: String, server: String, purpose: Purpose },
    #[error("cannot create the scratch database {name} on {server}: {error}")]
    Create { name: String, server: String, error: ::postgres::Error },
    #[error(
        "cannot drop the scratch database {name} on {server}: {error}\n  help: drop it yourself: DROP DATABASE {name} WITH (FORCE)"
    )]
    Drop { name: String, server: String, error: String },
}

/// A scratch database, dropped when this guard is dropped (or by [`Scratch::drop_database`],
/// which reports a failure). Its URL is the target's with the database name replaced.
pub struct Scratch {
    name: String,
    url: String,
    maintenance_url: String,
    server: String,
    admin: Option<Client>,
    connect: Connect,
    dropped: bool,
}

impl Scratch {
    /// Creates `envdb_scratch_<random>` on the server of `target_url` for `validate`.
    pub fn create(target_url: &str, connect: Connect) -> Result<Scratch, ScratchError> {
        Scratch::create_for(target_url, VALIDATE, connect)
    }

    /// Creates `<prefix>_<unix seconds>_<random>` on the server of `target_url`, connected (with
    /// `connect`) to its maintenance database: `postgres`, or `template1` when the server refuses
    /// that one. First drops the databases of the same prefix that killed runs left ([`sweep`]).
    pub fn create_for(target_url: &str, purpose: Purpose, mut connect: Connect) -> Result<Scratch, ScratchError> {
        let server = server_of(target_url)?;
        let (mut client, maintenance_url) = maintenance(target_url, purpose, &mut connect)?;
        // The server's clock names it and judges its age, so that clients whose clocks differ
        // agree on both.
        let now = sweep(&mut client, purpose.prefix).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
        let name = loop {
            let name = format!("{}_{now}_{:016x}", purpose.prefix, random());
            match client.batch_execute(&format!("CREATE DATABASE {name}")) {
                Ok(()) => break name,
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => continue,
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    let role = current_user(&mut client).unwrap_or_else(|| "(the URL's user)".to_owned());
                    return Err(ScratchError::NoCreatedb { role, server, purpose });
                }
                Err(error) => return Err(ScratchError::Create { name, server, error }),
            }
        };
        let mut scratch =
            Scratch { name, url: String::new(), maintenance_url, server, admin: Some(client), connect, dropped: false };
        // Dropped again (by the guard) if the URL cannot be made, which `first` shows it can.
        scratch.url = with_database(target_url, &scratch.name)?;
        Ok(scratch)
    }

    /// The scratch database's name (`envdb_scratch_…`, `envdb_test_…`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scratch database's URL: the target's, with its password if it had one (a secret).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the scratch database now, ending every session on it, and says whether it could.
    pub fn drop_database(mut self) -> Result<(), ScratchError> {
        self.drop_now()
    }

    fn drop_now(&mut self) -> Result<(), ScratchError> {
        if self.dropped {
            return Ok(());
        }
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let result = match self.admin.as_mut().map(|admin| admin.batch_execute(&sql)) {
            Some(Ok(())) => Ok(()),
            // The maintenance session may have been cut (a server restart): once more, fresh.
            _ => (self.connect)(&self.maintenance_url)
                .map_err(|e| e.to_string())
                .and_then(|mut admin| admin.batch_execute(&sql).map_err(|e| super::error::describe(&e))),
        };
        match result {
            Ok(()) => {
                self.dropped = true;
                Ok(())
            }
            Err(error) => Err(ScratchError::Drop { name: self.name.clone(), server: self.server.clone(), error }),
        }
    }
}

/// A session on the server's maintenance database (`postgres`, else `template1`), and its URL.
pub fn maintenance(
    target_url: &str,
    purpose: Purpose,
    connect: &mut Connect,
) -> Result<(Client, String), ScratchError> {
    let server = server_of(target_url)?;
    let first = with_database(target_url, MAINTENANCE[0])?;
    match connect(&first) {
        Ok(client) => Ok((client, first)),
        // The server answered (no such database, not allowed there…): the other one.
        Err(super::PgError::MissingDatabase { .. } | super::PgError::Server { .. }) => {
            let second = with_database(target_url, MAINTENANCE[1])?;
            match connect(&second) {
                Ok(client) => Ok((client, second)),
                Err(error) => Err(ScratchError::Connect { server, error: Box::new(error), purpose }),
            }
        }
        Err(error) => Err(ScratchError::Connect { server, error: Box::new(error), purpose }),
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Nothing to report from a drop; `drop_database` is there for a caller that reports.
        let _ = self.drop_now();
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch").field("name", &self.name).field("server", &self.server).finish_non_exhaustive()
    }
}

/// The server of a URL as messages show it, `host:port` (never the user's password).
fn server_of(url: &str) -> Result<String, ScratchError> {
    let config: ::postgres::Config =
        url.parse().map_err(|e: ::postgres::Error| ScratchError::Url { reason: e.to_string() })?;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            ::postgres::config::Host::Tcp(name) => name.clone(),
            ::postgres::config::Host::Unix(dir) => dir.display().to_string(),
        })
        .collect();
    let host = if hosts.is_empty() { "localhost".to_owned() } else { hosts.join(",") };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Ok(format!("{host}:{port}"))
}

/// `url` naming database `db` instead of its own: the path of a `postgres://` URL (and any
/// `dbname=` parameter), or a `dbname=` appended to a `key=value` string. Checked by parsing the
/// result as the client will.
pub fn with_database(url: &str, db: &str) -> Result<String, ScratchError> {
    let prefix = ["postgres://", "postgresql://"].into_iter().find(|p| url.starts_with(p));
    let out = match prefix {
        Some(prefix) => {
            let rest = &url[prefix.len()..];
            // As the client reads it: credentials up to the first '@', the host up to '/' or '?'.
            let host_start = rest.find('@').map_or(0, |i| i + 1);
            let host_end = rest[host_start..].find(['/', '?']).map_or(rest.len(), |i| host_start + i);
            let (params, query) = match rest[host_end..].find('?') {
                Some(i) => (&rest[host_end + i + 1..], true),
                None => ("", false),
            };
            let params: Vec<String> = params
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| if p.split('=').next() == Some("dbname") { format!("dbname={db}") } else { p.to_owned() })
                .collect();
            let query = if query { format!("?{}", params.join("&")) } else { String::new() };
            format!("{prefix}{}/{db}{query}", &rest[..host_end])
        }
        None => format!("{url} dbname={db}"),
    };
    let parsed: ::postgres::Config =
        out.parse().map_err(|e: ::postgres::Error| ScratchError::Url { reason: e.to_string() })?;
    if parsed.get_dbname() != Some(db) {
        return Err(ScratchError::Url { reason: format!("its database name could not be replaced by {db}") });
    }
    Ok(out)
}

/// How old a scratch database with nobody connected must be before another run takes it for
/// abandoned: far longer than the moment between its creation and its first session (runs
/// hold a session on theirs from then on).
const ABANDONED_AFTER_SECS: u64 = 600;

/// When the scratch database `name` of `prefix` was created (unix seconds), if the name is one.
fn created(prefix: &str, name: &str) -> Option<u64> {
    let (secs, random) = name.strip_prefix(prefix)?.strip_prefix('_')?.split_once('_')?;
    let hex = random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && secs.bytes().all(|b| b.is_ascii_digit())).then(|| secs.parse().ok()).flatten()
}

/// Drops the scratch databases of `prefix` that a killed run left behind (Ctrl-C in a test run,
/// a SIGKILL before the guard could drop them): created over [`ABANDONED_AFTER_SECS`] ago by the
/// server's clock, with no session on them (and `DROP DATABASE` without `FORCE` refuses one that
/// gains a session meanwhile). Best effort: one it may not drop (another role's) stays. Returns
/// the server's clock, in unix seconds, unless the query failed.
fn sweep(client: &mut Client, prefix: &str) -> Option<u64> {
    let sql = format!(
        "SELECT extract(epoch FROM pg_catalog.now())::bigint, d.datname FROM (SELECT 1) one \
         LEFT JOIN pg_catalog.pg_database d ON starts_with(d.datname, '{prefix}_') \
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid)"
    );
    let rows = super::sql::rows(client, &sql).ok()?;
    let now: u64 = rows.first()?.first()?.as_deref()?.parse().ok()?;
    let abandoned = rows
        .iter()
        .filter_map(|row| row.get(1)?.as_deref())
        .filter(|name| created(prefix, name).is_some_and(|at| at.saturating_add(ABANDONED_AFTER_SECS) < now));
    for name in abandoned {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
    }
    Some(now)
}

/// The session's role.
fn current_user(client: &mut Client) -> Option<String> {
    let rows = client.simple_query("SELECT current_user").ok()?;
    rows.iter().find_map(|m| match m {
        ::postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    })
}

/// 64 random bits: the standard library's hasher keys are random per process and per call.
fn random() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::{created, with_database};

    #[test]
    fn only_a_scratch_name_of_the_prefix_tells_when_it_was_created() {
        assert_eq!(created("envdb_test", "envdb_test_1764950000_0123456789abcdef"), Some(1_764_950_000));
        for other in [
            "envdb_test_0123456789abcdef",
            "envdb_test_1764950000_0123456789abcde",
            "envdb_test_17649x0000_0123456789abcdef",
            "envdb_test_1764950000_0123456789abcdeg",
            "envdb_scratch_1764950000_0123456789abcdef",
            "envdb_testx_1764950000_0123456789abcdef",
            "app_dev",
        ] {
            assert_eq!(created("envdb_test", other), None, "{other}");
        }
    }

    #[test]
    fn the_database_name_is_replaced_in_every_form_of_url() {
        let cases = [
            ("postgres://u:p%40ss@h:5433/app?sslmode=disable", "postgres://u:p%40ss@h:5433/s?sslmode=disable"),
            ("postgresql://h/app", "postgresql://h/s"),
            ("postgres://u@h", "postgres://u@h/s"),
            ("postgres://u@h?sslmode=require", "postgres://u@h/s?sslmode=require"),
            ("postgres:///app?host=/tmp/x&port=5&user=u", "postgres:///s?host=/tmp/x&port=5&user=u"),
            ("postgres://h/app?dbname=other&user=u", "postgres://h/s?dbname=s&user=u"),
            ("host=h user=u dbname=app", "host=h user=u dbname=app dbname=s"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "s").unwrap(), expected, "{url}");
        }
        let err = with_database("mysql://u:secret@h/app", "s").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
