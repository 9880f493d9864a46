//! The names a justfile already defines, and appending the recipes it lacks. The names come
//! from `just --dump --dump-format json` when just is installed (imports included); otherwise the
//! top-level lines are read as just reads them: `@` quiet recipes, parameters with defaults
//! (strings, backticks, calls, parentheses), variadics, `alias NAME := …`, `[attribute]` lines,
//! and multi-line strings that must not be mistaken for headers.

use super::Merge;

/// A name the justfile defines, and what it is (recipe, alias or module), for the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defined {
    pub name: String,
    pub kind: &'static str,
}

fn defined(name: &str, kind: &'static str) -> Defined {
    Defined { name: name.to_owned(), kind }
}

/// The names in just's own JSON dump of a justfile, `None` when it is not that JSON.
pub fn names_from_dump(json: &[u8]) -> Option<Vec<Defined>> {
    let dump: serde_json::Value = serde_json::from_slice(json).ok()?;
    let mut out = Vec::new();
    for (key, kind) in [("recipes", "recipe"), ("aliases", "alias"), ("modules", "module")] {
        if let Some(map) = dump.get(key).and_then(|m| m.as_object()) {
            out.extend(map.keys().map(|name| defined(name, kind)));
        }
    }
    dump.get("recipes")?.as_object()?;
    Some(out)
}

/// The recipes, aliases and modules a justfile defines at its top level, read as just reads them.
pub fn defined_names(text: &str) -> Vec<Defined> {
    let mut out = Vec::new();
    // The closing delimiter of a multi-line string or backtick opened on an earlier line.
    let mut open: Option<&str> = None;
    for line in text.lines() {
        if let Some(delim) = open {
            if line.contains(delim) {
                open = None;
            }
            continue;
        }
        // Recipe bodies are indented; comments and `[attribute]` lines name nothing.
        if line.starts_with([' ', '\t', '#', '[']) {
            continue;
        }
        match item(line) {
            Some(d) => out.push(d),
            None => open = unclosed_literal(line),
        }
    }
    out
}

/// The closing delimiters of just's indented strings and backticks (`'''`, `"""`, three backticks).
const TRIPLES: [&str; 3] = ["'''", "\"\"\"", "```"];

/// A NAME (`[a-zA-Z_][a-zA-Z0-9_-]*`) at the start of `s`, and the rest.
fn name(s: &str) -> Option<(&str, &str)> {
    let first = s.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(s.len());
    Some(s.split_at(end))
}

fn blank(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// The rest of `s` after the string or backtick it starts with; `Err(delimiter)` when an
/// indented (triple-quoted) one does not close on this line.
fn after_literal(s: &str) -> Result<&str, &'static str> {
    for delim in TRIPLES {
        if let Some(body) = s.strip_prefix(delim) {
            return body.find(delim).map(|i| &body[i + delim.len()..]).ok_or(delim);
        }
    }
    let Some(quote) = s.chars().next() else { return Ok(s) };
    let mut escaped = false;
    for (i, c) in s[1..].char_indices() {
        if c == quote && !escaped {
            return Ok(&s[1 + i + 1..]);
        }
        escaped = quote == '"' && c == '\\' && !escaped;
    }
    Ok("") // unterminated: just refuses the file; nothing more to read on this line
}

/// The rest after a parenthesised expression (strings inside skipped).
fn after_parens(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut rest = s;
    loop {
        let i = rest.find(['(', ')', '\'', '"', '`'])?;
        let tail = &rest[i..];
        rest = match tail.as_bytes()[0] {
            b'(' => {
                depth += 1;
                &tail[1..]
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&tail[1..]);
                }
                &tail[1..]
            }
            _ => after_literal(tail).ok()?,
        };
    }
}

/// The rest after a parameter's default value: a string, a backtick, `( … )`, a NAME, a call
/// `NAME( … )` or a prefixed string (`f'…'`).
fn after_value(s: &str) -> Option<&str> {
    match s.chars().next()? {
        '\'' | '"' | '`' => after_literal(s).ok(),
        '(' => after_parens(s),
        _ => {
            let (_, rest) = name(s)?;
            match rest.chars().next() {
                Some('(') => after_parens(rest),
                Some('\'' | '"' | '`') => after_literal(rest).ok(),
                _ => Some(rest),
            }
        }
    }
}

/// The recipe or alias a top-level line declares: `alias NAME := …`, or
/// `@? NAME ( [$*+]* NAME (= value)? )* :` (a `:` that is not `:=`).
fn item(line: &str) -> Option<Defined> {
    let quiet = line.starts_with('@');
    let (first, mut rest) = name(line.strip_prefix('@').unwrap_or(line))?;
    if first == "alias"
        && !quiet
        && let Some((alias, after)) = name(blank(rest))
        && blank(after).starts_with(":=")
    {
        return Some(defined(alias, "alias"));
    }
    loop {
        rest = blank(rest);
        if let Some(after) = rest.strip_prefix(':') {
            return (!after.starts_with('=')).then(|| defined(first, "recipe"));
        }
        let param = rest.strip_prefix(['*', '+']).unwrap_or(rest);
        let param = param.strip_prefix('$').unwrap_or(param);
        let (_, after) = name(param)?;
        let after = blank(after);
        rest = match after.strip_prefix('=') {
            Some(value) if !value.starts_with('=') => after_value(blank(value))?,
            _ => after,
        };
    }
}

