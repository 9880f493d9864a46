//! `cargo-envdb`: the cargo subcommand. Everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    envdb::cli::main()
}
