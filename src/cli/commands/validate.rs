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
    Ok(checked(target, migrations, replayed)?.0)
}

/// What to do about a history that does not match the migrations, one line per kind of drift.
fn drift_help(drift: &plan::Drift) -> Vec<&'static str> {
    let mut help = Vec::new();
    if !drift.changed.is_empty() {
        help.push("an applied migration's file changed (or its recorded checksum was edited): revert the edit and write a new migration, or run `cargo envdb repair` to accept the file as it is");
    }
    if !drift.gone.is_empty() {
        help.push("an applied migration's file is gone: restore it from version control");
    }
    if !drift.holes.is_empty() {
        help.push("the history was edited by hand: restore a backup, or record the missing versions with `cargo envdb baseline` once the schema has them");
    }
    help
}

/// [`problems`] and the drift among them.
fn checked(
    target: &Target,
    migrations: &[crate::Migration<'_>],
    replayed: Option<&[schema::Object]>,
) -> anyhow::Result<(Vec<String>, plan::Drift)> {
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
    Ok((problems, drift))
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let migrations = target.migrations()?;
    let (problems, drift) = checked(&target, &migrations, None)?;
    let version = target.version();
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({ "database": target.show(), "version": version, "problems": problems }));
    } else {
        for p in &problems {
            ctx.out.error_line(p);
        }
        for help in drift_help(&drift) {
            ctx.out.line_err(format!("  help: {help}"));
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
