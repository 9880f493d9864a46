//! What `init` writes into a host project, as pure functions from the current content of a file
//! to its new content (or a refusal): merging never clobbers what the user wrote.

pub mod justfile;
pub mod manifest;
pub mod source;

use toml_edit::{DocumentMut, Item, value};

/// A change to one file: its new content and what was kept rather than overwritten.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Merge {
    /// `None` when the file stays as it is.
    pub content: Option<String>,
    /// Things left alone because the user already has them differently (reported, never overwritten).
    pub kept: Vec<String>,
}

/// envdb.toml with every default spelled out, commented.
pub fn envdb_toml(name: &str) -> String {
    format!(
        r#"# cargo-envdb settings. Every key is optional; the values below are the defaults.

# The migrations directory, relative to this file.
migrations = "migrations"
# The project's name: the default database file is <name>.db, prod lives in {{data_dir}}/<name>.
name = "{name}"
# The variable that names the environment, and the environment used when nothing names one.
env_var = "ENVDB_ENV"
default_env = "dev"

[env.dev]
data_dir = "{{workspace}}/.envdb/dev"
seed = "seeds/dev.sql"

[env.test]
data_dir = "{{workspace}}/.envdb/test"
# A brand-new database for every `cargo envdb test` run.
ephemeral = false

[env.prod]
# {{data_dir}} is the OS data directory (~/.local/share on Linux).
data_dir = "{{data_dir}}/{name}"
protected = true
# Backups kept after each `cargo envdb upgrade`.
backup_keep = 10
"#
    )
}

pub const INITIAL_MIGRATION: &str = "-- Migration 0001: initial schema\n-- Write your first tables here; `cargo envdb new <words>` creates the next migration.\n\nCREATE TABLE IF NOT EXISTS example (\n    id INTEGER PRIMARY KEY,\n    name TEXT NOT NULL\n);\n";

pub const DEV_SEED: &str = "-- Seed data for the dev environment, run by `cargo envdb seed` and after `cargo envdb reset`.\n-- It runs in one transaction.\n\nINSERT INTO example (name) VALUES ('first example');\n";

/// Appends the lines `wanted` that `current` lacks.
pub fn append_lines(current: Option<&str>, wanted: &[&str]) -> Merge {
    let text = current.unwrap_or_default();
    let missing: Vec<&str> = wanted.iter().copied().filter(|w| !text.lines().any(|l| l.trim() == *w)).collect();
    if missing.is_empty() {
        return Merge::default();
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in missing {
        out.push_str(line);
        out.push('\n');
    }
    Merge { content: Some(out), kept: Vec::new() }
}

/// Adds `[alias]` entries to `.cargo/config.toml`, keeping comments, other keys and any alias of
/// the same name the user already has. Invalid TOML is refused.
pub fn merge_aliases(current: Option<&str>, aliases: &[(&str, &str)]) -> Result<Merge, String> {
    let mut doc: DocumentMut = current.unwrap_or_default().parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let table = doc.entry("alias").or_insert(toml_edit::table());
    let Some(table) = table.as_table_like_mut() else {
        return Err("`alias` is not a table".into());
    };
    let mut merge = Merge::default();
    let mut changed = false;
    for (name, command) in aliases {
        match table.get(name) {
            None => {
                table.insert(name, value(*command));
                changed = true;
            }
            Some(existing) => {
                let same = existing.as_str() == Some(command);
                if !same {
                    merge.kept.push(format!("alias `{name}` already exists; kept as it is"));
                }
            }
        }
    }
    if changed {
        merge.content = Some(doc.to_string());
    }
    Ok(merge)
}

/// Adds `member` to the workspace members of a root Cargo.toml (creating `[workspace]` for a
/// single package).
pub fn add_workspace_member(cargo_toml: &str, member: &str) -> Result<Merge, String> {
    let mut doc: DocumentMut = cargo_toml.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let ws = doc.entry("workspace").or_insert(toml_edit::table());
    let Some(ws) = ws.as_table_like_mut() else { return Err("`workspace` is not a table".into()) };
    let members = ws.entry("members").or_insert(Item::Value(toml_edit::Array::new().into()));
    let Some(array) = members.as_array_mut() else { return Err("`workspace.members` is not an array".into()) };
    if array.iter().any(|v| v.as_str() == Some(member)) {
        return Ok(Merge::default());
    }
    array.push(member);
    Ok(Merge { content: Some(doc.to_string()), kept: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_merge_and_keep_comments() {
        let current = "# my settings\n[build]\njobs = 2 # two\n\n[alias]\n# mine\ndev = \"run --bin mine\"\n";
        let m = merge_aliases(Some(current), &[("dev", "envdb run"), ("dev-reset", "envdb reset")]).unwrap();
        let out = m.content.unwrap();
        for line in current.lines() {
            assert!(out.contains(line), "lost {line:?} in\n{out}");
        }
        assert!(out.contains("dev-reset = \"envdb reset\""));
        assert_eq!(m.kept, ["alias `dev` already exists; kept as it is"]);
        let again = merge_aliases(Some(&out), &[("dev", "envdb run"), ("dev-reset", "envdb reset")]).unwrap();
        assert_eq!(again.content, None);
        assert!(merge_aliases(Some("[alias\n"), &[]).is_err());
    }

    #[test]
    fn lines_and_members() {
        assert_eq!(append_lines(Some("target\n.envdb/\n"), &[".envdb/"]), Merge::default());
        assert_eq!(append_lines(Some("target"), &[".envdb/"]).content.unwrap(), "target\n.envdb/\n");
        let m = add_workspace_member("[package]\nname = \"a\"\n", "xtask").unwrap();
        assert!(m.content.unwrap().contains("[workspace]\nmembers = [\"xtask\"]"));
        let m = add_workspace_member("[workspace]\nmembers = [\"a\", \"xtask\"]\n", "xtask").unwrap();
        assert_eq!(m.content, None);
    }
}
