//! envdb's tables on PostgreSQL, always schema-qualified and quoted (so `search_path` can never
//! put a second history elsewhere): `envdb_migrations` and `envdb_meta` with the meaning they
//! have on SQLite, and `envdb_lock`, the run lock's lease (`lock`). The SQL is built here as text
//! for the simple-query protocol.

use super::sql::{ident, literal};
use crate::plan::Applied;

/// The history tables in one schema.
#[derive(Debug, Clone)]
pub struct Tables {
    /// The schema's name, as configured (`history_schema`).
    pub schema: String,
    pub migrations: String,
    pub meta: String,
    pub lock: String,
}

impl Tables {
    pub fn new(schema: &str) -> Tables {
        let q = |t: &str| format!("{}.{}", ident(schema), ident(t));
        Tables {
            schema: schema.to_owned(),
            migrations: q("envdb_migrations"),
            meta: q("envdb_meta"),
            lock: q("envdb_lock"),
        }
    }

    /// One row: the schema exists, each table exists, and the session's role.
    pub fn probe(&self) -> String {
        let reg = |t: &str| format!("to_regclass({}) IS NOT NULL", literal(t));
        format!(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {}), {}, {}, {}, current_user",
            literal(&self.schema),
            reg(&self.migrations),
            reg(&self.meta),
            reg(&self.lock)
        )
    }

    /// Takes the history's transaction-scoped advisory lock (held until COMMIT or ROLLBACK, so
    /// nothing is left behind a pooler): every write of the history is serialised by it.
    pub fn xact_lock(&self) -> String {
        format!(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('envdb'), pg_catalog.hashtext({}));\n",
            literal(&self.schema)
        )
    }

    /// Creates what is missing (the schema only when `schema_missing`: `CREATE SCHEMA IF NOT
    /// EXISTS` needs CREATE on the database even when the schema exists), under the lock, with
    /// `created_at` once and the environment and project when unset.
    pub fn create(&self, schema_missing: bool, environment: Option<&str>, project: Option<&str>) -> String {
        let mut sql = String::from("BEGIN;\n");
        sql += &self.xact_lock();
        if schema_missing {
            sql += &format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(&self.schema));
        }
        sql += &format!(
            "CREATE TABLE IF NOT EXISTS {} (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, \
             applied_at timestamptz NOT NULL, execution_ms bigint NOT NULL, tool_version text NOT NULL);\n\
             CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL);\n\
             CREATE TABLE IF NOT EXISTS {} (id int PRIMARY KEY CHECK (id = 1), holder text NOT NULL, host text NOT NULL, \
             pid bigint NOT NULL, acquired_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);\n",
            self.migrations, self.meta, self.lock
        );
        sql += &self.meta_defaults(environment, project);
        sql + "COMMIT;"
    }

    /// `created_at`, and the environment and project when unset (never replaced).
    pub fn meta_defaults(&self, environment: Option<&str>, project: Option<&str>) -> String {
        let mut sql = format!(
            "INSERT INTO {} (key, value) VALUES ('created_at', {}) ON CONFLICT (key) DO NOTHING;\n",
            self.meta,
            literal(&crate::db::history::now())
        );
        for (key, value) in [("environment", environment), ("project", project)] {
            if let Some(value) = value {
                sql += &format!(
                    "INSERT INTO {} (key, value) VALUES ({}, {}) ON CONFLICT (key) DO NOTHING;\n",
                    self.meta,
                    literal(key),
                    literal(value)
                );
            }
        }
        sql
    }

    /// The history, oldest first, `applied_at` as RFC 3339 UTC to the second (as on SQLite).
    pub fn read(&self) -> String {
        format!(
            "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             execution_ms, tool_version FROM {} ORDER BY version",
            self.migrations
        )
    }

    pub fn meta_value(&self, key: &str) -> String {
        format!("SELECT value FROM {} WHERE key = {}", self.meta, literal(key))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> String {
        format!(
            "INSERT INTO {} (key, value) VALUES ({}, {}) ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n",
            self.meta,
            literal(key),
            literal(value)
        )
    }

    pub fn delete_meta(&self, key: &str) -> String {
        format!("DELETE FROM {} WHERE key = {};\n", self.meta, literal(key))
    }

    /// Claims a migration: its history row, inserted first in the migration's transaction, so
    /// a runner that applied it meanwhile makes this a unique violation on the primary key
    /// ([`is_already_applied`]) before the file runs, and a runner applying it concurrently
    /// waits here for that one's COMMIT or ROLLBACK. `ms` is the execution time when known;
    /// otherwise 0 until the run's [`Tables::settle`] sets it.
    pub fn claim(&self, version: u64, name: &str, checksum: &str, ms: Option<u64>) -> String {
        self.claim_at(version, name, checksum, ms, None)
    }

    /// [`Tables::claim`] with the time it was applied (RFC 3339; `None`: now).
    pub fn claim_at(&self, version: u64, name: &str, checksum: &str, ms: Option<u64>, at: Option<&str>) -> String {
        let at = at.map_or_else(|| String::from("now()"), |at| format!("{}::timestamptz", literal(at)));
        format!(
            "INSERT INTO {} (version, name, checksum, applied_at, execution_ms, tool_version) VALUES ({version}, {}, {}, {at}, {}, {});\n",
            self.migrations,
            literal(name),
            literal(checksum),
            ms.unwrap_or(0),
            literal(crate::VERSION)
        )
    }

    /// Ends a run in one statement: sets the execution times of the migrations it applied
    /// (`times`: version and milliseconds; `None`, the time the server measured since this
    /// message arrived, for the migration sent with it) and moves `schema_version` and
    /// `last_migration` to what the history holds. Sent with a run's last migration rather than
    /// with each one (a statement per migration is a tenth of an apply's cost); a run killed
    /// before it leaves those times 0 and `envdb_meta` behind, and the next run that applies
    /// anything moves it, from the history, whatever order runners finish in.
    pub fn settle(&self, times: &[(u64, Option<u64>)]) -> String {
        let mut sql = String::new();
        if !times.is_empty() {
            let values: Vec<String> = times
                .iter()
                .map(|(version, ms)| match ms {
                    Some(ms) => format!("({version}, {ms})"),
                    None => format!(
                        "({version}, (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint)"
                    ),
                })
                .collect();
            sql = format!(
                "WITH timed AS (UPDATE {m} h SET execution_ms = t.ms FROM (VALUES {}) AS t(version, ms) WHERE h.version = t.version) ",
                values.join(", "),
                m = self.migrations
            );
        }
        sql + &self.meta_from_history()
    }

    /// Sets `schema_version` and `last_migration` from the history's newest row.
    fn meta_from_history(&self) -> String {
        format!(
            "INSERT INTO {meta} (key, value) \
             SELECT 'schema_version', coalesce(max(version), 0)::text FROM {m} \
             UNION ALL SELECT 'last_migration', coalesce((SELECT name FROM {m} ORDER BY version DESC LIMIT 1), '') \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n",
            m = self.migrations,
            meta = self.meta
        )
    }

    /// Removes a migration's row and moves `schema_version` and `last_migration` back.
    pub fn unrecord(&self, version: u64) -> String {
        format!("DELETE FROM {} WHERE version = {version};\n{}", self.migrations, self.meta_from_history())
    }

    pub fn set_checksum(&self, version: u64, checksum: &str) -> String {
        format!("UPDATE {} SET checksum = {} WHERE version = {version};\n", self.migrations, literal(checksum))
    }
}

/// A history row read as text.
pub fn applied(row: Vec<Option<String>>) -> Option<Applied> {
    let mut it = row.into_iter();
    let mut next = || it.next().flatten().unwrap_or_default();
    Some(Applied {
        version: next().parse().ok()?,
        name: next(),
        checksum: next(),
        applied_at: next(),
        execution_ms: next().parse().unwrap_or(0),
        tool_version: next(),
    })
}

/// Whether `e` is a [`Tables::claim`] that found its migration recorded (by another runner,
/// meanwhile): a unique violation of the history's primary key in `schema`.
pub fn is_already_applied(e: &::postgres::Error, schema: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.code().code() == "23505"
            && db.schema() == Some(schema)
            && db.table() == Some("envdb_migrations")
            && db.constraint() == Some("envdb_migrations_pkey")
    })
}
