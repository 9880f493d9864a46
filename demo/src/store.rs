//! The task list's storage on either backend. The application knows which one it has (its
//! queries differ a little); envdb's runtime opened and migrated both the same way.

use envdb::postgres::types::Type;
use std::error::Error;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A task as listed.
pub struct Task {
    pub id: i64,
    pub title: String,
    pub priority: i64,
    pub done: bool,
}

/// An open, migrated task database.
pub enum Store {
    // Boxed: the two handles are large, and of different sizes.
    Sqlite(Box<envdb::Db>),
    Postgres(Box<envdb::PgDb>),
}

const LIST: &str = "SELECT id, title, priority, done FROM tasks ORDER BY done, priority, id";

impl Store {
    /// Opens the environment's database: on its PostgreSQL server when it has a url, else its file.
    /// `read_only_behind`: a database behind the code is opened read-only (with a warning), not
    /// migrated.
    pub fn open(env: &envdb::Environment, migrations: &envdb::Migrations, read_only_behind: bool) -> Result<Store> {
        let policy = if read_only_behind { envdb::Policy::ReadOnlyBehind } else { envdb::Policy::Migrate };
        let opts = envdb::Options { policy, ..envdb::Options::default() };
        Ok(match env.url() {
            Some(_) => Store::Postgres(Box::new(envdb::PgDb::open_env_with(env, migrations, opts)?)),
            None => Store::Sqlite(Box::new(envdb::Db::open_env_with(env, migrations, opts)?)),
        })
    }

    /// What opening applied.
    pub fn migrated(&self) -> &[envdb::AppliedNow] {
        match self {
            Store::Sqlite(db) => &db.migrated().applied,
            Store::Postgres(db) => &db.migrated().applied,
        }
    }

    pub fn version_info(&mut self) -> envdb::VersionInfo {
        match self {
            Store::Sqlite(db) => db.version_info(),
            Store::Postgres(db) => db.version_info(),
        }
    }

    pub fn list(&mut self) -> Result<Vec<Task>> {
        match self {
            Store::Sqlite(db) => {
                let mut stmt = db.conn().prepare(LIST)?;
                let rows = stmt.query_map([], |r| {
                    Ok(Task { id: r.get(0)?, title: r.get(1)?, priority: r.get(2)?, done: r.get(3)? })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            }
            Store::Postgres(db) => {
                let mut tasks = Vec::new();
                for message in db.client().simple_query(LIST)? {
                    if let envdb::postgres::SimpleQueryMessage::Row(r) = message {
                        let int = |i: usize| r.get(i).unwrap_or_default().parse::<i64>();
                        let title = r.get(1).unwrap_or_default().to_owned();
                        tasks.push(Task { id: int(0)?, title, priority: int(2)?, done: int(3)? == 1 });
                    }
                }
                Ok(tasks)
            }
        }
    }

    /// Adds a task and returns its id.
    pub fn add(&mut self, title: &str, priority: i64) -> Result<i64> {
        match self {
            Store::Sqlite(db) => {
                let conn = db.conn();
                conn.execute(
                    "INSERT INTO tasks (title, priority) VALUES (?1, ?2)",
                    rusqlite::params![title, priority],
                )?;
                Ok(conn.last_insert_rowid())
            }
            Store::Postgres(db) => {
                // `id INTEGER PRIMARY KEY` numbers rows on SQLite only: here the next id is taken
                // under a lock that lets no other insert in meanwhile. Unnamed statements
                // (`query_typed`) in a transaction work through PgBouncer's transaction pooling.
                let mut tx = db.client().transaction()?;
                tx.batch_execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")?;
                let priority = i32::try_from(priority)?;
                let sql = "INSERT INTO tasks (id, title, priority) \
                           SELECT coalesce(max(id), 0) + 1, $1, $2 FROM tasks RETURNING id";
                let rows = tx.query_typed(sql, &[(&title, Type::TEXT), (&priority, Type::INT4)])?;
                let id: i32 = rows.first().ok_or("the insert returned no id")?.get(0);
                tx.commit()?;
                Ok(i64::from(id))
            }
        }
    }

    /// Marks a task done; false when there is no such task.
    pub fn done(&mut self, id: i64) -> Result<bool> {
        match self {
            Store::Sqlite(db) => Ok(db.conn().execute("UPDATE tasks SET done = 1 WHERE id = ?1", [id])? > 0),
            Store::Postgres(db) => {
                let id = i32::try_from(id)?;
                let sql = "UPDATE tasks SET done = 1 WHERE id = $1 RETURNING id";
                Ok(!db.client().query_typed(sql, &[(&id, Type::INT4)])?.is_empty())
            }
        }
    }
}