/// The triple delimiter a line leaves open (an indented string or backtick that continues on the
/// next lines), skipping complete strings and a trailing comment.
fn unclosed_literal(line: &str) -> Option<&'static str> {
    let mut rest = line;
    while let Some(i) = rest.find(['\'', '"', '`', '#']) {
        let tail = &rest[i..];
        if tail.starts_with('#') {
            return None;
        }
        match after_literal(tail) {
            Ok(after) => rest = after,
            Err(delim) => return Some(delim),
        }
    }
    None
}

/// Appends the recipes whose names the justfile does not define yet (`defined`: see
/// [`defined_names`] and [`names_from_dump`]); a name already taken is reported and kept.
pub fn merge_justfile(current: Option<&str>, defined: &[Defined], wanted: &[(&str, &str)]) -> Merge {
    let text = current.unwrap_or_default();
    let mut merge = Merge::default();
    let mut out = text.to_owned();
    let mut added = false;
    for (name, recipe) in wanted {
        if let Some(d) = defined.iter().find(|d| d.name == *name) {
            if !text.contains(recipe.trim()) {
                merge.kept.push(format!("justfile {} `{name}` already exists; kept as it is", d.kind));
            }
            continue;
        }
        if !added {
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push('\n');
            }
            out.push_str("# Added by `cargo envdb init`.\n");
            added = true;
        } else {
            out.push('\n');
        }
        out.push_str(recipe);
    }
    if added {
        merge.content = Some(out);
    }
    merge
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        defined_names(text).into_iter().map(|d| format!("{} {}", d.kind, d.name)).collect()
    }

    #[test]
    fn headers_as_just_reads_them() {
        let text = r#"#!/usr/bin/env just --justfile
set shell := ["bash", "-c"]
set dotenv-load
export PATH := "/x:" + env_var('PATH')
version := "1"
import? 'other.just'
mod? tools
mod docs 'docs/justfile'

[private]
@quiet:
    echo quiet

plain: quiet
    echo {{version}}

dev-start env="dev" port=("80" + "80") *ARGS:
    echo {{env}}

colon-in-default sep=":" $exported=`echo a:b` +rest:
    echo

call dir=join("a", "b:c") fmt=f'{{version}}:x':
    echo

[group: 'db']
db-check: && plain
    echo

alias dev := dev-start
alias  t  :=  plain
_hidden:
    echo
"#;
        assert_eq!(
            names(text),
            [
                "recipe quiet",
                "recipe plain",
                "recipe dev-start",
                "recipe colon-in-default",
                "recipe call",
                "recipe db-check",
                "alias dev",
                "alias t",
                "recipe _hidden"
            ]
        );
    }

    #[test]
    fn multi_line_strings_and_bodies_are_not_headers() {
        let text = "help := '''\nfake: not a recipe\n'''\nnote := \"\"\"\nalso-fake:\n\"\"\"\nreal:\n    echo 'x:'\ncmd := ```\nbt-fake:\n```\nlast:\n";
        assert_eq!(names(text), ["recipe real", "recipe last"]);
        assert_eq!(names("a := \"x\\\"y\" # '''\nb:\n"), ["recipe b"]);
    }

    #[test]
    fn not_headers() {
        for line in ["x := 'a:b'", "x:='a'", "set positional-arguments := true", "unexport FOO", "=:", "9:", "a b c"] {
            assert_eq!(names(line), Vec::<String>::new(), "{line}");
        }
        assert_eq!(names("x == y:"), Vec::<String>::new());
    }

    #[test]
    fn the_dump_gives_recipes_aliases_and_modules() {
        let json = br#"{"aliases":{"d":{"target":"dev-start"}},"recipes":{"dev-start":{},"_x":{}},"modules":{"tools":{}},"settings":{}}"#;
        let mut got: Vec<String> = names_from_dump(json).unwrap().into_iter().map(|d| d.name).collect();
        got.sort();
        assert_eq!(got, ["_x", "d", "dev-start", "tools"]);
        assert_eq!(names_from_dump(b"not json"), None);
        assert_eq!(names_from_dump(b"[]"), None);
    }

    #[test]
    fn recipes_are_appended_never_replaced() {
        let current = "set shell := [\"bash\", \"-c\"]\nversion := \"1\"\n\n# start it\n@dev-start env=\"dev\":\n    cargo run -- {{env}}\nalias db-check := dev-start\n";
        let m = merge_justfile(
            Some(current),
            &defined_names(current),
            &[
                ("dev-start", "dev-start:\n    cargo envdb run\n"),
                ("db-check", "db-check:\n    cargo envdb check\n"),
                ("test", "test:\n    cargo envdb test\n"),
            ],
        );
        let out = m.content.unwrap();
        assert!(out.starts_with(current));
        assert!(out.ends_with("# Added by `cargo envdb init`.\ntest:\n    cargo envdb test\n"), "{out}");
        assert_eq!(
            m.kept,
            [
                "justfile recipe `dev-start` already exists; kept as it is",
                "justfile alias `db-check` already exists; kept as it is"
            ]
        );
        assert_eq!(names(&out), ["recipe dev-start", "alias db-check", "recipe test"]);
    }
}
