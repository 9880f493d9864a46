//! `cargo envdb validate`: integrity, foreign keys, checksums and schema drift.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::schema;
use crate::plan;
use std::process::ExitCode;

/// Check integrity, foreign keys, applied checksums, and that the schema is what the migrations make
///
/// Example: `cargo envdb validate`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
}

/// Everything wrong with the database: integrity, foreign keys, checksums, schema drift.
///
/// `replayed` is the schema all of `migrations` produce, when the caller replayed them already
/// (upgrade does, before changing anything); it is used when the database is at the last one.
pub fn problems(
    target: &Target,
    migrations: &[crate::Migration<'_>],
    replayed: Option<&[schema::Object]>,
) -> anyhow::Result<Vec<String>> {
    let Some(mut db) = target.open_existing_read_only()? else {
        anyhow::bail!("{} does not exist yet\n  help: run `cargo envdb migrate` first", target.show());
    };
    let mut problems = db.problems(100)?;
    let applied = db.applied()?;
    let drift = plan::drift(migrations, &applied);
    problems.extend(drift.changed.iter().map(|v| format!("migration {v}: applied checksum differs from its file")));
    problems.extend(drift.gone.iter().map(|v| format!("migration {v}: applied but its file is gone")));
    problems.extend(drift.holes.iter().map(|v| format!("migration {v}: missing from the history")));

    // The schema the applied migrations produce on a fresh, empty database.
    let version = applied.last().map_or(0, |a| a.version);
    if version > 0 && drift.is_empty() {
        let expected = match replayed {
            Some(all) if migrations.last().is_some_and(|m| m.version == version) => all.to_vec(),
            _ => target.replay(migrations, Some(version))?,
        };
        let actual = db.schema()?;
        problems.extend(target.location.diff(&actual, &expected).into_iter().map(|d| format!("schema: {d}")));
    }
    Ok(problems)
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let migrations = target.migrations()?;
    let problems = problems(&target, &migrations, None)?;
    let version = target.version();
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({ "database": target.show(), "version": version, "problems": problems }));
    } else {
        for p in &problems {
            ctx.out.error_line(p);
        }
    }
    if problems.is_empty() {
        ctx.out.status(
            "Valid",
            format!("{} at version {version}: integrity, foreign keys, checksums and schema all match", target.show()),
        );
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}
