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

/// The README's test command is `cargo xtask test` everywhere it is named: the quick start,
/// `.ci/run` (exactly that line) and the justfile's `test` recipe, which real `just` accepts.
#[test]
fn the_test_command_is_cargo_xtask_test_in_readme_ci_and_justfile() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |rel: &str| std::fs::read_to_string(repo.join(rel)).unwrap();
    let readme = read("README.md");
    let quick_start = readme.split("## Quick start").nth(1).unwrap().split("\n## ").next().unwrap();
    assert!(quick_start.contains("\ncargo xtask test "), "{quick_start}");
    assert!(!quick_start.contains("\ncargo test"), "{quick_start}");
    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l == "cargo xtask test"), "{ci}");
    assert!(!ci.lines().any(|l| l.starts_with("cargo test")), "{ci}");
    require_just();
    let just = |args: &[&str]| {
        let out = std::process::Command::new("just").arg("--justfile").arg(repo.join("justfile")).args(args).output();
        let out = out.unwrap();
        assert!(out.status.success(), "just {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(just(&["--summary"]).split_whitespace().any(|r| r == "test"));
    assert!(just(&["--show", "test"]).contains("\n    cargo xtask test "));
}
