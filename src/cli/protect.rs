//! Protected environments: a banner and the environment's name typed at a terminal, or
//! `--confirm NAME` where there is none. A wrong or missing confirmation aborts before anything changes.

use super::Ctx;
use super::output::BAD;
use crate::environment::Environment;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

pub fn confirm(ctx: &mut Ctx, env: &Environment, operation: &str) -> anyhow::Result<()> {
    if !env.protected() {
        return Ok(());
    }
    let name = env.name();
    ctx.out.line_err(format!(
        "{BAD}┌ PROTECTED ENVIRONMENT: {name}{BAD:#}\n{BAD}│{BAD:#} database:  {}\n{BAD}│{BAD:#} operation: {operation}\n{BAD}└{BAD:#}",
        super::audit::database(env)
    ));
    let given = &ctx.global.confirm;
    if !given.is_empty() {
        anyhow::ensure!(
            given.iter().any(|g| g == name),
            "--confirm {} does not match the environment `{name}`; nothing was changed\n  help: pass --confirm {name} to {operation} it",
            given.join(" --confirm ")
        );
        return Ok(());
    }
    let stdin = std::io::stdin();
    anyhow::ensure!(
        stdin.is_terminal(),
        "`{name}` is protected and there is no terminal to confirm at; nothing was changed\n  help: pass --confirm {name} to {operation} it"
    );
    eprint!("Type the environment's name ({name}) to {operation} it: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    anyhow::ensure!(
        answer.trim() == name,
        "confirmation {:?} does not match `{name}`; nothing was changed",
        answer.trim()
    );
    Ok(())
}
