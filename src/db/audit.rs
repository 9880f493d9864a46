//! The audit log of a protected environment, as written: one JSON line per write in
//! `<data_dir>/audit.log` (mode 0600), appended by the command line and by the runtime alike.
//! Reading it back is the command line's (`cli::audit`).

use crate::environment::Environment;
use std::fmt::Write as _;
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

/// `text` as a JSON string (quotes included), escaped as serde_json escapes it.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One entry, its keys in the order serde_json writes them (sorted).
fn entry(env: &Environment, before: u64, after: u64, error: Option<&str>) -> String {
    let command: Vec<String> = std::env::args().map(|a| redact_arg(&a)).collect();
    let fields = [
        ("command", json_string(&command.join(" "))),
        ("database", json_string(&database(env))),
        ("environment", json_string(env.name())),
        ("error", error.map_or_else(|| "null".to_owned(), json_string)),
        ("host", json_string(&host())),
        ("outcome", json_string(if error.is_none() { "ok" } else { "error" })),
        ("time", json_string(&crate::db::history::now())),
        ("tool_version", json_string(crate::VERSION)),
        ("user", json_string(&user())),
        ("version_after", after.to_string()),
        ("version_before", before.to_string()),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json_string(k))).collect();
    format!("{{{}}}", body.join(","))
}

/// Appends one entry. `error` is `None` for a success.
pub fn append(env: &Environment, before: u64, after: u64, error: Option<&str>) -> std::io::Result<()> {
    std::fs::create_dir_all(&env.spec.data_dir)?;
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open.open(path(env))?;
    writeln!(file, "{}", entry(env, before, after, error))?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn strings_are_escaped_as_json() {
        assert_eq!(json_string("a\"b\\c\nd\te\u{1}é"), r#""a\"b\\c\nd\te\u0001é""#);
    }
}
