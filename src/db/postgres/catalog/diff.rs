//! The readable difference between two PostgreSQL schemas: a changed column says what changed
//! (`column public.t.x: type integer → bigint (database → migrations)`), any other changed object
//! shows the lines that differ; missing and unexpected objects are worded as on SQLite.

use super::Object;
use super::text::Column;
use crate::db::schema;
use std::collections::BTreeMap;

/// A readable list of differences between the actual (database) and the expected (migrations)
/// schema; empty when equal.
pub fn diff(actual: &[Object], expected: &[Object]) -> Vec<String> {
    let key = |o: &Object| (o.0.clone(), o.1.clone());
    let actual_by_key: BTreeMap<_, _> = actual.iter().map(|o| (key(o), o)).collect();
    let expected_by_key: BTreeMap<_, _> = expected.iter().map(|o| (key(o), o)).collect();
    let mut out = Vec::new();
    for e in expected {
        match actual_by_key.get(&key(e)) {
            Some(a) if a.2 != e.2 => out.extend(changed(a, e)),
            _ => {}
        }
    }
    let only = |list: &[Object], other: &BTreeMap<_, _>| -> Vec<Object> {
        list.iter().filter(|o| !other.contains_key(&key(o))).cloned().collect()
    };
    out.extend(schema::diff(&only(actual, &expected_by_key), &only(expected, &actual_by_key)));
    out
}

/// The differences of one object whose text differs.
fn changed(actual: &Object, expected: &Object) -> Vec<String> {
    let (kind, name) = (&expected.0, &expected.1);
    if !actual.2.contains('\n') && !expected.2.contains('\n') {
        return schema::diff(std::slice::from_ref(actual), std::slice::from_ref(expected));
    }
    // A column list's commas say which line is last, not what the column is.
    let has_columns = kind == "table" || kind == "type";
    let lines = |text: &str| -> Vec<String> {
        text.lines().map(|l| if has_columns { l.trim_end_matches(',') } else { l }.to_owned()).collect()
    };
    let (removed, added) = line_diff(&lines(&actual.2), &lines(&expected.2));
    let mut out = Vec::new();
    let mut removed_rest = Vec::new();
    let mut added_rest: Vec<&String> = added.iter().collect();
    let column = |line: &str| if has_columns { line.strip_prefix("    ").and_then(Column::parse) } else { None };
    let part = if kind == "table" { "column" } else { "attribute" };
    let mut moved = false;
    for line in &removed {
        let Some(old) = column(line) else {
            removed_rest.push(line);
            continue;
        };
        let twin = added_rest.iter().position(|l| column(l).is_some_and(|new| new.name == old.name));
        match twin {
            Some(i) => {
                let new = column(added_rest.remove(i)).unwrap_or_else(|| old.clone());
                let changes = column_changes(&old, &new);
                // No change but its place: the reordering is shown below.
                moved |= changes.is_empty();
                if !changes.is_empty() {
                    out.push(format!("{part} {name}.{}: {changes} (database → migrations)", old.name));
                }
            }
            None => out.push(format!(
                "unexpected {part} {name}.{}, not created by any migration:\n    {}",
                old.name,
                line.trim()
            )),
        }
    }
    let mut other_added = Vec::new();
    for line in added_rest {
        match column(line) {
            Some(new) => {
                out.push(format!("missing {part} {name}.{}; the migrations create:\n    {}", new.name, line.trim()))
            }
            None => other_added.push(line),
        }
    }
    if !removed_rest.is_empty() || !other_added.is_empty() {
        let mut lines = format!("{kind} {name} differs (- database, + migrations):");
        for l in removed_rest {
            lines += &format!("\n    - {l}");
        }
        for l in other_added {
            lines += &format!("\n    + {l}");
        }
        out.push(lines);
    }
    if out.is_empty() || moved {
        // The same lines in another order (columns reordered): show both texts.
        out.extend(schema::diff(std::slice::from_ref(actual), std::slice::from_ref(expected)));
    }
    out
}

/// What differs between two versions of a column, e.g. `type integer → bigint, NOT NULL → nullable`.
fn column_changes(old: &Column, new: &Column) -> String {
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_owned());
    let nullability = |c: &Column| if c.not_null { "NOT NULL" } else { "nullable" };
    let identity = |c: &Column| c.identity.map_or("no identity".to_owned(), |h| format!("GENERATED {h} AS IDENTITY"));
    let mut changes = Vec::new();
    if old.ty != new.ty {
        changes.push(format!("type {} → {}", old.ty, new.ty));
    }
    if old.collation != new.collation {
        changes.push(format!("collation {} → {}", or(&old.collation, "default"), or(&new.collation, "default")));
    }
    if old.not_null != new.not_null {
        changes.push(format!("{} → {}", nullability(old), nullability(new)));
    }
    if old.identity != new.identity {
        changes.push(format!("{} → {}", identity(old), identity(new)));
    }
    if old.default != new.default {
        changes.push(format!("default {} → {}", or(&old.default, "none"), or(&new.default, "none")));
    }
    if old.generated != new.generated {
        let generated =
            |c: &Column| c.generated.as_ref().map_or("not generated".to_owned(), |e| format!("generated as ({e})"));
        changes.push(format!("{} → {}", generated(old), generated(new)));
    }
    changes.join(", ")
}

/// The lines only in `a` and the lines only in `b`, each in its order, by a longest common
/// subsequence (the common head and tail are skipped first, so a small edit of a long body is
/// cheap).
fn line_diff(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j == b.len() || (i < a.len() && lcs[i + 1][j] >= lcs[i][j + 1]) {
            removed.push(a[i].clone());
            i += 1;
        } else {
            added.push(b[j].clone());
            j += 1;
        }
    }
    (removed, added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &str) -> Object {
        ("table".into(), "public.t".into(), format!("CREATE TABLE public.t (\n{columns}\n)"))
    }

    #[test]
    fn a_changed_column_says_what_changed_and_an_added_or_dropped_one_is_named() {
        let db = table("    id bigint NOT NULL,\n    x integer DEFAULT 0,\n    gone text");
        let migrations = table("    id bigint NOT NULL,\n    x bigint NOT NULL,\n    new text COLLATE \"C\"");
        let d = diff(&[db], &[migrations]);
        assert_eq!(
            d,
            [
                "column public.t.x: type integer → bigint, nullable → NOT NULL, default 0 → none (database → migrations)",
                "unexpected column public.t.gone, not created by any migration:\n    gone text",
                "missing column public.t.new; the migrations create:\n    new text COLLATE \"C\"",
            ]
        );
    }

    #[test]
    fn other_objects_show_their_differing_lines_and_reordered_columns_show_both_texts() {
        let f =
            |body: &str| ("function".into(), "public.f()".into(), format!("CREATE FUNCTION public.f()\n{body}\n$$"));
        let d = diff(&[f(" RETURN 1;")], &[f(" RETURN 2;")]);
        assert_eq!(d, ["function public.f() differs (- database, + migrations):\n    -  RETURN 1;\n    +  RETURN 2;"]);
        let d = diff(&[table("    a int,\n    b int")], &[table("    b int,\n    a int")]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("table public.t differs:\n    database:   CREATE TABLE"), "{d:?}");
        assert!(diff(&[table("    a int")], &[table("    a int")]).is_empty());
    }
}
