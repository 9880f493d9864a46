//! This repository's own xtask, reached through the `xtask` alias in `.cargo/config.toml`.
//! It dogfoods the library: `cargo xtask db …` is the full cargo-envdb command line.
//!
//! - `cargo xtask db <command>`: any cargo-envdb command, against this repository
//! - `cargo xtask dev-start [ARGS]`: migrate the dev database, then run the demo with ARGS
//! - `cargo xtask dev-reset`: back up, recreate, migrate and seed the dev database
//! - `cargo xtask bench [--quick]`: benchmarks, each figure next to its reference, saved to
//!   `target/bench.json`; `cargo xtask bench --markdown` prints the README's table from it;
//!   `--pg-ops` runs the PostgreSQL backup and restore rows alone (`$ENVDB_BENCH_PG_MIB` sizes them)
//! - `cargo xtask stress [--quick] [--report [--markdown]]`: crash and concurrency runs, every check
//!   per scenario, and the README's Reliability table (`--markdown`)
//! - `cargo xtask test [ARGS]`: installs what the tests call when it is missing, then
//!   `$CARGO test --workspace ARGS` (the README's test command)
//! - `cargo xtask ci`: `test`, then formatting and lints, as `.ci/run` does

mod bench;
mod provenance;
mod stress;
mod test;

use std::process::{Command, ExitCode};

/// Prints an error the way every subcommand does, as a failure.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn status(cmd: &mut Command) -> ExitCode {
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("error: cannot run {cmd:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The dev database, resolved by the library exactly as the command line resolves it.
fn dev_database() -> Option<std::path::PathBuf> {
    let project = envdb::project::Project::discover(&std::env::current_dir().ok()?).ok()?;
    let dirs = envdb::environment::Dirs::os();
    let envs = envdb::environment::Environments::load(&project.config, &project.root, &project.name(), &dirs).ok()?;
    Some(envs.specs.get("dev")?.database.clone())
}

fn db(args: &[&str]) -> ExitCode {
    envdb::cli::run_from(std::iter::once("cargo xtask db").chain(args.iter().copied()))
}

/// What `.ci/run` runs: the tests as `cargo xtask test` runs them, then formatting and lints.
fn ci() -> anyhow::Result<ExitCode> {
    let code = test::run(&[])?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    for step in [&["fmt", "--all", "--check"][..], &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]]
    {
        let code = status(test::cargo()?.args(step));
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("db") => db(&rest),
        Some("dev-start") => {
            // A brand-new dev database gets the seed data too, so the demo has something to show.
            let fresh = !dev_database().is_some_and(|p| p.exists());
            let migrated = db(&["migrate", "--env", "dev"]);
            if migrated != ExitCode::SUCCESS {
                return migrated;
            }
            if fresh {
                let seeded = db(&["seed", "--env", "dev"]);
                if seeded != ExitCode::SUCCESS {
                    return seeded;
                }
            }
            report(test::cargo().map(|mut c| status(c.args(["run", "--quiet", "-p", "envdb-demo", "--"]).args(&rest))))
        }
        Some("dev-reset") => db(&["reset", "--env", "dev"]),
        Some("bench") if rest.contains(&"--markdown") => match bench::markdown() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("bench") if rest.contains(&"--pg-ops") => match bench::run_pg_ops(rest.contains(&"--quick")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("bench") => match bench::run(rest.contains(&"--quick")) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("stress") => {
            match stress::run(rest.contains(&"--quick"), rest.contains(&"--report"), rest.contains(&"--markdown")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("__writer") => match rest.first().map(|db| stress::writer(db)) {
            Some(Ok(())) => ExitCode::SUCCESS,
            Some(Err(e)) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
            None => {
                eprintln!("usage: cargo xtask __writer DB");
                ExitCode::from(2)
            }
        },
        Some("__open-bench") => match bench::open_child(&rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("__peak") => match bench::peak_child(&rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some("test") => report(test::run(&rest)),
        Some("ci") => report(ci()),
        _ => {
            eprintln!(
                "usage: cargo xtask <db COMMAND… | dev-start [ARGS…] | dev-reset | test [ARGS…] | bench [--quick | --markdown | --pg-ops [--quick]] | stress [--quick] [--report [--markdown]] | ci>"
            );
            ExitCode::from(2)
        }
    }
}
