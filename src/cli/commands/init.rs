//! `cargo envdb init`: set a cargo project up for envdb, merging with what is there.

use crate::cli::Ctx;
use crate::cli::scaffold::source::{self, EnvdbSource};
use crate::cli::scaffold::{self, Merge, justfile, manifest};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Set up envdb in this cargo package or workspace (running it twice changes nothing)
///
/// Writes envdb.toml, migrations/0001_initial.sql and its sum file, seeds/dev.sql, .gitignore and
/// .gitattributes entries, .cargo/config.toml aliases and justfile recipes (merged, never
/// clobbered); adds the envdb dependencies to the package's Cargo.toml and creates its build.rs,
/// so that the package builds right away.
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
    /// Where the envdb dependencies come from: path:DIR, git:URL@REV or version:X (default: where
    /// this cargo-envdb was installed or built from)
    #[arg(long, value_name = "SOURCE")]
    envdb_source: Option<EnvdbSource>,
    /// The package whose code opens the database (default: the root package, else the
    /// workspace's only package)
    #[arg(long, short = 'p', value_name = "NAME")]
    package: Option<String>,
}

/// One planned write.
struct Write {
    path: PathBuf,
    content: String,
    created: bool,
}

/// Every change, planned before the first write.
#[derive(Default)]
struct Plan {
    writes: Vec<Write>,
    kept: Vec<String>,
}

impl Plan {
    /// The content a file will have: as planned so far, else as it is on disk.
    fn current(&self, path: &Path) -> anyhow::Result<Option<String>> {
        match self.writes.iter().find(|w| w.path == path) {
            Some(w) => Ok(Some(w.content.clone())),
            None => read(path),
        }
    }

    fn add(&mut self, path: PathBuf, merge: Merge) {
        self.kept.extend(merge.kept);
        let Some(content) = merge.content else { return };
        match self.writes.iter_mut().find(|w| w.path == path) {
            Some(w) => w.content = content,
            None => {
                let created = std::fs::symlink_metadata(&path).is_err();
                self.writes.push(Write { path, content, created });
            }
        }
    }

    /// A file written only when it does not exist.
    fn create(&mut self, path: PathBuf, content: &str) -> anyhow::Result<()> {
        let merge = Merge { content: self.current(&path)?.is_none().then(|| content.to_owned()), kept: Vec::new() };
        self.add(path, merge);
        Ok(())
    }
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn xtask_main(crate_name: &str) -> String {
    format!(
        "//! This project's xtask: `cargo xtask db <command>` runs cargo-envdb's command line.\n\n\
     fn main() -> std::process::ExitCode {{\n    \
         let args: Vec<String> = std::env::args().skip(1).collect();\n    \
         match args.first().map(String::as_str) {{\n        \
             Some(\"db\") => {crate_name}::cli::run_from(std::iter::once(\"cargo xtask db\".to_owned()).chain(args[1..].iter().cloned())),\n        \
             _ => {{\n            \
                 eprintln!(\"usage: cargo xtask db <command>\");\n            \
                 std::process::ExitCode::from(2)\n        \
             }}\n    \
         }}\n\
     }}\n"
    )
}

/// The package whose Cargo.toml gets the envdb dependencies.
fn application<'m>(
    metadata: &'m cargo_metadata::Metadata,
    wanted: Option<&str>,
) -> anyhow::Result<&'m cargo_metadata::Package> {
    let members = metadata.workspace_packages();
    let names = || members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>().join(", ");
    if let Some(name) = wanted {
        return members.iter().copied().find(|p| p.name.as_str() == name).with_context(|| {
            format!("the workspace has no package `{name}` (its packages: {}); nothing was written", names())
        });
    }
    if let Some(root) = metadata.root_package() {
        return Ok(root);
    }
    let candidates: Vec<_> = members.iter().copied().filter(|p| p.name.as_str() != "xtask").collect();
    // A second run: the package an earlier init (or the user) gave the dependency.
    let depending: Vec<_> =
        candidates.iter().copied().filter(|p| p.dependencies.iter().any(|d| d.name == source::PACKAGE)).collect();
    match (&candidates[..], &depending[..]) {
        ([only], _) | (_, [only]) => Ok(only),
        _ => anyhow::bail!(
            "init adds the envdb dependencies to the package that opens the database, and this workspace has {} ({}); nothing was written\n  help: name it with --package NAME",
            if candidates.is_empty() { "none".to_owned() } else { "several".to_owned() },
            names()
        ),
    }
}

/// The line a build script needs.
fn embed_line(crate_name: &str) -> String {
    format!("{crate_name}::build::embed().expect(\"migrations\");")
}

