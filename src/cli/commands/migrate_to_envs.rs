//! `cargo envdb migrate-to-envs`: split a legacy single database into per-environment copies (a
//! SQLite file here; a PostgreSQL database in `server`).

mod server;

use crate::cli::Ctx;
use crate::cli::target::{self, EnvArgs};
use crate::db::{self, DbError, OpenOptions, backup, history};
use anyhow::Context as _;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Copy a legacy single database into each environment's own database, verified
///
/// Example: `cargo envdb migrate-to-envs --from ~/app.db --to dev,prod`,
/// `PGPASSWORD=… cargo envdb migrate-to-envs --from postgres://app@db:5432/app --to dev,prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The legacy database, left untouched: a SQLite file, or a postgres:// URL (give its
    /// password in PGPASSWORD or ~/.pgpass rather than on the command line)
    #[arg(long, value_name = "PATH|URL")]
    from: PathBuf,
    /// The environments to create, comma-separated
    #[arg(long, value_name = "ENVS", value_delimiter = ',', default_value = "dev,prod")]
    to: Vec<String>,
    /// Replace environments' databases that already exist (protected ones ask for confirmation)
    #[arg(long)]
    force: bool,
}

/// Row counts of every table, in name order.
fn row_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'envdb_meta' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    tables
        .into_iter()
        .map(|t| {
            let n =
                conn.query_row(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")), [], |r| r.get(0))?;
            Ok((t, n))
        })
        .collect()
}

fn integrity(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    let lines = db::pragma_lines(conn, "integrity_check").map_err(|e| DbError::sqlite(path, e, Duration::ZERO))?;
    anyhow::ensure!(lines == ["ok"], "{} fails integrity_check: {}", path.display(), lines.join("; "));
    Ok(())
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    if let Some(url) = args.from.to_str().filter(|f| f.contains("://")) {
        return server::exec(url, &args.to, args.force, ctx);
    }
    let project = ctx.project()?;
    let from = std::path::absolute(&args.from).unwrap_or(args.from.clone());
    let ro = OpenOptions { create: false, read_only: true, busy_timeout: Duration::from_secs(5) };
    let source = db::open(&from, ro)?;
    integrity(&source, &from)?;
    let counts = row_counts(&source).map_err(|e| DbError::sqlite(&from, e, Duration::ZERO))?;
    let version = history::latest(&source).unwrap_or(0);

    // Resolve every target and refuse existing ones before anything is written.
    let mut targets = Vec::new();
    for name in &args.to {
        let env = target::resolve_env(&project, &EnvArgs { env: Some(name.clone()), ..EnvArgs::default() })?;
        anyhow::ensure!(
            env.database() != from,
            "{} is the legacy database itself; choose other environments",
            env.name()
        );
        if env.database().exists() {
            anyhow::ensure!(
                args.force,
                "{} already has a database ({}); nothing was changed\n  help: pass --force to replace it",
                env.name(),
                env.database().display()
            );
            crate::cli::protect::confirm(ctx, &env, "replace the database of")?;
        }
        targets.push(env);
    }

    // The original, backed up before anything else.
    let first = targets.first().context("--to names no environment")?;
    let safety = backup::path_for(&backup::dir(&first.spec.data_dir), &from, "legacy", version);
    backup::backup(&source, &from, &safety, backup::BackupOptions::default(), &mut |_, _| {})?;
    ctx.out.status("Backed up", format!("{} → {}", from.display(), project.show(&safety).display()));

    for env in &targets {
        let dest = env.database();
        let dir = dest.parent().unwrap_or(Path::new("."));
        let staging = dir.join(format!(".{}.migrating", dest.file_name().unwrap_or_default().to_string_lossy()));
        let version_of = |p: &Path| db::open(p, ro).ok().and_then(|c| history::latest(&c).ok()).unwrap_or(0);
        crate::cli::audit::audited(
            env,
            || version_of(dest),
            || {
                let _ = std::fs::remove_file(&staging);
                let staged = backup::BackupOptions { checksum_file: false, ..Default::default() };
                backup::backup(&source, &from, &staging, staged, &mut |_, _| {})?;
                let result = (|| {
                    let fail = |e: rusqlite::Error| anyhow::Error::new(DbError::sqlite(&staging, e, Duration::ZERO));
                    let conn = Connection::open(&staging).map_err(fail)?;
                    integrity(&conn, &staging)?;
                    let copied = row_counts(&conn).map_err(fail)?;
                    if let Some(((table, want), (_, got))) = counts.iter().zip(&copied).find(|(a, b)| a != b) {
                        anyhow::bail!("the copy for {} holds {got} rows in {table}, the original {want}", env.name());
                    }
                    anyhow::ensure!(
                        copied.len() == counts.len(),
                        "the copy for {} has other tables than the original",
                        env.name()
                    );
                    history::ensure(&conn, None, Some(&env.spec.project)).map_err(fail)?;
                    history::set_meta(&conn, "environment", env.name()).map_err(fail)?;
                    drop(conn);
                    if dest.exists() {
                        // Applications and migration runs stay out while the file is swapped.
                        let _apps_out = db::lock::try_exclusive_app_lock(dest)?.with_context(|| {
                            format!("an application holds {}; stop it, then run migrate-to-envs again", dest.display())
                        })?;
                        let _run = db::lock::run_lock(dest, Duration::from_secs(60), &mut |_| {})?;
                        // The database it replaces is kept in the environment's backups, as restore
                        // keeps it, named with its version read once `replace` has settled it (a hot
                        // journal rolled back) under the locks.
                        let keep_as = || {
                            backup::replaced_path_for(
                                &backup::dir(&env.spec.data_dir),
                                dest,
                                env.name(),
                                version_of(dest),
                            )
                        };
                        if let Some(kept) = backup::replace(&staging, dest, keep_as, None, Duration::from_secs(5))? {
                            ctx.out.status(
                                "Kept",
                                format!("the replaced {} database as {}", env.name(), project.show(&kept).display()),
                            );
                        }
                    } else {
                        std::fs::rename(&staging, dest)
                            .with_context(|| format!("cannot move the copy to {}", dest.display()))?;
                        backup::sync_dir(dir);
                    }
                    Ok(())
                })();
                let _ = std::fs::remove_file(&staging);
                result
            },
        )?;
        let rows: i64 = counts.iter().map(|(_, n)| n).sum();
        ctx.out.status(
            "Copied",
            format!(
                "{} → {} ({}): {} tables, {rows} rows, verified",
                from.display(),
                env.name(),
                project.show(dest).display(),
                counts.len()
            ),
        );
    }
    if version == 0 {
        ctx.out.line_err(format!(
            "note: the legacy database has no envdb history; once its schema matches migration N, adopt each copy with `cargo envdb baseline N --env {}`",
            targets[0].name()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
