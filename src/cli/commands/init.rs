//! `cargo envdb init`: set a cargo project up for envdb, merging with what is there.

use crate::cli::Ctx;
use crate::cli::scaffold::{self, Merge};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Set up envdb in this cargo package or workspace (running it twice changes nothing)
///
/// Writes envdb.toml, migrations/0001_initial.sql and its sum file, seeds/dev.sql, .gitignore and
/// .gitattributes entries, .cargo/config.toml aliases and justfile recipes (merged, never
/// clobbered), and prints the build.rs and Cargo.toml lines to add.
///
/// Example: `cargo envdb init --xtask`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also create an xtask/ workspace member whose `cargo xtask db …` runs envdb
    #[arg(long)]
    xtask: bool,
    /// Do not add justfile recipes
    #[arg(long)]
    no_justfile: bool,
    /// Do not add .cargo/config.toml aliases
    #[arg(long)]
    no_aliases: bool,
    /// Print every file that would be written or changed; change nothing
    #[arg(long)]
    dry_run: bool,
    /// The dependency line the generated xtask uses for envdb
    #[arg(long, hide = true, default_value = r#"{ package = "cargo-envdb", version = "0.1" }"#)]
    envdb_dependency: String,
}

/// One planned write.
struct Write {
    path: PathBuf,
    content: String,
    created: bool,
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn xtask_main() -> &'static str {
    "//! This project's xtask: `cargo xtask db <command>` runs cargo-envdb's command line.\n\n\
     fn main() -> std::process::ExitCode {\n    \
         let args: Vec<String> = std::env::args().skip(1).collect();\n    \
         match args.first().map(String::as_str) {\n        \
             Some(\"db\") => envdb::cli::run_from(std::iter::once(\"cargo xtask db\".to_owned()).chain(args[1..].iter().cloned())),\n        \
             _ => {\n            \
                 eprintln!(\"usage: cargo xtask db <command>\");\n            \
                 std::process::ExitCode::from(2)\n        \
             }\n    \
         }\n\
     }\n"
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let mut metadata = cargo_metadata::MetadataCommand::new();
    metadata.no_deps();
    if let Some(p) = &ctx.global.manifest_path {
        metadata.manifest_path(p);
    }
    let start = match &ctx.global.manifest_path {
        Some(p) => p.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    anyhow::ensure!(
        start.ancestors().any(|d| d.join("Cargo.toml").is_file()),
        "init needs a cargo package or workspace, and there is no Cargo.toml in {} or above\n  help: run it inside one (create one with `cargo new`), or pass --manifest-path",
        start.display()
    );
    let metadata = metadata
        .exec()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("`cargo metadata` failed, so init cannot read the project; nothing was written")?;
    let root: PathBuf = metadata.workspace_root.clone().into();
    let name = metadata
        .root_package()
        .map(|p| p.name.to_string())
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let runner = if args.xtask { "xtask db" } else { "envdb" };

    let mut writes: Vec<Write> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let mut plan = |path: PathBuf, merge: Merge, existed: bool| {
        kept.extend(merge.kept);
        if let Some(content) = merge.content {
            writes.push(Write { path, content, created: !existed });
        }
    };
    let new_file = |path: &Path, content: &str| -> anyhow::Result<Merge> {
        Ok(Merge { content: read(path)?.is_none().then(|| content.to_owned()), kept: Vec::new() })
    };

    let config = root.join("envdb.toml");
    plan(config.clone(), new_file(&config, &scaffold::envdb_toml(&name))?, config.exists());
    let migrations = root.join("migrations");
    let has_migrations = std::fs::read_dir(&migrations)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".sql")))
        .unwrap_or(false);
    if !has_migrations {
        let first = migrations.join("0001_initial.sql");
        plan(first, Merge { content: Some(scaffold::INITIAL_MIGRATION.into()), kept: vec![] }, false);
        let name = crate::file_name::FileName::parse("0001_initial.sql").expect("valid");
        let sum = crate::sum_file::SumFile::from_files([(
            &name,
            crate::checksum::checksum(scaffold::INITIAL_MIGRATION.as_bytes()).as_str(),
        )]);
        plan(
            migrations.join(crate::sum_file::FILE_NAME),
            Merge { content: Some(sum.to_string()), kept: vec![] },
            false,
        );
    }
    let seed = root.join("seeds/dev.sql");
    plan(seed.clone(), new_file(&seed, scaffold::DEV_SEED)?, seed.exists());
    let gitignore = root.join(".gitignore");
    plan(gitignore.clone(), scaffold::append_lines(read(&gitignore)?.as_deref(), &[".envdb/"]), gitignore.exists());
    let gitattributes = root.join(".gitattributes");
    plan(
        gitattributes.clone(),
        scaffold::append_lines(read(&gitattributes)?.as_deref(), &["*.sql text eol=lf"]),
        gitattributes.exists(),
    );

    if !args.no_aliases {
        let path = root.join(".cargo/config.toml");
        let mut aliases = vec![
            ("dev", format!("{runner} run --env dev --")),
            ("dev-reset", format!("{runner} reset --env dev")),
            ("dev-status", format!("{runner} status --env dev")),
            ("db-migrate", format!("{runner} migrate")),
            ("db-new", format!("{runner} new")),
        ];
        if args.xtask {
            aliases.push(("xtask", "run --quiet --package xtask --".into()));
        }
        let pairs: Vec<(&str, &str)> = aliases.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let current = read(&path)?;
        let merge = scaffold::merge_aliases(current.as_deref(), &pairs)
            .map_err(|e| anyhow::anyhow!("{} is not valid TOML, so init leaves it untouched:\n{e}", path.display()))?;
        plan(path.clone(), merge, current.is_some());
    }
    if !args.no_justfile {
        let path = root.join("justfile");
        let cargo_cmd = if args.xtask { "cargo xtask db" } else { "cargo envdb" };
        let recipes = [
            (
                "dev-start",
                format!(
                    "# Migrate the dev database and run the application in it.\ndev-start *ARGS:\n    {cargo_cmd} run --env dev -- {{{{ARGS}}}}\n"
                ),
            ),
            (
                "dev-reset",
                format!(
                    "# Back up, recreate, migrate and seed the dev database.\ndev-reset:\n    {cargo_cmd} reset --env dev\n"
                ),
            ),
            (
                "dev-status",
                format!("# Where the dev database stands.\ndev-status:\n    {cargo_cmd} status --env dev\n"),
            ),
            (
                "test",
                format!(
                    "# The tests, against a fresh migrated test database.\ntest *ARGS:\n    {cargo_cmd} test -- {{{{ARGS}}}}\n"
                ),
            ),
            ("db-check", format!("# Verify the migrations and their sum file.\ndb-check:\n    {cargo_cmd} check\n")),
            (
                "prod-upgrade",
                format!(
                    "# Back up, migrate and validate production (stop the service first).\nprod-upgrade:\n    {cargo_cmd} upgrade --env prod\n"
                ),
            ),
        ];
        let pairs: Vec<(&str, &str)> = recipes.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let current = read(&path)?;
        plan(path, scaffold::merge_justfile(current.as_deref(), &pairs), current.is_some());
    }
    if args.xtask {
        let manifest = root.join("xtask/Cargo.toml");
        let cargo = format!(
            "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nenvdb = {}\n",
            args.envdb_dependency
        );
        plan(manifest.clone(), new_file(&manifest, &cargo)?, manifest.exists());
        let main = root.join("xtask/src/main.rs");
        plan(main.clone(), new_file(&main, xtask_main())?, main.exists());
        let root_manifest = root.join("Cargo.toml");
        let current = read(&root_manifest)?.context("the workspace has no root Cargo.toml")?;
        let merge = scaffold::add_workspace_member(&current, "xtask")
            .map_err(|e| anyhow::anyhow!("{}: {e}", root_manifest.display()))?;
        plan(root_manifest, merge, true);
    }

    let show = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
    for k in &kept {
        ctx.out.warn(k);
    }
    for w in &writes {
        let verb = match (args.dry_run, w.created) {
            (true, true) => "Would create",
            (true, false) => "Would update",
            (false, true) => "Created",
            (false, false) => "Updated",
        };
        if !args.dry_run {
            if let Some(dir) = w.path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            crate::fs_util::write_atomic(&w.path, w.content.as_bytes())
                .with_context(|| format!("cannot write {}", w.path.display()))?;
        }
        ctx.out.status(verb, show(&w.path));
    }
    if writes.is_empty() {
        ctx.out.status("Fresh", format!("{} is already set up for envdb", root.display()));
    }
    ctx.out.line("\nTo verify and embed the migrations at build time, add to the application's Cargo.toml:\n\n\
         [dependencies]\nenvdb = { package = \"cargo-envdb\", version = \"0.1\", default-features = false, features = [\"runtime\"] }\n\n\
         [build-dependencies]\nenvdb = { package = \"cargo-envdb\", version = \"0.1\", default-features = false }\n\n\
         and to its build.rs:\n\n\
         fn main() { envdb::build::embed().expect(\"migrations\"); }\n".to_string());
    Ok(ExitCode::SUCCESS)
}
