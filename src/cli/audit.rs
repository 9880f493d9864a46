//! The audit log of a protected environment: reading it back, and `audited` around a command's
//! write (the lines are written by `db::audit`, which the runtime shares).

use crate::environment::Environment;
use anyhow::Context as _;

pub use crate::db::audit::{append, database, path};

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
