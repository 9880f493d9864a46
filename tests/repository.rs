//! This repository's own envdb assets (the demo's envdb.toml, migrations and seed) work through
//! the real binary, in a copy so that the working tree's .envdb/ is never touched.

mod common;
use common::*;

#[test]
fn the_demo_migrations_and_seed_apply_cleanly() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = Test::empty();
    std::fs::copy(repo.join("envdb.toml"), t.path("envdb.toml")).unwrap();
    for dir in ["migrations", "seeds"] {
        std::fs::create_dir_all(t.path(dir)).unwrap();
        for entry in std::fs::read_dir(repo.join(dir)).unwrap().flatten() {
            std::fs::copy(entry.path(), t.path(dir).join(entry.file_name())).unwrap();
        }
    }
    t.run(&["check", "--strict"]).success();
    t.run(&["reset"]).success().stderr_has("Seeded .envdb/dev/tasks.db from seeds/dev.sql");
    t.run(&["validate"]).success();
    t.run(&["migrate", "--env", "test"]).success();
    t.run(&["rollback", "--env", "test"]).success().stderr_has("2 → 1");
    let tasks: i64 = rusqlite::Connection::open(t.path(".envdb/dev/tasks.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert!(tasks > 0);
}
