//! `tasks`: the demo host application. A task list with priorities whose database is opened,
//! migrated (and, on SQLite, locked) by envdb's runtime, exactly as a user's application would do
//! it: on a SQLite file, or on PostgreSQL for an environment with a url (`tasks --env pg …`).

mod store;

use std::process::ExitCode;
use store::Store;

static MIGRATIONS: envdb::Migrations = envdb::embedded!();

const USAGE: &str = "usage: tasks [--env NAME] [list | add <title> [--priority 1-3] | done <id> | version [-v]] | tasks db <command> (db --help)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The operator's commands (`tasks db status|upgrade|restore|…`): before anything opens the
    // database, which `db upgrade` and `db restore` refuse to work under.
    if args.first().map(String::as_str) == Some("db") {
        return envdb::app::run_from(
            &MIGRATIONS,
            std::iter::once("tasks db".to_owned()).chain(args.into_iter().skip(1)),
        );
    }
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
    // Listing works on a database the code is ahead of (read-only, with a warning); the other
    // commands migrate it first.
    let mut store = Store::open(&env, &MIGRATIONS, matches!(words[..], [] | ["list"]))?;
    for m in store.migrated() {
        eprintln!("migrated: {} ({} ms)", m.name, m.ms);
    }
    match words[..] {
        [] | ["list"] => list(&mut store)?,
        ["add", ref rest @ ..] if !rest.is_empty() => {
            let (title, priority) = match rest {
                [title @ .., "--priority", p] => (title.join(" "), p.parse::<i64>()?),
                title => (title.join(" "), 2),
            };
            let id = store.add(&title, priority)?;
            println!("added #{id}: {title} (priority {priority})");
        }
        ["done", id] => {
            if !store.done(id.parse::<i64>()?)? {
                return Err(format!("no task #{id}").into());
            }
            println!("done #{id}");
        }
        ["version", "-v"] => {
            println!("tasks {}", env!("CARGO_PKG_VERSION"));
            println!("{}", store.version_info());
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn list(store: &mut Store) -> Result<(), Box<dyn std::error::Error>> {
    let tasks = store.list()?;
    for t in &tasks {
        println!("{} #{} [p{}] {}", if t.done { "[x]" } else { "[ ]" }, t.id, t.priority, t.title);
    }
    if tasks.is_empty() {
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
