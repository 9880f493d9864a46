//! The environment and database a command works on, and the migrations on disk, resolved once
//! per command; the guard rails around writing to a protected environment.

use super::Ctx;
use crate::check::check_as;
use crate::check_cache::{self, Checked};
use crate::db::apply::Progress;
use crate::db::backend::Database;
use crate::db::location::{Location, RunLock};
use crate::db::{self, DbError, OpenOptions, lock};
use crate::db_url::DbUrl;
use crate::embedded::Migration;
use crate::environment::{DatabaseOverride, Dirs, EnvError, Environment, Environments};
use crate::migration_dir::MigrationDir;
use crate::problem::CheckFailed;
use crate::project::Project;
use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Duration;

/// Choosing an environment: `--database PATH` > `--env NAME` > `$ENVDB_ENV` > `default_env`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EnvArgs {
    /// The environment: dev, test, prod or a custom one (default: $ENVDB_ENV, else default_env)
    #[arg(short, long, value_name = "NAME")]
    pub env: Option<String>,
    /// Shorthand for --env dev
    #[arg(long, conflicts_with_all = ["env", "test", "prod"])]
    pub dev: bool,
    /// Shorthand for --env test
    #[arg(long, conflicts_with_all = ["env", "dev", "prod"])]
    pub test: bool,
    /// Shorthand for --env prod
    #[arg(long, conflicts_with_all = ["env", "dev", "test"])]
    pub prod: bool,
    /// A database file to use instead of the environment's
    #[arg(long, value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// A PostgreSQL database to use instead of the environment's (postgres://user@host:port/dbname)
    #[arg(long, value_name = "URL", conflicts_with = "database")]
    pub database_url: Option<String>,
}

impl EnvArgs {
    pub fn flag(&self) -> Option<&str> {
        match (self.dev, self.test, self.prod) {
            (true, _, _) => Some("dev"),
            (_, true, _) => Some("test"),
            (_, _, true) => Some("prod"),
            _ => self.env.as_deref(),
        }
    }

    /// Whether `--database` or `--database-url` replaces the environment's database.
    pub fn overrides_database(&self) -> bool {
        self.database.is_some() || self.database_url.is_some()
    }
}

/// Options of every command that touches a database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Seconds to wait for another envdb run on the same database (0 to 2147483)
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds, allow_negative_numbers = true)]
    pub lock_timeout: Duration,
    /// Seconds a statement waits for another connection's write lock (0 to 2147483)
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds, allow_negative_numbers = true)]
    pub busy_timeout: Duration,
}

/// The longest timeout accepted: SQLite counts its busy timeout in milliseconds in a C `int`.
const MAX_TIMEOUT_SECS: f64 = i32::MAX as f64 / 1000.0;

