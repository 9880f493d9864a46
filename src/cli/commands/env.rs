//! `cargo envdb env`: which environment a command would use, why, and where its database stands.

use crate::cli::Ctx;
use crate::cli::target::{self, EnvArgs};
use crate::db::OpenOptions;
use crate::db::location::Location;
use crate::environment::{ChosenBy, EnvSpec, Environment, Environments, canonical};
use crate::migration_dir::MigrationDir;
use crate::project::Project;
use crate::{check, plan};
use anyhow::Context as _;
use serde::Serialize;
use std::process::ExitCode;

/// Show the resolved environment (or --all), how it was chosen, and its database's state
///
/// Example: `ENVDB_ENV=test cargo envdb env`, `cargo envdb env --all`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    env: EnvArgs,
    /// One block per environment
    #[arg(long, conflicts_with = "adopt")]
    all: bool,
    /// Record the resolved environment in its database, replacing the one it records (after a deliberate copy)
    #[arg(long)]
    adopt: bool,
}

#[derive(Serialize)]
struct Block {
    environment: String,
    chosen_by: Option<String>,
    protected: bool,
    data_dir: String,
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// The file, or the PostgreSQL URL with its password replaced by `***`.
    database: String,
    /// Whether the database exists; `null` when that could not be found out (an unreachable
    /// server, a url whose variable is unset).
    exists: Option<bool>,
    recorded_environment: Option<String>,
    database_version: u64,
    migrations_version: u64,
    pending: usize,
    status: String,
}

fn block(
    spec: &EnvSpec,
    chosen_by: Option<&ChosenBy>,
    migrations: &[crate::Migration<'_>],
    show: &dyn Fn(&std::path::Path) -> String,
) -> Block {
    let latest = migrations.last().map_or(0, |m| m.version);
    let mut b = Block {
        environment: spec.name.clone(),
        chosen_by: chosen_by.map(ToString::to_string),
        protected: spec.protected,
        data_dir: show(&spec.data_dir),
        backend: if spec.url.is_some() { "postgres" } else { "sqlite" },
        database: spec.location(show),
        exists: spec.url.is_none().then(|| spec.database.exists()),
        recorded_environment: None,
        database_version: 0,
        migrations_version: latest,
        pending: migrations.len(),
        status: "not created yet".into(),
    };
    if let Some(Err(e)) = &spec.url {
        b.status = e.to_string().lines().next().unwrap_or_default().to_owned();
        return b;
    }
    if b.exists == Some(false) {
        return b;
    }
    let location = Location::of_spec(spec).with_connect_timeout(std::time::Duration::from_secs(3));
    let opts = OpenOptions { create: false, read_only: true, ..OpenOptions::default() };
    let read = location.open_existing(opts).and_then(|found| match found {
        Some(mut db) => Ok(Some((db.applied()?, db.meta("environment")?))),
        None => Ok(None),
    });
    match read {
        Err(e) => b.status = format!("unreadable: {}", e.to_string().lines().next().unwrap_or_default()),
        Ok(None) => b.exists = Some(false),
        Ok(Some((applied, recorded))) => {
            b.exists = Some(true);
            b.database_version = applied.last().map_or(0, |a| a.version);
            b.pending = migrations.iter().filter(|m| m.version > b.database_version).count();
            let drift = plan::drift(migrations, &applied);
            b.status = if recorded.as_deref().is_some_and(|r| r != spec.name) {
                format!("belongs to `{}`, refused", recorded.as_deref().unwrap_or_default())
            } else if b.database_version > latest {
                "newer than the migrations on disk".into()
            } else if !drift.is_empty() {
                format!("drift: changed {:?}, gone {:?}, holes {:?}", drift.changed, drift.gone, drift.holes)
            } else if b.pending > 0 {
                format!("{} pending", b.pending)
            } else {
                "up to date".into()
            };
            b.recorded_environment = recorded;
        }
    }
    b
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let envs = target::environments(&project)?;
    let dir = MigrationDir::read(&project.migrations, &project.show(&project.migrations))?;
    let report = check::check_as(&dir, false, project.config.dialect());
    let migrations = if report.is_ok() { dir.migrations() } else { Vec::new() };
    let show = |p: &std::path::Path| project.show(p).display().to_string();
    let resolved = target::resolve_env(&project, &args.env)?;
    if args.adopt {
        return adopt(ctx, &project, &envs, &resolved);
    }
    let blocks: Vec<Block> = if args.all {
        envs.specs
            .values()
            .map(|s| block(s, (s.name == resolved.name()).then_some(&resolved.chosen_by), &migrations, &show))
            .collect()
    } else {
        vec![block(&resolved.spec, Some(&resolved.chosen_by), &migrations, &show)]
    };
    if ctx.out.json() {
        ctx.out.print_json(&if args.all { serde_json::to_value(&blocks)? } else { serde_json::to_value(&blocks[0])? });
        return Ok(ExitCode::SUCCESS);
    }
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            ctx.out.line("");
        }
        let chosen = b.chosen_by.as_ref().map_or(String::new(), |c| format!(" (chosen by {c})"));
        ctx.out.line(format!("environment: {}{chosen}{}", b.environment, if b.protected { ", protected" } else { "" }));
        ctx.out.line(format!("data dir:    {}", b.data_dir));
        ctx.out.line(format!("database:    {}", b.database));
        ctx.out.line(format!(
            "schema:      database {}, migrations {}, {} pending",
            b.database_version, b.migrations_version, b.pending
        ));
        ctx.out.line(format!("status:      {}", b.status));
    }
    if !report.is_ok() {
        ctx.out.warn("the migrations fail `cargo envdb check`; pending counts are not shown");
    }
    Ok(ExitCode::SUCCESS)
}

/// Records `env` in its database after a deliberate copy. The database is taken from the
/// environment it records: when that one is protected, it confirms first (before `env` does), the
/// adoption is in its audit log, and a test run cannot do it at all.
fn adopt(ctx: &mut Ctx, project: &Project, envs: &Environments, env: &Environment) -> anyhow::Result<ExitCode> {
    let path = env.database();
    let location = crate::db::location::Location::of(env);
    let db = std::cell::RefCell::new(location.open(OpenOptions { create: false, ..OpenOptions::default() })?);
    let before = db.borrow_mut().meta("environment")?;
    let owner = match before.as_deref() {
        Some(recorded) if canonical(recorded) != env.name() => {
            Some(envs.owner_of(recorded, path, &|k| std::env::var(k).ok())?)
        }
        _ => None,
    };
    if let Some(owner) = &owner {
        crate::cli::protect::confirm(ctx, owner, &format!("adopt as `{}` the database of", env.name()))?;
    }
    crate::cli::protect::confirm(ctx, env, "adopt a database as")?;
    let version = || db.borrow_mut().latest().unwrap_or(0);
    let relabel = || db.borrow_mut().adopt(env.name()).context("recording the environment");
    crate::cli::audit::audited(env, version, || match &owner {
        Some(owner) => crate::cli::audit::audited(owner, version, relabel),
        None => relabel(),
    })?;
    ctx.out.status(
        "Adopted",
        format!(
            "{} as `{}` (it recorded {})",
            location.file().map_or_else(|| location.label(), |f| project.show(f).display().to_string()),
            env.name(),
            before.map_or("no environment".into(), |b| format!("`{b}`"))
        ),
    );
    Ok(ExitCode::SUCCESS)
}
