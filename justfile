# Thin wrappers over `cargo xtask`, which dogfoods the cargo-envdb library.

# List the recipes.
default:
    @just --list

# Migrate the dev database, then run the demo task list (pass its arguments: just dev-start add "buy milk").
dev-start *ARGS:
    cargo xtask dev-start {{ARGS}}

# Back up, recreate, migrate and seed the dev database.
dev-reset:
    cargo xtask dev-reset

# Where the dev database stands.
dev-status:
    cargo xtask db status

# Any cargo-envdb command against this repository: just db migrate --env test
db *ARGS:
    cargo xtask db {{ARGS}}

# Verify the migrations and the sum file.
db-check:
    cargo xtask db check --strict

# The whole test suite (the README's test command): installs what the tests call when it is missing.
test *ARGS:
    cargo xtask test {{ARGS}}

# Formatting and lints, as CI runs them.
check:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks, each figure next to its reference (add --quick for a short run).
bench *ARGS:
    cargo xtask bench {{ARGS}}
