//! The audit log of a protected environment: one JSON line per write, in `<data_dir>/audit.log`.

use crate::environment::Environment;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;

pub fn path(env: &Environment) -> PathBuf {
    env.spec.data_dir.join("audit.log")
}

fn user() -> String {
    ["USER", "USERNAME", "LOGNAME"].iter().find_map(|k| std::env::var(k).ok()).unwrap_or_else(|| "unknown".into())
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// An argument as the log may keep it: one holding a URL (`postgres://…`, also as
/// `--database-url=postgres://…`) without its password.
fn redact_arg(arg: &str) -> String {
    if !arg.contains("://") {
        return arg.to_owned();
    }
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") && !flag.contains("://") => {
            format!("{flag}={}", crate::db_url::redact_or_hide(value))
        }
        _ => crate::db_url::redact_or_hide(arg),
    }
}

/// The environment's database as the log names it: a server database by its redacted URL.
pub fn database(env: &Environment) -> String {
    crate::db::location::Location::of(env).label()
}

/// Appends one entry. `error` is `None` for a success.
pub fn append(env: &Environment, before: u64, after: u64, error: Option<&str>) -> std::io::Result<()> {
    let command: Vec<String> = std::env::args().map(|a| redact_arg(&a)).collect();
    let entry = serde_json::json!({
        "time": crate::db::history::now(),
        "user": user(),
        "host": host(),
        "tool_version": crate::VERSION,
        "command": command.join(" "),
        "environment": env.name(),
        "database": database(env),
        "version_before": before,
        "version_after": after,
        "outcome": if error.is_none() { "ok" } else { "error" },
        "error": error,
    });
    std::fs::create_dir_all(&env.spec.data_dir)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path(env))?;
    writeln!(file, "{entry}")?;
    file.sync_data()
}

/// One line of the log as read back.
#[derive(Debug)]
pub enum Line {
    Entry(serde_json::Value),
    /// A line that is not an entry (a torn write, damage); `text` is the line, lossily
    /// decoded.
    Unreadable {
        line: usize,
        reason: String,
        text: String,
    },
}

/// Reads every line of the log at `path` (empty when it does not exist). A line that cannot be
/// read is kept as [`Line::Unreadable`] with its number, so that one bad line hides nothing else.
pub fn read(path: &std::path::Path) -> anyhow::Result<Vec<Line>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let unreadable =
            |reason: String| Line::Unreadable { line: i + 1, reason, text: String::from_utf8_lossy(raw).into_owned() };
        lines.push(match std::str::from_utf8(raw) {
            Err(e) => unreadable(format!("not UTF-8: {e}")),
            Ok(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(entry) if entry["time"].is_string() => Line::Entry(entry),
                Ok(_) => unreadable("JSON, but not an audit entry: no `time`".into()),
                Err(e) => unreadable(format!("not a JSON entry: {e}")),
            },
        });
    }
    Ok(lines)
}

/// Runs `body`; when `env` is protected, appends its outcome (with the schema version before and
/// after, read by `version`) to the audit log, failed or not.
pub fn audited<T>(
    env: &Environment,
    version: impl Fn() -> u64,
    body: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !env.protected() {
        return body();
    }
    let before = version();
    let result = body();
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    append(env, before, version(), error.as_deref())
        .with_context(|| format!("cannot append to the audit log in {}", env.spec.data_dir.display()))?;
    result
}
