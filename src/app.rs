//! `myapp db …` (feature `app-cli`): the operator commands of `cargo envdb` inside a host
//! application, on the migrations and envdb.toml embedded at build time (down files included),
//! with no source tree. Each command is the command line's own (same output, confirmation of
//! protected environments, audit log, exit codes); only `version` is the runtime's report.
//!
//! ```ignore
//! #[derive(clap::Subcommand)]
//! enum Command {
//!     /// The database: status, upgrade, backups, restore, rollback…
//!     #[command(subcommand)]
//!     Db(envdb::app::DbCommand),
//!     // … the application's own commands
//! }
//! // in main, before opening the database:
//! if let Command::Db(db) = command { return db.run(&MIGRATIONS); }
//! ```

use crate::cli::commands::{backup, backups, env, history, prune, restore, rollback, status, upgrade, validate};
use crate::cli::output::{ColorWhen, Format};
use crate::cli::target::{DbArgs, Target};
use crate::cli::{Ctx, GlobalArgs};
use crate::embedded::Migrations;
use std::ffi::OsString;
use std::process::ExitCode;

/// The options every `db` command takes (the command line's global options that apply here).
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Say more (notes about skipped files and decisions)
    #[arg(long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Say nothing but errors and results
    #[arg(short, long)]
    quiet: bool,
    /// Colour output: auto, always or never (NO_COLOR honoured)
    #[arg(long, value_enum, value_name = "WHEN")]
    color: Option<ColorWhen>,
    /// Output format for commands that report
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Confirm a destructive command against a protected environment by naming it (for scripts)
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    confirm: Vec<String>,
}

/// `db version [-v]`: the schema versions (with `-v`, the whole `version_info`).
#[derive(Debug, Clone, clap::Args)]
pub struct VersionArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Everything: envdb's version, the environment, the database, its last backup
    #[arg(short = 'v', long = "full")]
    full: bool,
}

