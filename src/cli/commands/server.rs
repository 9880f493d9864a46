//! `cargo envdb server start|stop|status|logs`: the local PostgreSQL server of an environment
//! with `server = "local"` (made on first start; left running until stopped).

use crate::cli::Ctx;
use crate::cli::target::{self, EnvArgs};
use crate::local_server::{LocalSpec, control};
use serde::Serialize;
use std::process::ExitCode;

/// Start, stop or look at the local PostgreSQL server of an environment with `server = "local"`
///
/// Example: `cargo envdb server start`, `cargo envdb server logs --env test --lines 100`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Start it (making the cluster and the database on first use); nothing when it runs
    Start(Which),
    /// Stop it (and its PgBouncer); open sessions are cut
    Stop(Which),
    /// Whether it runs, where it listens, where its files are
    Status(Which),
    /// The end of its log (and of its PgBouncer's)
    Logs {
        #[command(flatten)]
        which: Which,
        /// How many lines of each log
        #[arg(long, short = 'n', value_name = "N", default_value = "50")]
        lines: usize,
    },
}

#[derive(Debug, clap::Args)]
struct Which {
    /// The environment (default: $ENVDB_ENV, else default_env)
    #[arg(short, long, value_name = "NAME")]
    env: Option<String>,
}

/// What `server status` reports.
#[derive(Serialize)]
struct Status {
    environment: String,
    running: bool,
    pid: Option<i32>,
    version: Option<String>,
    port: u16,
    socket_dir: String,
    data_dir: String,
    log: String,
    database: String,
    pgbouncer: Option<Bouncer>,
}

#[derive(Serialize)]
struct Bouncer {
    running: bool,
    port: Option<u16>,
}

/// The environment's local server, or an error saying the environment has none.
fn local(ctx: &Ctx, which: &Which) -> anyhow::Result<LocalSpec> {
    let project = ctx.project()?;
    let args = EnvArgs { env: which.env.clone(), ..EnvArgs::default() };
    let env = target::resolve_env(&project, &args)?;
    env.spec.local.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "environment `{}` has no local server ({})\n  help: set `server = \"local\"` in [env.{}] of envdb.toml for a PostgreSQL server envdb runs itself",
            env.name(),
            env.spec.location(&|p| project.show(p).display().to_string()),
            env.name()
        )
    })
}

pub fn exec(args: Args, ctx: &mut Ctx) -> anyhow::Result<ExitCode> {
    if ctx.out.json() && !matches!(args.action, Action::Status(_)) {
        // As for every command without JSON: refused before anything runs.
        ctx.out.error_line(
            "`server start`, `stop` and `logs` do not print JSON; nothing was run\n  help: run them without `--format json`; `server status --format json` does",
        );
        return Ok(ExitCode::from(2));
    }
    match args.action {
        Action::Start(which) => {
            let spec = local(ctx, &which)?;
            let out = &mut ctx.out;
            let running = control::ensure_running(&spec, &mut |verb, text| out.status(verb, text))?;
            if running.already {
                ctx.out.status("Running", format!("the local server of `{}` (pid {})", spec.env, running.pid));
            }
        }
        Action::Stop(which) => {
            let spec = local(ctx, &which)?;
            let out = &mut ctx.out;
            if !control::stop(&spec, &mut |verb, text| out.status(verb, text))? {
                ctx.out.status("Stopped", format!("nothing: the local server of `{}` is not running", spec.env));
            }
        }
        Action::Status(which) => {
            let status = status(&local(ctx, &which)?);
            if ctx.out.json() {
                ctx.out.print_json(&status);
            } else {
                print(ctx, &status);
            }
        }
        Action::Logs { which, lines } => {
            let spec = local(ctx, &which)?;
            let mut logs = vec![spec.log()];
            if spec.pgbouncer {
                logs.push(spec.bouncer_log());
            }
            for log in logs {
                ctx.out.line(format!("==> {} <==", log.display()));
                if log.exists() {
                    ctx.out.line(control::tail(&log, lines));
                } else {
                    ctx.out.line("(no log yet: the server was never started)");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(spec: &LocalSpec) -> Status {
    let running = spec.running();
    Status {
        environment: spec.env.clone(),
        running: running.is_some(),
        pid: running.as_ref().map(|p| p.pid),
        version: spec.version(),
        port: spec.port(),
        socket_dir: spec.socket_dir().display().to_string(),
        data_dir: spec.data().display().to_string(),
        log: spec.log().display().to_string(),
        database: spec.url().redacted(),
        pgbouncer: spec
            .pgbouncer
            .then(|| Bouncer { running: spec.bouncer_running().is_some(), port: spec.bouncer_port() }),
    }
}

fn print(ctx: &mut Ctx, s: &Status) {
    let out = &mut ctx.out;
    let state = match (s.pid, &s.version) {
        (Some(pid), _) => format!("running (pid {pid})"),
        (None, Some(_)) => "stopped".into(),
        (None, None) => "not made yet (`cargo envdb server start` makes it)".into(),
    };
    out.line(format!("environment: {}", s.environment));
    out.line(format!("server:      {state}"));
    if let Some(v) = &s.version {
        out.line(format!("version:     PostgreSQL {v}"));
    }
    out.line(format!("listens on:  127.0.0.1:{} and {}", s.port, s.socket_dir));
    out.line(format!("data dir:    {}", s.data_dir));
    out.line(format!("log:         {}", s.log));
    out.line(format!("database:    {}", s.database));
    if let Some(b) = &s.pgbouncer {
        let port = b.port.map_or_else(|| "no port yet".to_owned(), |p| format!("127.0.0.1:{p}"));
        out.line(format!("pgbouncer:   {} ({port})", if b.running { "running" } else { "stopped" }));
    }
}
