//! `envdb::build` in a real host crate's build script: the build embeds the migrations, and
//! fails with the check's message when a migration is edited without `cargo envdb hash`.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn a_host_build_embeds_and_then_refuses_an_edited_migration() {
    let t = Test::with(&[
        ("0001_a.sql", "CREATE TABLE a (x);\n"),
        ("0002_b.sql", "CREATE TABLE b (x);\n"),
        ("0002_b.down.sql", "DROP TABLE b;\n"),
    ]);
    let envdb = env!("CARGO_MANIFEST_DIR");
    // Only the file side: no SQLite is compiled for the build script or the binary.
    t.write(
        "Cargo.toml",
        format!(
            "[package]\nname = \"buildhost\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false }}\n\n\
             [build-dependencies]\nenvdb = {{ package = \"cargo-envdb\", path = {envdb:?}, default-features = false }}\n\n[workspace]\n"
        ),
    );
    t.write("build.rs", "fn main() { envdb::build::embed().expect(\"migrations\"); }\n");
    t.write(
        "src/main.rs",
        "static MIGRATIONS: envdb::Migrations = envdb::embedded!();\n\
         fn main() {\n    for m in MIGRATIONS.iter() {\n        println!(\"{} {} down={}\", m.version, m.name, m.down.is_some());\n    }\n}\n",
    );
    let cargo = |args: &[&str]| {
        Run::from(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(args)
                .current_dir(t.root())
                .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("build-host-target"))
                .output()
                .unwrap(),
        )
    };
    cargo(&["run", "--quiet"]).success().stdout_has("1 0001_a.sql down=false\n2 0002_b.sql down=true\n");

    t.write("migrations/0002_b.sql", "CREATE TABLE b (x, y);\n");
    cargo(&["build", "--quiet"])
        .code(101)
        .stderr_has("migrations/0002_b.sql: content differs from the checksum in the sum file")
        .stderr_has("cargo envdb hash");

    t.run(&["hash"]).success();
    t.write("migrations/0003_c.sql", "CREATE TABLE c (x);\n");
    t.run(&["hash"]).success();
    cargo(&["run", "--quiet"]).success().stdout_has("3 0003_c.sql down=false");
}
