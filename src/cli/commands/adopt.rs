//! `cargo envdb adopt --from <tool>`: take over a database another tool migrated, its history
//! verified and recorded as envdb's with the original times; the tool's table is left as it is.

use crate::cli::Ctx;
use crate::cli::target::{DbArgs, Target};
use crate::db::backend::Adopted;
use crate::import::{Tool, foreign, map};
use anyhow::Context as _;
use std::process::ExitCode;

/// Take over a database that sqlx, diesel, refinery, dbmate, golang-migrate or goose migrated
///
/// Reads the tool's history table, maps each applied version through migrations/IMPORTED.md
/// (written by `import`), refuses a dirty or failed state, a gap, an unknown version or a
/// checksum that differs, compares the schema with the migrations (as `validate` does), then
/// records envdb's history in one transaction with the original times. The tool's table is
/// left untouched, so switching back still works.
///
/// Example: `cargo envdb adopt --from sqlx --env prod`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// The tool that migrated the database
    #[arg(long, value_name = "TOOL", value_parser = clap::builder::PossibleValuesParser::new(Tool::ALL.map(Tool::name)))]
    from: String,
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let tool: Tool = args.from.parse().map_err(anyhow::Error::msg)?;
    let target = Target::resolve(ctx, &args.db)?;
    let map_file = target.dir.show(map::FILE_NAME);
    let text = std::fs::read_to_string(target.dir.path.join(map::FILE_NAME)).with_context(|| {
        format!("cannot read {map_file}, the map of {tool}'s versions to envdb's\n  help: run `cargo envdb import --from {tool} DIR` first")
    })?;
    let import_map = map::ImportMap::parse(&text)
        .with_context(|| format!("{map_file} cannot be read back; nothing was recorded\n  help: run `cargo envdb import --from {tool} DIR` again to rewrite it"))?;
    let migrations = target.migrations()?;
    // Everything is verified first over a read-only session, before the run lock (which on
    // PostgreSQL creates envdb's tables) and before any write; then again under the lock.
    let read_only = target.open_existing_read_only()?.with_context(|| {
        format!("{} does not exist; nothing was recorded\n  help: check --env / --database", target.show())
    })?;
    let mut db = target.unmigrated(read_only, "adopt")?;
    let upto = verify(&target, &mut *db, tool, &import_map, &migrations, None)?.applied_at.len() as u64;
    let expected = target.replay(&migrations, Some(upto))?;
    verify(&target, &mut *db, tool, &import_map, &migrations, Some(&expected))?;
    drop(db);
    let adopted = target.write(ctx, "adopt", true, |ctx| {
        let _lock = target.run_lock(ctx)?;
        let mut db = target.open_unmigrated("adopt")?;
        let adoption = verify(&target, &mut *db, tool, &import_map, &migrations, Some(&expected))?;
        let now = crate::db::history::now();
        let times: Vec<String> = adoption.applied_at.into_iter().map(|t| t.unwrap_or_else(|| now.clone())).collect();
        let adopted: Vec<_> = migrations.iter().take(times.len()).cloned().collect();
        let from = format!("{tool} {now}");
        db.adopt_history(&Adopted {
            migrations: &adopted,
            applied_at: &times,
            environment: Some(target.env.name()),
            from: &from,
        })?;
        Ok(times.len())
    })?;
    ctx.out.status(
        "Adopted",
        format!(
            "{}: {tool}'s history of {adopted} migration(s) recorded as envdb's (1 to {adopted}); {tool}'s {} table is left as it was",
            target.show(),
            tool.history_table()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads `tool`'s history in `db` and checks it against the import map, the files and (when
/// given) the schema the migrations produce up to the version it reaches.
fn verify(
    target: &Target,
    db: &mut dyn crate::db::backend::Database,
    tool: Tool,
    import_map: &map::ImportMap,
    migrations: &[crate::Migration<'_>],
    expected: Option<&[crate::db::schema::Object]>,
) -> anyhow::Result<foreign::Adoption> {
    let refused = |e: foreign::AdoptError| {
        anyhow::Error::new(e).context(format!("cannot adopt {} from {tool}; nothing was recorded", target.show()))
    };
    let query = foreign::query(tool);
    let rows = db.foreign_rows(query.table, query.columns, query.order_by)?.with_context(|| {
        format!(
            "{} has no {} table, so {tool} never migrated it; nothing was recorded\n  help: check --env / --database, or use `cargo envdb migrate` for a new database",
            target.show(),
            query.table
        )
    })?;
    let state = foreign::interpret(tool, &rows).map_err(refused)?;
    let adoption = foreign::adoption(tool, &state, import_map).map_err(refused)?;
    let upto = adoption.applied_at.len() as u64;
    anyhow::ensure!(
        migrations.iter().any(|m| m.version == upto),
        "{tool} applied {upto} migration(s), but {} has no migration {upto}; nothing was recorded\n  help: restore the imported files (`git checkout {}`)",
        target.dir.display.display(),
        target.dir.display.display()
    );
    if let Some(expected) = expected {
        let diff = target.location.diff(&db.schema()?, expected);
        anyhow::ensure!(
            diff.is_empty(),
            "the schema of {} does not match the schema migrations 1 to {upto} produce:\n  {}\nnothing was recorded\n  help: bring the database in line with its {tool} migrations (or the migrations with the database), then adopt again",
            target.show(),
            diff.join("\n  ")
        );
    }
    Ok(adoption)
}
