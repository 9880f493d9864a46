//! `tasks`: the demo host application. A task list with priorities whose database is opened,
//! migrated and locked by envdb's runtime, exactly as a user's application would do it.

use std::process::ExitCode;

static MIGRATIONS: envdb::Migrations = envdb::embedded!();

const USAGE: &str = "usage: tasks [--env NAME] [list | add <title> [--priority 1-3] | done <id> | version [-v]]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut words: Vec<&str> = args.iter().map(String::as_str).collect();
    let env_flag = match words[..] {
        ["--env" | "-e", name, ..] => {
            words.drain(..2);
            Some(name)
        }
        _ => None,
    };
    if let ["version"] = words[..] {
        println!("tasks {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // The same resolution as `cargo envdb`: --env > $ENVDB_ENV > default_env (dev).
    let env = envdb::Environment::resolve(&MIGRATIONS, env_flag)?;
    let db = envdb::Db::open_env(&env, &MIGRATIONS)?;
    for (_, name, ms) in &db.migrated().applied {
        eprintln!("migrated: {name} ({ms} ms)");
    }
    let conn = db.conn();
    match words[..] {
        [] | ["list"] => list(conn)?,
        ["add", ref rest @ ..] if !rest.is_empty() => {
            let (title, priority) = match rest {
                [title @ .., "--priority", p] => (title.join(" "), p.parse::<i64>()?),
                title => (title.join(" "), 2),
            };
            conn.execute("INSERT INTO tasks (title, priority) VALUES (?1, ?2)", rusqlite::params![title, priority])?;
            println!("added #{}: {title} (priority {priority})", conn.last_insert_rowid());
        }
        ["done", id] => {
            let n = conn.execute("UPDATE tasks SET done = 1 WHERE id = ?1", [id.parse::<i64>()?])?;
            if n == 0 {
                return Err(format!("no task #{id}").into());
            }
            println!("done #{id}");
        }
        ["version", "-v"] => {
            println!("tasks {}", env!("CARGO_PKG_VERSION"));
            println!("{}", db.version_info());
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn list(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT id, title, priority, done FROM tasks ORDER BY done, priority, id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, bool>(3)?))
    })?;
    let mut any = false;
    for row in rows {
        let (id, title, priority, done) = row?;
        println!("{} #{id} [p{priority}] {title}", if done { "[x]" } else { "[ ]" });
        any = true;
    }
    if !any {
        println!("no tasks yet: tasks add <title> [--priority 1-3]");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn fresh_database_has_the_task_table() {
        let db = envdb::testing::fresh(&MIGRATIONS).unwrap();
        db.conn().execute("INSERT INTO tasks (title, priority) VALUES ('a', 1)", []).unwrap();
        let n: i64 = db.conn().query_row("SELECT count(*) FROM tasks", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        let info = db.version_info();
        assert_eq!(info.database_schema_version, MIGRATIONS.latest());
        assert_eq!(info.pending, 0);
    }

    #[test]
    fn priority_is_checked() {
        let db = envdb::testing::fresh(&MIGRATIONS).unwrap();
        assert!(db.conn().execute("INSERT INTO tasks (title, priority) VALUES ('a', 9)", []).is_err());
    }
}
