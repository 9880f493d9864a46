//! What a host application links: the runtime features bring none of the command line's crates,
//! and `app-cli` brings clap and the command layer but none of the authoring commands' crates.

use std::process::Command;

/// The crates `cargo-envdb` depends on (normal dependencies, the whole tree) with `features`
/// and no default features.
fn linked(features: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "cargo-envdb", "--no-default-features", "--features", features])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_runtime_links_no_command_line_crate_and_app_cli_no_authoring_crate() {
    let authoring = ["duct", "cargo_metadata", "toml_edit", "clap_complete"];
    let runtime = linked("runtime,postgres,testing");
    for c in authoring.iter().chain(&["clap", "indicatif", "anyhow"]) {
        assert!(!runtime.iter().any(|l| l == c), "the runtime links {c}");
    }
    let app = linked("app-cli");
    assert!(app.iter().any(|l| l == "clap"), "{app:?}");
    for c in authoring {
        assert!(!app.iter().any(|l| l == c), "app-cli links {c}");
    }
}