/// Parses a timeout flag: a finite number of seconds from 0 to [`MAX_TIMEOUT_SECS`] (about 24
/// days). Anything else is a usage error naming the flag, never a panic.
fn seconds(text: &str) -> Result<Duration, String> {
    let range = format!("a number of seconds from 0 to {} (about 24 days)", MAX_TIMEOUT_SECS.floor());
    let secs: f64 = text.trim().parse().map_err(|_| format!("expected {range}"))?;
    if !(0.0..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(format!("expected {range}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("expected {range} ({e})"))
}

/// Where the environments come from, for an error about them.
fn configuration(project: &Project) -> String {
    match &project.config_path {
        Some(path) => format!("in {}", project.show(path).display()),
        None => format!("in the default configuration (no envdb.toml in {})", project.show(&project.root).display()),
    }
}

/// Loads every environment of the project.
pub fn environments(project: &Project) -> anyhow::Result<Environments> {
    Environments::load(&project.config, &project.root, &project.name(), &Dirs::os())
        .with_context(|| configuration(project))
}

/// Resolves the environment for these flags (the same order the runtime uses). An environment
/// whose url cannot be resolved on this machine is an error naming the configuration file.
pub fn resolve_env(project: &Project, args: &EnvArgs) -> anyhow::Result<Environment> {
    let database = match (&args.database, &args.database_url) {
        (Some(p), _) => Some(DatabaseOverride::Path(crate::project::physical_dir(
            &std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        ))),
        (None, Some(url)) => Some(DatabaseOverride::Url(DbUrl::parse(url).context("--database-url")?)),
        (None, None) => None,
    };
    environments(project)?.resolve(database, args.flag(), &|k| std::env::var(k).ok()).map_err(|e| {
        let from_config = matches!(e, EnvError::UnsetVar { .. } | EnvError::Url { .. });
        let e = anyhow::Error::new(e);
        if from_config { e.context(configuration(project)) } else { e }
    })
}

/// The embedded migrations as a migrations directory (up and down files, named as in the source
/// tree: a down file is `<up stem>.down.sql`).
fn embedded_dir(migrations: &crate::Migrations) -> MigrationDir {
    let mut files = Vec::new();
    for m in migrations.iter() {
        files.push((m.name.to_owned(), m.up.as_bytes().to_vec()));
        if let Some(down) = m.down {
            let stem = m.name.strip_suffix(".sql").unwrap_or(m.name);
            files.push((format!("{stem}.down.sql"), down.as_bytes().to_vec()));
        }
    }
    let display = std::path::Path::new("(embedded migrations)");
    let dir = MigrationDir::from_memory(display, files.clone());
    // The sum file the build verified them against, rebuilt from the files themselves: what
    // `check` (in `status`) compares with.
    let sum = crate::sum_file::SumFile::from_files(dir.files.iter().map(|f| (&f.name, f.checksum.as_str())));
    files.push((crate::sum_file::FILE_NAME.to_owned(), sum.to_string().into_bytes()));
    MigrationDir::from_memory(display, files)
}

/// Starts the environment's local server (`server = "local"`) when it is not running, saying
/// so, and points the environment at where it listens now. Nothing for an environment whose
/// database `--database` or `--database-url` replaces.
pub fn start_local(ctx: &mut Ctx, env: &mut Environment) -> anyhow::Result<()> {
    use crate::environment::ChosenBy;
    let replaced = matches!(env.chosen_by, ChosenBy::DatabaseFlag | ChosenBy::DatabaseUrlFlag);
    let Some(local) = env.spec.local.clone().filter(|_| !replaced) else { return Ok(()) };
    let out = &mut ctx.out;
    crate::local_server::control::ensure_running(&local, &mut |verb, text| out.status(verb, text))?;
    env.spec.url = Some(Ok(local.url()));
    Ok(())
}

/// Why a command refuses migrations that fail `check`.
pub const MUST_PASS_CHECK: &str = "the migrations must pass `cargo envdb check` before they are applied";

/// Where a command works: the project, the resolved environment and its database.
pub struct Place {
    pub project: Project,
    pub env: Environment,
    /// The database, by where it lives (the backend is picked from it).
    pub location: Location,
    /// The environment's database file (SQLite).
    pub path: PathBuf,
    pub busy: Duration,
    pub lock_timeout: Duration,
    /// Whether long work shows progress (on a terminal, without `-q`).
    pub progress: bool,
    /// The migrations embedded in the host binary running the command (`app-cli`), if it is one.
    pub embedded: Option<crate::Migrations>,
}

/// A [`Place`] plus the project's migrations on disk (its fields and methods reach the place's
/// through `Deref`).
pub struct Target {
    pub place: Place,
    pub dir: MigrationDir,
}

impl std::ops::Deref for Target {
    type Target = Place;

    fn deref(&self) -> &Place {
        &self.place
    }
}

impl Target {
    pub fn resolve(ctx: &mut Ctx, args: &DbArgs) -> anyhow::Result<Target> {
        let place = Place::resolve(ctx, args)?;
        let dir = place.read_migrations()?;
        Ok(Target { place, dir })
    }

    /// The target of `place` with the migrations `checked` read, or read now when its verdict
    /// came from the cache (what runs is always read, and checked again, from the files).
    pub fn of_checked(place: Place, checked: Checked) -> anyhow::Result<Target> {
        let dir = match checked.dir {
            Some(dir) => dir,
            None => place.read_migrations()?,
        };
        Ok(Target { place, dir })
    }

    /// The migrations on disk, refusing a directory that fails `check` (embedded ones passed it
    /// when the host was built: `envdb::build` refuses to embed what fails).
    pub fn migrations(&self) -> anyhow::Result<Vec<Migration<'_>>> {
        // Embedded migrations passed `check` when the host was built (`envdb::build` refuses to
        // embed what fails).
        if self.embedded.is_some() {
            return Ok(self.dir.migrations());
        }
        let report = check_as(&self.dir, false, self.dialect());
        if !report.is_ok() {
            return Err(anyhow::Error::new(CheckFailed(report))).context(MUST_PASS_CHECK);
        }
        Ok(self.dir.migrations())
    }

    /// The error with the migration file it names shown as a path that pastes from where the
    /// user stands (the library knows only file names; embedded migrations have no directory).
    pub fn locate(&self, mut e: DbError) -> DbError {
        match &mut e {
            DbError::Migration(f) => f.file = self.dir.show(&f.file),
            DbError::Refused { file, .. } | DbError::NoTransactionInSingle { file } => *file = self.dir.show(file),
            _ => {}
        }
        e
    }

    /// The schema `migrations` (up to `upto`) produce on an empty database, never this one;
    /// a failing file is named by a path that pastes from where the user stands.
    pub fn replay(
        &self,
        migrations: &[Migration<'_>],
        upto: Option<u64>,
    ) -> Result<Vec<db::schema::Object>, db::schema::ReplayError> {
        // On a terminal, a replay past one second shows done / total and the file replaying.
        let mut bar = None;
        let mut progress = |p: Progress<'_>| match p {
            Progress::Planned(n) => {
                bar = Some(crate::cli::output::Progress::steps("Replaying", n as u64, self.progress))
            }
            Progress::Applying(m) => bar.iter().for_each(|b| b.step(m.name)),
            Progress::Applied(..) => bar.iter().for_each(|b| b.advance()),
            Progress::Retrying { .. } => {}
        };
        self.location.replay(migrations, upto, &mut progress).map_err(|mut e| {
            if let db::schema::ReplayError::Migration { file, .. }
            | db::schema::ReplayError::ScratchMigration { file, .. } = &mut e
            {
                *file = self.dir.show(file);
            }
            e
        })
    }
}

impl Place {
    /// Resolves the environment and its database (saying which on stderr), without reading
    /// the migrations: a command can start on the database while they are read.
    pub fn resolve(ctx: &mut Ctx, args: &DbArgs) -> anyhow::Result<Place> {
        let project = ctx.project()?;
        let mut env = resolve_env(&project, &args.env)?;
        start_local(ctx, &mut env)?;
        if let Some(migrations) = &ctx.embedded {
            crate::environment::check_build_root(&env, migrations)?;
        }
        let place = Place {
            embedded: ctx.embedded,
            busy: args.busy_timeout,
            lock_timeout: args.lock_timeout,
            progress: ctx.out.progress_shown(),
            path: env.database().to_owned(),
            location: Location::of(&env),
            project,
            env,
        };
        ctx.out.environment(place.env.name(), place.env.protected(), &place.show());
        Ok(place)
    }

    /// The project's migrations directory, read (the embedded migrations, in a host binary).
    pub fn read_migrations(&self) -> anyhow::Result<MigrationDir> {
        if let Some(migrations) = &self.embedded {
            return Ok(embedded_dir(migrations));
        }
        let project = &self.project;
        Ok(MigrationDir::read(&project.migrations, &project.show(&project.migrations))?)
    }

    /// The migrations, checked (without `--strict`): the verdict `.envdb/check-cache.json`
    /// holds when no file changed since, else every file read (and the verdict cached). Not
    /// in CI, and never for a protected environment: there every file is read and hashed.
    pub fn checked(&self) -> anyhow::Result<Checked> {
        if self.embedded.is_some() {
            return Ok(Checked::of(self.read_migrations()?, crate::problem::Report::default()));
        }
        let project = &self.project;
        let display = project.show(&project.migrations);
        let use_cache = check_cache::allowed(false) && !self.env.protected();
        Ok(check_cache::checked(&project.root, &project.migrations, &display, self.dialect(), use_cache)?)
    }

    /// Creates the database when it is missing and the backend does not create it on opening
    /// (a server database), saying so; a protected environment needs `--create`.
    pub fn create_missing(&self, ctx: &mut Ctx, allowed: bool) -> anyhow::Result<()> {
        if self.location.created_on_open() {
            return Ok(());
        }
        // One connection: an unreachable server (or a wrong password) is reported here, once,
        // within the connect timeout, and not again by the run lock's connection.
        let opts = OpenOptions { create: false, read_only: true, busy_timeout: self.busy };
        if self.location.open_existing(opts)?.is_some() {
            return Ok(());
        }
        self.create_absent(ctx, allowed)
    }

    /// `create_missing` for a caller that found the database missing already: created (and
    /// said so) unless a concurrent run made it meanwhile; refused for a protected environment
    /// without `--create`.
    pub fn create_absent(&self, ctx: &mut Ctx, allowed: bool) -> anyhow::Result<()> {
        if self.location.created_on_open() {
            return Ok(());
        }
        anyhow::ensure!(
            allowed || !self.env.protected(),
            "the database {} does not exist, and `{}` is protected; nothing was changed\n  help: check the URL, or pass --create to create it",
            self.show(),
            self.env.name()
        );
        if self.location.create()? {
            ctx.out.status("Created", format!("the database {}", self.show()));
        }
        Ok(())
    }

    /// The SQL dialect the migrations run in here: PostgreSQL's for a server database, else
    /// the one envdb.toml implies.
    pub fn dialect(&self) -> crate::sql_lex::Dialect {
        match self.env.url() {
            Some(_) => crate::sql_lex::Dialect::Postgres,
            None => self.project.config.dialect(),
        }
    }

    pub fn show(&self) -> String {
        match self.location.file() {
            Some(path) => self.project.show(path).display().to_string(),
            None => self.location.label(),
        }
    }

    /// Opens the database; `create` makes it (and its directory) when missing. A database that
    /// belongs to another environment is refused.
    pub fn open(&self, create: bool) -> Result<Box<dyn Database>, DbError> {
        let mut db = self.connect(create, false)?;
        db.check_environment(self.env.name())?;
        Ok(db)
    }

    /// Opens the database for `baseline` or `adopt`, refusing one envdb has migrated already.
    pub fn open_unmigrated(&self, command: &str) -> anyhow::Result<Box<dyn Database>> {
        self.unmigrated(self.open(false)?, command)
    }

    /// `db`, refused when envdb has migrated it already.
    pub fn unmigrated(&self, mut db: Box<dyn Database>, command: &str) -> anyhow::Result<Box<dyn Database>> {
        let latest = db.latest()?;
        anyhow::ensure!(
            latest == 0,
            "{} already has a migration history (version {latest}); {command} only takes over a database envdb has never migrated; nothing was recorded\n  help: `cargo envdb status` shows where it stands",
            self.show()
        );
        Ok(db)
    }

    /// Opens for reading only; `None` when the database does not exist yet.
    pub fn open_existing_read_only(&self) -> Result<Option<Box<dyn Database>>, DbError> {
        let opts = OpenOptions { create: false, read_only: true, busy_timeout: self.busy };
        let Some(mut db) = self.location.open_existing(opts)? else { return Ok(None) };
        db.check_environment(self.env.name())?;
        Ok(Some(db))
    }

    /// Opens the database at `at` with this target's options, without checking its
    /// environment: the one `reset` builds to replace this one, or this one (`create` makes it).
    pub fn connect_at(&self, at: &Location, create: bool, read_only: bool) -> Result<Box<dyn Database>, DbError> {
        at.open(OpenOptions { create, read_only, busy_timeout: self.busy })
    }

    fn connect(&self, create: bool, read_only: bool) -> Result<Box<dyn Database>, DbError> {
        self.connect_at(&self.location, create, read_only)
    }

    /// The applied migrations, empty when the database does not exist yet.
    pub fn applied(&self) -> Result<Vec<crate::plan::Applied>, DbError> {
        match self.open_existing_read_only()? {
            Some(mut db) => db.applied(),
            None => Ok(Vec::new()),
        }
    }

    /// Takes the exclusive run lock, saying so when it has to wait.
    pub fn run_lock(&self, ctx: &mut Ctx) -> Result<RunLock, DbError> {
        let timeout = self.lock_timeout;
        let out = &mut ctx.out;
        self.location.run_lock(timeout, &mut |what| out.status("Waiting", format!("for {what} (up to {timeout:?})")))
    }

    /// Where this environment's backups go.
    pub fn backups_dir(&self) -> PathBuf {
        db::backup::dir(&self.env.spec.data_dir)
    }

    /// The files of this database's backups in its backups directory, and the databases
    /// restores left beside it on its server, oldest first, the cheap checks done (see
    /// `db::backup::list_of`).
    pub fn backup_list(&self) -> anyhow::Result<Vec<db::backup::BackupFile>> {
        let dir = self.backups_dir();
        let mut list = db::backup::list_of(&dir, &self.location.backup_stem(), self.location.file(), self.env.name())
            .with_context(|| format!("cannot read {}", dir.display()))?;
        list.extend(self.location.restore_leftovers(self.env.name())?);
        list.sort_by(|a, b| (&a.timestamp, &a.path).cmp(&(&b.timestamp, &b.path)));
        Ok(list)
    }

    /// Backs the database up (to `dest`, or a new name in the backups directory), showing
    /// progress on a terminal when it takes more than a second; `dump` says how for a server.
    pub fn backup(
        &self,
        ctx: &mut Ctx,
        dest: Option<&std::path::Path>,
        vacuum: bool,
        dump: db::backup::options::DumpOptions,
    ) -> anyhow::Result<db::backup::Made> {
        let dest = dest.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_owned()));
        let mut progress = ctx.out.progress("Backing up");
        let opts = db::backup::BackupOptions { vacuum, busy_timeout: self.busy, ..Default::default() };
        Ok(self.location.backup(
            self.env.name(),
            &self.backups_dir(),
            dest.as_deref(),
            opts,
            dump,
            &mut |done, total| progress.update(done, total),
        )?)
    }

    /// Keeps applications out for as long as the returned guard lives, refusing (and naming them
    /// where the system can tell) while one runs. With `force`, goes ahead without the guard.
    pub fn hold_applications(&self, what: &str, force: bool) -> anyhow::Result<Option<lock::Held>> {
        if force {
            return Ok(None);
        }
        if self.location.file().is_none() {
            // A server database: the application is visible by its sessions' application_name.
            let sessions = self.app_sessions()?;
            anyhow::ensure!(
                sessions.is_empty(),
                "the application is connected to {} ({} session(s): {}); nothing was changed\n  help: stop the application, then {what} again, or pass --force to {what} anyway (audited)",
                self.show(),
                sessions.len(),
                sessions.join("; ")
            );
            return Ok(None);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })?;
        }
        if let Some(held) = lock::try_exclusive_app_lock(&self.path)? {
            return Ok(Some(held));
        }
        let in_use = self.in_use().unwrap_or_else(|| "an application holds the database".into());
        anyhow::bail!(
            "{in_use}; nothing was changed\n  help: stop the application, then {what} again, or pass --force to {what} anyway"
        )
    }

    /// The application's sessions on a server database (`application_name`
    /// `envdb-app:<project>:<env>`, as the runtime names them), each named; none for a file.
    pub fn app_sessions(&self) -> anyhow::Result<Vec<String>> {
        let app = crate::runtime::session_name(Some(&self.env));
        Ok(self.location.app_sessions(&app)?)
    }

    /// Whether the application runs: holds the file's lock, or has sessions on the server.
    pub fn app_connected(&self) -> bool {
        match self.location.file() {
            Some(path) => lock::app_running(path),
            None => self.app_sessions().is_ok_and(|s| !s.is_empty()),
        }
    }

    /// The name the next automatic backup of this database at `version` would take.
    pub fn backup_name(&self, version: u64) -> PathBuf {
        let tail = if self.location.file().is_some() { ".db" } else { ".dump" };
        db::backup::free_name(&self.backups_dir(), &self.location.backup_stem(), self.env.name(), version, tail)
    }

    /// `<who> holds <db>.lock (the database is in use)` while an application runs, naming it
    /// where the system can tell; `None` when none does.
    pub fn in_use(&self) -> Option<String> {
        if !lock::app_running(&self.path) {
            return None;
        }
        let holders = lock::app_holders(&self.path);
        let who = if holders.is_empty() { String::from("an application") } else { holders.join(", ") };
        let lock = self.project.show(&lock::lock_path(&self.path, "lock")).display().to_string();
        Some(format!("{who} holds {lock} (the database is in use)"))
    }

    /// The database's schema version, 0 when it does not exist or has no history.
    pub fn version(&self) -> u64 {
        self.open_existing_read_only().ok().flatten().and_then(|mut db| db.latest().ok()).unwrap_or(0)
    }

    /// Runs a command that writes to the database: a destructive one against a protected
    /// environment needs confirmation first, and every write to a protected environment is
    /// appended to its audit log, failed or not.
    pub fn write<T>(
        &self,
        ctx: &mut Ctx,
        operation: &str,
        destructive: bool,
        body: impl FnOnce(&mut Ctx) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if destructive {
            super::protect::confirm(ctx, &self.env, operation)?;
        }
        super::audit::audited(&self.env, || self.version(), || body(ctx))
    }
}
