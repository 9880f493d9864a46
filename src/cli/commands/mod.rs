//! One file per subcommand: its arguments (doc comments are the help text) and its `exec`.

mod adopt;
mod audit;
pub(crate) mod backup;
pub(crate) mod backups;
mod baseline;
mod check;
#[cfg(feature = "cli")]
mod completions;
pub(crate) mod env;
mod export;
mod fix;
mod hash;
pub(crate) mod history;
mod hook;
mod import;
#[cfg(feature = "cli")]
mod init;
mod migrate;
mod migrate_to_envs;
mod new;
pub(crate) mod prune;
mod redo;
mod repair;
mod reset;
pub(crate) mod restore;
pub(crate) mod rollback;
#[cfg(feature = "cli")]
mod run;
mod schema;
mod seed;
mod server;
pub(crate) mod status;
mod status_all;
#[cfg(feature = "cli")]
mod test;
pub(crate) mod upgrade;
pub(crate) mod validate;

use super::Ctx;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    #[cfg(feature = "cli")]
    Init(init::Args),
    New(new::Args),
    Hash(hash::Args),
    Check(check::Args),
    Fix(fix::Args),
    Import(import::Args),
    Export(export::Args),
    Hook(hook::Args),
    #[cfg(feature = "cli")]
    Completions(completions::Args),
    Migrate(migrate::Args),
    Rollback(rollback::Args),
    Redo(redo::Args),
    Status(status::Args),
    History(history::Args),
    Baseline(baseline::Args),
    Adopt(adopt::Args),
    Repair(repair::Args),
    Validate(validate::Args),
    Schema(schema::Args),
    Env(env::Args),
    Audit(audit::Args),
    Backup(backup::Args),
    Backups(backups::Args),
    Prune(prune::Args),
    Restore(restore::Args),
    Upgrade(upgrade::Args),
    MigrateToEnvs(migrate_to_envs::Args),
    #[cfg(feature = "cli")]
    Run(run::Args),
    #[cfg(feature = "cli")]
    Test(test::Args),
    #[command(alias = "dev-reset")]
    Reset(reset::Args),
    Seed(seed::Args),
    Server(server::Args),
}

/// The commands that print their result as JSON with `--format json`; every other command
/// refuses it with a usage error (exit 2) before it runs.
pub const JSON_COMMANDS: &[&str] = &[
    "audit", "backup", "backups", "check", "env", "fix", "hash", "history", "migrate", "prune", "redo", "rollback",
    "server", "status", "upgrade", "validate",
];

impl Command {
    /// The command's name as typed.
    fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "cli")]
            Command::Init(_) => "init",
            Command::New(_) => "new",
            Command::Hash(_) => "hash",
            Command::Check(_) => "check",
            Command::Fix(_) => "fix",
            Command::Import(_) => "import",
            Command::Export(_) => "export",
            Command::Hook(_) => "hook",
            #[cfg(feature = "cli")]
            Command::Completions(_) => "completions",
            Command::Migrate(_) => "migrate",
            Command::Rollback(_) => "rollback",
            Command::Redo(_) => "redo",
            Command::Status(_) => "status",
            Command::History(_) => "history",
            Command::Baseline(_) => "baseline",
            Command::Adopt(_) => "adopt",
            Command::Repair(_) => "repair",
            Command::Validate(_) => "validate",
            Command::Schema(_) => "schema",
            Command::Env(_) => "env",
            Command::Audit(_) => "audit",
            Command::Backup(_) => "backup",
            Command::Backups(_) => "backups",
            Command::Prune(_) => "prune",
            Command::Restore(_) => "restore",
            Command::Upgrade(_) => "upgrade",
            Command::MigrateToEnvs(_) => "migrate-to-envs",
            #[cfg(feature = "cli")]
            Command::Run(_) => "run",
            #[cfg(feature = "cli")]
            Command::Test(_) => "test",
            Command::Reset(_) => "reset",
            Command::Seed(_) => "seed",
            Command::Server(_) => "server",
        }
    }
}

pub fn exec(command: Command, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let name = command.name();
    if ctx.out.json() && !JSON_COMMANDS.contains(&name) {
        // A usage error, before anything runs: JSON is never silently replaced by text.
        ctx.out.error_line(format_args!(
            "`{name}` does not print JSON; nothing was run\n  help: run it without `--format json`; the commands that print JSON are {}",
            JSON_COMMANDS.join(", ")
        ));
        return Ok(ExitCode::from(2));
    }
    match command {
        #[cfg(feature = "cli")]
        Command::Init(args) => init::exec(args, ctx),
        Command::New(args) => new::exec(args, ctx),
        Command::Hash(args) => hash::exec(args, ctx),
        Command::Check(args) => check::exec(args, ctx),
        Command::Fix(args) => fix::exec(args, ctx),
        Command::Import(args) => import::exec(args, ctx),
        Command::Export(args) => export::exec(args, ctx),
        Command::Hook(args) => hook::exec(args, ctx),
        #[cfg(feature = "cli")]
        Command::Completions(args) => completions::exec(args, ctx),
        Command::Migrate(args) => migrate::exec(args, ctx),
        Command::Rollback(args) => rollback::exec(args, ctx),
        Command::Redo(args) => redo::exec(args, ctx),
        Command::Status(args) => status::exec(args, ctx),
        Command::History(args) => history::exec(args, ctx),
        Command::Baseline(args) => baseline::exec(args, ctx),
        Command::Adopt(args) => adopt::exec(args, ctx),
        Command::Repair(args) => repair::exec(args, ctx),
        Command::Validate(args) => validate::exec(args, ctx),
        Command::Schema(args) => schema::exec(args, ctx),
        Command::Env(args) => env::exec(args, ctx),
        Command::Audit(args) => audit::exec(args, ctx),
        Command::Backup(args) => backup::exec(args, ctx),
        Command::Backups(args) => backups::exec(args, ctx),
        Command::Prune(args) => prune::exec(args, ctx),
        Command::Restore(args) => restore::exec(args, ctx),
        Command::Upgrade(args) => upgrade::exec(args, ctx),
        Command::MigrateToEnvs(args) => migrate_to_envs::exec(args, ctx),
        #[cfg(feature = "cli")]
        Command::Run(args) => run::exec(args, ctx),
        #[cfg(feature = "cli")]
        Command::Test(args) => test::exec(args, ctx),
        Command::Reset(args) => reset::exec(args, ctx),
        Command::Seed(args) => seed::exec(args, ctx),
        Command::Server(args) => server::exec(args, ctx),
    }
}

/// Reads the project's migrations directory, naming it relative to the project root.
pub fn read_migrations(ctx: &Ctx) -> anyhow::Result<(crate::project::Project, crate::migration_dir::MigrationDir)> {
    let project = ctx.project()?;
    let dir = crate::migration_dir::MigrationDir::read(&project.migrations, &project.show(&project.migrations))?;
    Ok((project, dir))
}

#[cfg(test)]
mod tests {
    use super::JSON_COMMANDS;
    use clap::CommandFactory as _;

    #[test]
    fn every_json_command_exists() {
        let cli = crate::cli::Cli::command();
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        for name in JSON_COMMANDS {
            assert!(names.contains(name), "{name} is not a command: {names:?}");
        }
    }
}