/// The database commands a host application ships: `#[command(subcommand)] Db(envdb::app::DbCommand)`.
#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// The database's state: environment, versions, pending migrations, the application's hold
    Status {
        #[command(flatten)]
        args: status::Args,
        #[command(flatten)]
        global: Global,
    },
    /// The applied migrations
    History {
        #[command(flatten)]
        args: history::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Refuse while the application runs, back up, migrate, validate, and report
    Upgrade {
        #[command(flatten)]
        args: upgrade::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Back the database up
    Backup {
        #[command(flatten)]
        args: backup::Args,
        #[command(flatten)]
        global: Global,
    },
    /// The environment's backups
    Backups {
        #[command(flatten)]
        args: backups::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Remove old backups
    Prune {
        #[command(flatten)]
        args: prune::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Put a backup back in place of the database
    Restore {
        #[command(flatten)]
        args: restore::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Revert the latest migrations with their down files (embedded)
    Rollback {
        #[command(flatten)]
        args: rollback::Args,
        #[command(flatten)]
        global: Global,
    },
    /// Compare the database's schema with what the migrations produce
    Validate {
        #[command(flatten)]
        args: validate::Args,
        #[command(flatten)]
        global: Global,
    },
    /// The environments and which one is chosen
    Env {
        #[command(flatten)]
        args: env::Args,
        #[command(flatten)]
        global: Global,
    },
    /// The schema versions of the code and of the database
    Version {
        #[command(flatten)]
        args: VersionArgs,
        #[command(flatten)]
        global: Global,
    },
}

/// `myapp db …` parsed on its own, for a host that calls [`run_from`] with its arguments.
#[derive(Debug, clap::Parser)]
#[command(about = "The application's database: status, upgrade, backups, restore, rollback, validate")]
struct DbCli {
    #[command(subcommand)]
    command: DbCommand,
}

impl DbCommand {
    fn global(&self) -> &Global {
        match self {
            DbCommand::Status { global, .. }
            | DbCommand::History { global, .. }
            | DbCommand::Upgrade { global, .. }
            | DbCommand::Backup { global, .. }
            | DbCommand::Backups { global, .. }
            | DbCommand::Prune { global, .. }
            | DbCommand::Restore { global, .. }
            | DbCommand::Rollback { global, .. }
            | DbCommand::Validate { global, .. }
            | DbCommand::Env { global, .. }
            | DbCommand::Version { global, .. } => global,
        }
    }

    /// Runs the command on the migrations the binary was built with; the exit code is the
    /// command line's (0 success, 1 failure, 2 bad usage).
    pub fn run(self, migrations: &Migrations) -> ExitCode {
        let g = self.global().clone();
        let global = GlobalArgs {
            manifest_path: None,
            migrations: None,
            verbose: g.verbose,
            quiet: g.quiet,
            color: g.color,
            format: g.format,
            confirm: g.confirm,
        };
        let mut ctx = Ctx::new(global);
        ctx.embedded = Some(*migrations);
        let prefix = format!("{} db", crate::runtime::app_name());
        ctx.invoked_as = prefix.clone();
        ctx.out.words = Some(Box::new(move |text: &str| in_app_words(text, &prefix)));
        let result = self.exec(&mut ctx);
        crate::cli::finish(&mut ctx, result)
    }

    fn exec(self, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
        use crate::cli::commands::Command;
        let command = match self {
            DbCommand::Status { args, .. } => Command::Status(args),
            DbCommand::History { args, .. } => Command::History(args),
            DbCommand::Upgrade { args, .. } => Command::Upgrade(args),
            DbCommand::Backup { args, .. } => Command::Backup(args),
            DbCommand::Backups { args, .. } => Command::Backups(args),
            DbCommand::Prune { args, .. } => Command::Prune(args),
            DbCommand::Restore { args, .. } => Command::Restore(args),
            DbCommand::Rollback { args, .. } => Command::Rollback(args),
            DbCommand::Validate { args, .. } => Command::Validate(args),
            DbCommand::Env { args, .. } => Command::Env(args),
            DbCommand::Version { args, .. } => return version(args, ctx),
        };
        crate::cli::commands::exec(command, ctx)
    }
}

/// The command line's text as the application says it: `cargo envdb <command>` becomes
/// `<app> db <command>` for the commands the application has (`migrate` is its `upgrade`); the
/// authoring commands (`check`, `repair`, `baseline`…) stay `cargo envdb`, run in a checkout.
fn in_app_words(text: &str, prefix: &str) -> String {
    const OWN: [&str; 11] = [
        "status", "history", "upgrade", "backup", "backups", "prune", "restore", "rollback", "validate", "env",
        "version",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("cargo envdb ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "cargo envdb ".len()..];
        let word = after.split(|c: char| !c.is_ascii_alphanumeric() && c != '-').next().unwrap_or("");
        match word {
            "migrate" => out.push_str(&format!("{prefix} upgrade")),
            w if OWN.contains(&w) => out.push_str(&format!("{prefix} {w}")),
            _ => out.push_str(&format!("cargo envdb {word}")),
        }
        rest = &after[word.len()..];
    }
    out.push_str(rest);
    out
}

/// Parses `args` (the first is the program name as help shows it, e.g. `myapp db`) and runs the
/// command: a host without clap calls this with the words after its `db`.
pub fn run_from<I, T>(migrations: &Migrations, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match <DbCli as clap::Parser>::try_parse_from(args) {
        Ok(cli) => cli.command.run(migrations),
        Err(e) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 2 } else { 0 })
        }
    }
}

/// `db version`: the code's and the database's schema versions; `-v` the whole report.
fn version(args: VersionArgs, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(ctx, &args.db)?;
    let history = target.applied()?;
    let code = ctx.embedded.as_ref().map_or(0, Migrations::latest);
    let mut info = crate::runtime::VersionInfo::new(code, &history, 0, target.show(), Some(&target.env));
    if target.location.file().is_some() {
        let list = crate::db::backup::list(&target.backups_dir(), &target.path, target.env.name()).unwrap_or_default();
        info.last_backup = list.into_iter().rev().find(|b| b.complete && !b.replaced).map(|b| b.path);
    }
    if args.full {
        ctx.out.line(info.to_string());
    } else {
        ctx.out.line(format!(
            "schema version {} (code {}, {} pending)",
            info.database_schema_version, info.code_schema_version, info.pending
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_db_commands_are_well_formed() {
        <super::DbCli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn the_application_names_its_own_commands_and_leaves_the_authoring_ones() {
        let said = super::in_app_words(
            "run `cargo envdb migrate --env prod`, then `cargo envdb backups --verify`; or `cargo envdb repair` in a checkout (cargo envdb)",
            "vigil db",
        );
        assert_eq!(
            said,
            "run `vigil db upgrade --env prod`, then `vigil db backups --verify`; or `cargo envdb repair` in a checkout (cargo envdb)"
        );
    }
}
