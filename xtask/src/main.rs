//! This repository's own xtask: dogfoods the library (`cargo xtask db …`) and runs benchmarks.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("db") => envdb::cli::run_from(std::iter::once("cargo xtask db".to_owned()).chain(args[1..].iter().cloned())),
        _ => {
            eprintln!("usage: cargo xtask db <command>");
            ExitCode::from(2)
        }
    }
}