/// Where the dependencies come from: the flag, else where this binary came from. Only needed
/// when an entry is added without an envdb dependency to copy its source from.
struct Source {
    found: anyhow::Result<(EnvdbSource, String, Option<String>)>,
    used: bool,
}

impl Source {
    /// Adds the envdb entries `wanted` to the manifest at `path` (its current content `text`);
    /// returns the name the crate is reached by in code.
    fn merge(
        &mut self,
        plan: &mut Plan,
        path: &Path,
        text: &str,
        root: &Path,
        wanted: &[manifest::Wanted],
    ) -> anyhow::Result<String> {
        let dir = path.parent().unwrap_or(root);
        let keys = self.found.as_ref().map(|(s, _, _)| s.keys(dir, root));
        let merged = manifest::merge_dependencies(text, keys.as_deref().ok(), wanted).map_err(|e| {
            anyhow::anyhow!("{} is not a valid Cargo.toml, so init leaves it untouched:\n{e}", path.display())
        })?;
        if merged.needs_source
            && let Err(e) = &self.found
        {
            anyhow::bail!("{e:#}");
        }
        if merged.merge.content.is_some() && !merged.used_existing {
            self.used = true;
        }
        plan.add(path.to_owned(), merged.merge);
        Ok(merged.crate_name)
    }
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let mut metadata = cargo_metadata::MetadataCommand::new();
    metadata.no_deps();
    if let Some(p) = &ctx.global.manifest_path {
        metadata.manifest_path(p);
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let start = ctx.global.manifest_path.clone().unwrap_or_else(|| cwd.clone());
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
    let app = application(&metadata, args.package.as_deref())?;
    let name = metadata
        .root_package()
        .map(|p| p.name.to_string())
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let runner = if args.xtask { "xtask db" } else { "envdb" };
    let mut source = Source {
        found: match args.envdb_source {
            Some(given) => source::resolve_given(given, &cwd).map(|s| (s, "--envdb-source".to_owned(), None)),
            None => std::env::current_exe()
                .context("cannot find the running executable")
                .and_then(|exe| source::detect(&exe)),
        },
        used: false,
    };

    let mut plan = Plan::default();
    plan.create(root.join("envdb.toml"), &scaffold::envdb_toml(&name))?;
    let migrations = root.join("migrations");
    let has_migrations = std::fs::read_dir(&migrations)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".sql")))
        .unwrap_or(false);
    if !has_migrations {
        let first = migrations.join("0001_initial.sql");
        plan.add(first, Merge { content: Some(scaffold::INITIAL_MIGRATION.into()), kept: vec![] });
        let name = crate::file_name::FileName::parse("0001_initial.sql").expect("valid");
        let sum = crate::sum_file::SumFile::from_files([(
            &name,
            crate::checksum::checksum(scaffold::INITIAL_MIGRATION.as_bytes()).as_str(),
        )]);
        plan.add(migrations.join(crate::sum_file::FILE_NAME), Merge { content: Some(sum.to_string()), kept: vec![] });
    }
    plan.create(root.join("seeds/dev.sql"), scaffold::DEV_SEED)?;
    let gitignore = root.join(".gitignore");
    let merge = scaffold::append_lines(read(&gitignore)?.as_deref(), &[".envdb/"]);
    plan.add(gitignore, merge);
    let gitattributes = root.join(".gitattributes");
    let merge = scaffold::append_lines(read(&gitattributes)?.as_deref(), &["*.sql text eol=lf"]);
    plan.add(gitattributes, merge);

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
        plan.add(path, merge);
    }
    if !args.no_justfile {
        let path = justfile_path(&root);
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
        let defined = match &current {
            Some(text) => justfile_names(&path, &root, text, ctx),
            None => Vec::new(),
        };
        plan.add(path, justfile::merge_justfile(current.as_deref(), &defined, &pairs));
    }

    // The application's dependencies and build script, so that it builds right away.
    let app_manifest: PathBuf = app.manifest_path.clone().into();
    let app_dir = app_manifest.parent().unwrap_or(&root).to_owned();
    let text = plan.current(&app_manifest)?.with_context(|| format!("cannot read {}", app_manifest.display()))?;
    let crate_name = source.merge(&mut plan, &app_manifest, &text, &root, &manifest::APPLICATION)?;
    let line = embed_line(&crate_name);
    let mut add_to_build_script = None;
    let script = app.targets.iter().find(|t| t.is_custom_build()).map(|t| PathBuf::from(t.src_path.clone()));
    if script.is_none() && has_build_false(&text) {
        plan.kept.push(format!(
            "{} sets `build = false`, so the migrations are neither checked nor embedded at build time; kept as it is",
            show_path(&root, &app_manifest)
        ));
        add_to_build_script = Some((app_dir.join("build.rs"), true));
    } else {
        let script = script.unwrap_or_else(|| app_dir.join("build.rs"));
        match plan.current(&script)? {
            Some(content) if content.contains("::build::embed") => {}
            Some(_) => add_to_build_script = Some((script, false)),
            None => plan.add(script, Merge { content: Some(format!("fn main() {{\n    {line}\n}}\n")), kept: vec![] }),
        }
    }

    if args.xtask {
        let manifest_path = root.join("xtask/Cargo.toml");
        let text = match plan.current(&manifest_path)? {
            Some(text) => text,
            None => "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n".to_owned(),
        };
        let crate_name = source.merge(&mut plan, &manifest_path, &text, &root, &manifest::XTASK)?;
        let main = root.join("xtask/src/main.rs");
        match plan.current(&main)? {
            None => plan.add(main, Merge { content: Some(xtask_main(&crate_name)), kept: vec![] }),
            Some(content) if !content.contains("cli::run_from") => plan.kept.push(format!(
                "xtask/src/main.rs already exists; kept as it is (to have `cargo xtask db …`, pass its arguments to {crate_name}::cli::run_from)"
            )),
            Some(_) => {}
        }
        let root_manifest = root.join("Cargo.toml");
        let current = plan.current(&root_manifest)?.context("the workspace has no root Cargo.toml")?;
        let merge = scaffold::add_workspace_member(&current, "xtask")
            .map_err(|e| anyhow::anyhow!("{}: {e}", root_manifest.display()))?;
        plan.add(root_manifest, merge);
    }

    for k in &plan.kept {
        ctx.out.warn(k);
    }
    if source.used
        && let Ok((s, how, warning)) = &source.found
    {
        ctx.out.status("Source", format!("envdb dependencies from {s} ({how})"));
        if let Some(w) = warning {
            ctx.out.warn(w);
        }
    }
    for w in &plan.writes {
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
        ctx.out.status(verb, show_path(&root, &w.path));
    }
    if plan.writes.is_empty() {
        ctx.out.status("Fresh", format!("{} is already set up for envdb", root.display()));
    }
    if let Some((script, disabled)) = add_to_build_script {
        let script = show_path(&root, &script);
        let what = if disabled {
            format!("add a build script, {script}, that runs this line (and remove `build = false` from Cargo.toml)")
        } else {
            format!("add this line to the `main` of {script}")
        };
        ctx.out.line(format!("\nTo check and embed the migrations at build time, {what}:\n\n    {line}\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// A path as printed, as every command prints paths: relative to the current directory when both
/// are inside the workspace, else absolute.
fn show_path(root: &Path, p: &Path) -> String {
    let cwd = std::env::current_dir().ok().map(|d| crate::project::physical(&d));
    crate::project::shown(&crate::project::physical(root), cwd.as_deref(), p).display().to_string()
}

/// Whether a manifest turns build scripts off (`build = false`).
fn has_build_false(manifest: &str) -> bool {
    manifest.parse::<toml_edit::DocumentMut>().ok().and_then(|d| d.get("package")?.get("build")?.as_bool())
        == Some(false)
}

/// The justfile just would read in `root` (any case of `justfile`, or `.justfile`), else
/// `root/justfile`.
fn justfile_path(root: &Path) -> PathBuf {
    let found = std::fs::read_dir(root).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .find(|p| p.file_name().is_some_and(|n| n.eq_ignore_ascii_case("justfile") || n == ".justfile"))
    });
    found.unwrap_or_else(|| root.join("justfile"))
}

/// The names the justfile defines: from `just --dump` when just is installed and reads it
/// (imports included), else read from its text as just reads it.
fn justfile_names(path: &Path, root: &Path, text: &str, ctx: &mut Ctx) -> Vec<justfile::Defined> {
    let dump = std::process::Command::new("just")
        .arg("--justfile")
        .arg(path)
        .arg("--working-directory")
        .arg(root)
        .args(["--dump", "--dump-format", "json"])
        .stdin(std::process::Stdio::null())
        .output();
    match dump {
        Ok(out) if out.status.success() => {
            if let Some(names) = justfile::names_from_dump(&out.stdout) {
                return names;
            }
            ctx.out.note("`just --dump` printed no JSON; reading the justfile's text instead");
        }
        Ok(out) => ctx.out.warn(format!(
            "just cannot read {}, so init reads its text instead: {}",
            show_path(root, path),
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default()
        )),
        Err(_) => ctx.out.note("just is not installed; reading the justfile's text"),
    }
    justfile::defined_names(text)
}
