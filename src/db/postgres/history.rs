//! envdb's tables on PostgreSQL, always schema-qualified and quoted (so `search_path` can never
//! put a second history elsewhere): `envdb_migrations` and `envdb_meta` with the meaning they
//! have on SQLite, and `envdb_lock`, the run lock's lease (`lock`). The SQL is built here as text
//! for the simple-query protocol.

use super::sql::{ident, literal};
use crate::plan::Applied;

/// The function of the trigger that deletes the history digest on a hand edit, in `history_schema`.
pub const TRIGGER_FUNCTION: &str = "envdb_history_changed";

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
    /// Marks a transaction as envdb's (`envdb.history_write`, until its end), so that the
    /// history's trigger leaves the digest alone: what a migration's transaction that only
    /// claims its row starts with. A utility statement, where [`Tables::xact_lock`] is a
    /// `SELECT`: planning and returning a row cost about a twentieth of such a transaction.
    pub const MARK: &str = "SET LOCAL envdb.history_write = on;\n";

    pub fn new(schema: &str) -> Tables {
        let q = |t: &str| format!("{}.{}", ident(schema), ident(t));
        Tables {
            schema: schema.to_owned(),
            migrations: q("envdb_migrations"),
            meta: q("envdb_meta"),
            lock: q("envdb_lock"),
        }
    }

    /// One row: the schema exists, each table exists, the session's role, and whether the
    /// history's trigger exists (see [`Tables::seal_with_trigger`]).
    pub fn probe(&self) -> String {
        let reg = |t: &str| format!("to_regclass({}) IS NOT NULL", literal(t));
        format!(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {}), {}, {}, {}, current_user, \
             EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass({}) AND tgname = 'envdb_history_changed')",
            literal(&self.schema),
            reg(&self.migrations),
            reg(&self.meta),
            reg(&self.lock),
            literal(&self.migrations)
        )
    }

    /// Takes the history's transaction-scoped advisory lock (held until COMMIT or ROLLBACK, so
    /// nothing is left behind a pooler): every write of the digest is serialised by it (a
    /// migration's claim alone needs only [`Tables::MARK`]). It also marks the transaction as
    /// envdb's (`envdb.history_write`, until its end), so that the trigger leaves the digest to
    /// envdb's own statements ([`Tables::settle`], [`Tables::seal`]).
    pub fn xact_lock(&self) -> String {
        format!("SELECT {}, pg_catalog.set_config('envdb.history_write', 'on', true);\n", self.advisory_lock())
    }

    fn advisory_lock(&self) -> String {
        format!(
            "pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('envdb'), pg_catalog.hashtext({}))",
            literal(&self.schema)
        )
    }

    /// The trigger that deletes the history digest after any change of `envdb_migrations` made
    /// outside envdb's transactions (a hand edit: INSERT, UPDATE, DELETE, TRUNCATE, COPY), under
    /// the history's lock so that it never interleaves with a run; and the digest of the rows as
    /// they are. Its `WHEN` skips envdb's own statements without calling the function. Run in a
    /// transaction that holds [`Tables::xact_lock`].
    pub fn seal_with_trigger(&self) -> String {
        format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $envdb$\n\
             BEGIN\n\
             PERFORM {lock};\n\
             DELETE FROM {meta} WHERE key = 'history_digest';\n\
             RETURN NULL;\n\
             END\n\
             $envdb$;\n\
             DROP TRIGGER IF EXISTS envdb_history_changed ON {m};\n\
             CREATE TRIGGER envdb_history_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {m} \
             FOR EACH STATEMENT WHEN (pg_catalog.current_setting('envdb.history_write', true) IS DISTINCT FROM 'on') \
             EXECUTE FUNCTION {function}();\n\
             INSERT INTO {meta} (key, value) VALUES ('history_digest', {digest}) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n",
            function = self.trigger_function(),
            lock = self.advisory_lock(),
            meta = self.meta,
            m = self.migrations,
            digest = self.recomputed_digest(),
        )
    }

    /// The trigger's function, beside the tables.
    fn trigger_function(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(TRIGGER_FUNCTION))
    }

    /// Stores the digest of the rows as they are, when the trigger is in place.
    pub fn store_digest(&self) -> String {
        format!(
            "INSERT INTO {} (key, value) SELECT 'history_digest', {} \
             WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass({}) AND tgname = 'envdb_history_changed') \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n",
            self.meta,
            self.recomputed_digest(),
            literal(&self.migrations)
        )
    }

    /// Replaces a stored digest with the digest of the rows as they are (a missing one stays
    /// missing: only [`Tables::seal_with_trigger`] stores a first one, with its trigger).
    pub fn reseal(&self) -> String {
        format!("UPDATE {} SET value = {} WHERE key = 'history_digest';\n", self.meta, self.recomputed_digest())
    }

    /// The digest of the rows (`crate::digest`) computed by the server, one index lookup per row:
    /// a recursive walk in version order.
    fn recomputed_digest(&self) -> String {
        format!(
            "(WITH RECURSIVE chain (version, d) AS (\
             SELECT (-9223372036854775807 - 1)::bigint, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex') \
             UNION ALL SELECT n.version, pg_catalog.sha256(chain.d || pg_catalog.int8send(n.version) || pg_catalog.convert_to(n.checksum, 'UTF8')) \
             FROM chain CROSS JOIN LATERAL (SELECT version, checksum FROM {} WHERE version > chain.version ORDER BY version LIMIT 1) n) \
             SELECT pg_catalog.encode(d, 'hex') FROM chain ORDER BY version DESC LIMIT 1)",
            self.migrations
        )
    }

    /// Every row of `envdb_meta` (key, value), read in one statement that fails with 42P01 when
    /// the table does not exist; when the digest is `digest`, the same statement renames the
    /// session `name` (`application_name`). No `WHERE`: a new session plans a filter on the key
    /// by loading the index and the column statistics, which cost more than the six short rows.
    pub fn environment_and_digest(&self, digest: &str, name: &str) -> String {
        format!(
            "SELECT key, value, CASE WHEN key = 'history_digest' AND value = {digest} \
             THEN pg_catalog.set_config('application_name', {name}, false) END FROM {meta}",
            meta = self.meta,
            digest = literal(digest),
            name = literal(name),
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
        sql += &self.seal_with_trigger();
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

    /// Ends a run: sets the execution times of the migrations it applied (`times`: version and
    /// milliseconds; `None`, the time the server measured since this message arrived, for the
    /// migration sent with it), moves `schema_version` and `last_migration` to what the history
    /// holds, and digests the rows again ([`Tables::reseal`]). Sent with a run's last migration
    /// rather than a statement with each one (that statement was a seventh of an apply's cost);
    /// meanwhile the digest reads `applying` ([`Tables::unseal`]), which matches no build. A run
    /// killed before its settle leaves those times 0, `envdb_meta` behind and the digest
    /// `applying`: the next run that applies anything moves them on, from the history, whatever
    /// order runners finish in, and an open that reads the whole history stores the digest.
    pub fn settle(&self, times: &[(u64, Option<u64>)]) -> String {
        let mut sql = String::new();
        // A claim recorded 0 already: most migrations take less than a millisecond.
        let times: Vec<_> = times.iter().filter(|(_, ms)| *ms != Some(0)).collect();
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
        sql + &self.meta_from_history() + &self.reseal()
    }

    /// Marks the digest as being moved on by a run (`applying`: no build's digest), so that a run
    /// killed between its transactions never leaves a digest that matches an older build while
    /// the history holds more (a missing digest stays missing).
    pub fn unseal(&self) -> String {
        format!("UPDATE {} SET value = 'applying' WHERE key = 'history_digest';\n", self.meta)
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

    /// Removes a migration's row, moves `schema_version` and `last_migration` back and digests the
    /// rows again.
    pub fn unrecord(&self, version: u64) -> String {
        format!(
            "DELETE FROM {} WHERE version = {version};\n{}{}",
            self.migrations,
            self.meta_from_history(),
            self.reseal()
        )
    }

    /// Replaces an applied migration's checksum (`repair`); follow it with [`Tables::reseal`].
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
