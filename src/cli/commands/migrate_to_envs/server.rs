//! `migrate-to-envs --from postgres://…`: a legacy PostgreSQL database copied into each
//! environment's database on a server (`db::postgres::copy`), after a verified `pg_dump` archive
//! of it was taken; the legacy database is only read.

use crate::cli::Ctx;
use crate::cli::target::{self, EnvArgs};
use crate::db::backup::options::DumpOptions;
use crate::db::backup::{self, BackupOptions};
use crate::db::location::Location;
use crate::db::postgres::copy::{self, How};
use crate::db::postgres::{PgOptions, Postgres};
use crate::db_url::DbUrl;
use anyhow::Context as _;
use std::process::ExitCode;

/// An environment's database on a server: its URL and settings.
fn server_of(env: &crate::environment::Environment) -> anyhow::Result<(DbUrl, PgOptions)> {
    if let Some(Err(e)) = &env.spec.url {
        return Err(e.clone().into());
    }
    match Location::of(env) {
        Location::Server { url, opts } => Ok((*url, opts)),
        Location::File(path) => anyhow::bail!(
            "the environment `{}` keeps its database in the file {}, and --from names a PostgreSQL database; nothing was changed\n  help: give `{}` a url in envdb.toml (a PostgreSQL database is copied into PostgreSQL databases), or copy from a SQLite file",
            env.name(),
            path.display(),
            env.name()
        ),
    }
}

pub fn exec(from: &str, to: &[String], force: bool, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let project = ctx.project()?;
    let url = DbUrl::parse(from).context("--from is not a database URL envdb can read; nothing was changed")?;
    let label = url.redacted();
    let legacy = copy::legacy(&url, &PgOptions::default())
        .with_context(|| format!("cannot read the legacy database {label}; nothing was changed"))?;

    // Resolve every target and refuse existing ones before anything is written.
    let mut targets = Vec::new();
    for name in to {
        let env = target::resolve_env(&project, &EnvArgs { env: Some(name.clone()), ..EnvArgs::default() })?;
        let (target, opts) = server_of(&env)?;
        anyhow::ensure!(
            !target.same_database(&url),
            "the environment `{}` is the legacy database itself ({label}); choose other environments",
            env.name()
        );
        if Location::of(&env).exists() {
            anyhow::ensure!(
                force,
                "`{}` already has a database ({}); nothing was changed\n  help: pass --force to replace it (the database it replaces is kept beside it as `<db>__replaced_<time>`)",
                env.name(),
                target.redacted()
            );
            crate::cli::protect::confirm(ctx, &env, "replace the database of")?;
        }
        targets.push((env, target, opts));
    }

    // The original, backed up (verified) before anything else; a copy on another server loads it.
    let (first, ..) = targets.first().context("--to names no environment")?;
    let dir = backup::dir(&first.spec.data_dir);
    let recorded = legacy.environment.clone().unwrap_or_else(|| String::from("legacy"));
    let at = Location::Server { url: Box::new(url.clone()), opts: PgOptions::default() };
    let safety = at
        .backup(&recorded, &dir, None, BackupOptions::default(), DumpOptions::default(), &mut |_, _| {})
        .with_context(|| format!("cannot back up the legacy database {label}; nothing was changed"))?;
    ctx.out.status("Backed up", format!("{label} → {}", project.show(&safety.path).display()));

    for (env, target, opts) in &targets {
        let version_of = || {
            Postgres::connect(target.expose_secret(), target.redacted(), opts.clone())
                .and_then(|mut db| crate::db::backend::Database::latest(&mut db))
                .unwrap_or(0)
        };
        let copied = crate::cli::audit::audited(env, version_of, || {
            copy::copy(&legacy, &safety.path, target, opts, env.name(), &env.spec.project)
                .with_context(|| format!("cannot copy {label} into `{}` ({})", env.name(), target.redacted()))
        })?;
        if let Some(kept) = &copied.kept {
            ctx.out.status("Kept", format!("the replaced {} database as {kept} (`prune` drops it)", env.name()));
        }
        let how = match copied.how {
            How::Template => "CREATE DATABASE … TEMPLATE",
            How::Archive => "pg_dump archive loaded with pg_restore",
        };
        ctx.out.status(
            "Copied",
            format!(
                "{label} → {} ({}) by {how}: {} tables, {} rows, verified",
                env.name(),
                target.redacted(),
                legacy.counts.len(),
                legacy.rows()
            ),
        );
    }
    if legacy.version == 0 {
        ctx.out.line_err(format!(
            "note: the legacy database has no envdb history; once its schema matches migration N, adopt each copy with `cargo envdb baseline N --env {}`",
            targets[0].0.name()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
