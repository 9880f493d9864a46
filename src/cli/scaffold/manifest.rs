//! The envdb dependencies `init` adds to a package's Cargo.toml (toml_edit: comments, order and
//! every other key survive). An envdb dependency the package already has is kept and reported,
//! and the entries added beside it use its source.

use super::Merge;
use super::source::PACKAGE;
use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// One dependency entry `init` wants: its table, and the features it needs.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub section: &'static str,
    pub default_features: bool,
    pub features: &'static [&'static str],
}

/// An application: the runtime, the build script's check and embedding (no SQLite), and
/// `envdb::testing::fresh` in its tests.
pub const APPLICATION: [Wanted; 3] = [
    Wanted { section: "dependencies", default_features: false, features: &["runtime"] },
    Wanted { section: "build-dependencies", default_features: false, features: &[] },
    Wanted { section: "dev-dependencies", default_features: false, features: &["runtime", "testing"] },
];

/// A host's xtask: the whole command line (`envdb::cli::run_from`).
pub const XTASK: [Wanted; 1] = [Wanted { section: "dependencies", default_features: true, features: &[] }];

/// The keys of a dependency entry that say where it comes from.
const SOURCE_KEYS: [&str; 8] = ["path", "git", "rev", "branch", "tag", "version", "registry", "workspace"];

/// The result of [`merge_dependencies`]: the change, and the name the crate is reached by in code
/// (`envdb`, or the user's own name for it).
#[derive(Debug)]
pub struct DependencyMerge {
    pub merge: Merge,
    pub crate_name: String,
    /// The entries copy the source of an envdb dependency the manifest already has.
    pub used_existing: bool,
    /// An entry is missing and there is neither a source nor an existing dependency to copy
    /// (nothing is merged).
    pub needs_source: bool,
}

/// The cargo-envdb entry of a dependency table: under the key `envdb`, `cargo-envdb`, or any key
/// with `package = "cargo-envdb"`.
fn find_envdb(doc: &DocumentMut, section: &str) -> Option<(String, Item)> {
    let table = doc.get(section)?.as_table_like()?;
    table
        .iter()
        .find(|(key, item)| {
            *key == "envdb"
                || *key == PACKAGE
                || item.as_table_like().and_then(|t| t.get("package")).and_then(Item::as_str) == Some(PACKAGE)
        })
        .map(|(key, item)| (key.to_owned(), item.clone()))
}

/// The source keys of an existing entry (`envdb = "0.1"` is a version).
fn source_of(item: &Item) -> Vec<(String, Value)> {
    if let Some(version) = item.as_str() {
        return vec![("version".into(), version.into())];
    }
    let Some(table) = item.as_table_like() else { return Vec::new() };
    SOURCE_KEYS
        .iter()
        .filter_map(|k| table.get(k).and_then(Item::as_value).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// The entry `init` writes for `wanted` from `source`.
fn entry(key: &str, source: &[(String, Value)], wanted: Wanted) -> InlineTable {
    let mut table = InlineTable::new();
    let inherited = source.iter().any(|(k, _)| k == "workspace");
    if key != PACKAGE && !inherited {
        table.insert("package", PACKAGE.into());
    }
    for (k, v) in source {
        let mut v = v.clone();
        v.decor_mut().clear();
        table.insert(k, v);
    }
    if !wanted.default_features && !inherited {
        table.insert("default-features", false.into());
    }
    if !wanted.features.is_empty() {
        table.insert("features", Value::Array(wanted.features.iter().copied().collect()));
    }
    table.fmt();
    table
}

/// An entry in a canonical spelling, to tell one `init` wrote from one the user changed.
fn canonical(item: &Item) -> Option<String> {
    let mut value = item.clone().into_value().ok()?;
    value.decor_mut().clear();
    if let Some(table) = value.as_inline_table_mut() {
        for (_, v) in table.iter_mut() {
            v.decor_mut().clear();
            if let Some(array) = v.as_array_mut() {
                array.fmt();
            }
        }
        table.fmt();
    }
    Some(value.to_string())
}

/// Adds the envdb entries `wanted` to a Cargo.toml, with the source keys `source` (or, when the
/// package already depends on cargo-envdb, that dependency's source and name). Invalid TOML is
/// refused.
pub fn merge_dependencies(
    cargo_toml: &str,
    source: Option<&[(&str, String)]>,
    wanted: &[Wanted],
) -> Result<DependencyMerge, String> {
    let mut doc: DocumentMut = cargo_toml.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let existing = ["dependencies", "build-dependencies", "dev-dependencies"].iter().find_map(|s| find_envdb(&doc, s));
    let used_existing = existing.is_some();
    let (key, source): (String, Vec<(String, Value)>) = match (&existing, source) {
        (Some((key, item)), _) => (key.clone(), source_of(item)),
        (None, Some(source)) => {
            ("envdb".into(), source.iter().map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str()))).collect())
        }
        (None, None) => {
            let needs_source = wanted.iter().any(|w| find_envdb(&doc, w.section).is_none());
            let merge = Merge::default();
            return Ok(DependencyMerge { merge, crate_name: "envdb".into(), used_existing, needs_source });
        }
    };
    let mut merge = Merge::default();
    let mut changed = false;
    for w in wanted {
        let ours = entry(&key, &source, *w);
        match find_envdb(&doc, w.section) {
            Some((have, item)) => {
                if canonical(&item) != canonical(&Item::Value(Value::InlineTable(ours))) {
                    merge.kept.push(format!("dependency `{have}` in [{}] already exists; kept as it is", w.section));
                }
            }
            None => {
                let table = doc.entry(w.section).or_insert(toml_edit::table());
                let Some(table) = table.as_table_like_mut() else {
                    return Err(format!("`{}` is not a table", w.section));
                };
                table.insert(&key, Item::Value(Value::InlineTable(ours)));
                changed = true;
            }
        }
    }
    if changed {
        merge.content = Some(doc.to_string());
    }
    Ok(DependencyMerge { merge, crate_name: key.replace('-', "_"), used_existing, needs_source: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> Vec<(&'static str, String)> {
        vec![("path", "/src/envdb".to_owned())]
    }

    #[test]
    fn adds_the_three_entries_keeping_everything() {
        let current = "# my app\n[package]\nname = \"app\" # the name\nversion = \"0.1.0\"\n\n[dependencies]\n# logging\nlog = \"0.4\"\n";
        let m = merge_dependencies(current, Some(&path()), &APPLICATION).unwrap();
        let out = m.merge.content.unwrap();
        for line in current.lines() {
            assert!(out.contains(line), "lost {line:?}:\n{out}");
        }
        assert!(out.contains("envdb = { package = \"cargo-envdb\", path = \"/src/envdb\", default-features = false, features = [\"runtime\"] }"), "{out}");
        assert!(out.contains("[build-dependencies]\nenvdb = { package = \"cargo-envdb\", path = \"/src/envdb\", default-features = false }"), "{out}");
        assert!(out.contains("[dev-dependencies]\nenvdb = { package = \"cargo-envdb\", path = \"/src/envdb\", default-features = false, features = [\"runtime\", \"testing\"] }"), "{out}");
        assert_eq!(m.crate_name, "envdb");
        assert!(m.merge.kept.is_empty());
        let again = merge_dependencies(&out, Some(&path()), &APPLICATION).unwrap();
        assert_eq!(again.merge, Merge::default(), "a second merge changes and reports nothing");
        assert!(toml::from_str::<toml::Table>(&out).is_ok());
    }

    #[test]
    fn an_existing_dependency_is_kept_and_lends_its_source_and_name() {
        let current = "[package]\nname = \"app\"\n\n[dependencies]\ndb = { package = \"cargo-envdb\", git = \"https://example.com/e\", rev = \"abc\", features = [\"runtime\"] } # mine\n";
        let m = merge_dependencies(current, Some(&path()), &APPLICATION).unwrap();
        let out = m.merge.content.unwrap();
        assert!(out.contains("# mine"));
        assert!(out.contains("[build-dependencies]\ndb = { package = \"cargo-envdb\", git = \"https://example.com/e\", rev = \"abc\", default-features = false }"), "{out}");
        assert!(!out.contains("/src/envdb"));
        assert_eq!(m.merge.kept, ["dependency `db` in [dependencies] already exists; kept as it is"]);
        assert_eq!(m.crate_name, "db");

        let plain = "[package]\nname = \"app\"\n[dependencies]\ncargo-envdb = \"0.3\"\n[dev-dependencies.envdb]\nworkspace = true\n";
        let m = merge_dependencies(plain, Some(&path()), &APPLICATION).unwrap();
        assert!(
            m.merge
                .content
                .unwrap()
                .contains("[build-dependencies]\ncargo-envdb = { version = \"0.3\", default-features = false }")
        );
        assert_eq!(m.merge.kept.len(), 2, "{:?}", m.merge.kept);
        assert_eq!(m.crate_name, "cargo_envdb");

        let inherited = "[package]\nname = \"app\"\n[dependencies]\nenvdb = { workspace = true }\n";
        let out = merge_dependencies(inherited, Some(&path()), &XTASK[..0]).unwrap();
        assert_eq!(out.merge, Merge::default());
        let out = merge_dependencies(inherited, Some(&path()), &APPLICATION).unwrap().merge.content.unwrap();
        assert!(
            out.contains("[dev-dependencies]\nenvdb = { workspace = true, features = [\"runtime\", \"testing\"] }"),
            "{out}"
        );
    }

    #[test]
    fn without_a_source_nothing_is_merged() {
        let m = merge_dependencies("[package]\nname = \"a\"\n", None, &APPLICATION).unwrap();
        assert!(m.needs_source && m.merge == Merge::default());
        let m = merge_dependencies("[dependencies]\nenvdb = \"1\"\n", None, &APPLICATION).unwrap();
        assert!(!m.needs_source && m.used_existing && m.merge.content.is_some());
    }

    #[test]
    fn refusals() {
        assert!(merge_dependencies("[package\n", Some(&path()), &APPLICATION).is_err());
        assert!(merge_dependencies("dependencies = 3\n", Some(&path()), &APPLICATION).is_err());
    }

    #[test]
    fn the_xtask_entry_has_default_features() {
        let m = merge_dependencies("[package]\nname = \"xtask\"\n\n[dependencies]\n", Some(&path()), &XTASK).unwrap();
        assert!(m.merge.content.unwrap().contains("envdb = { package = \"cargo-envdb\", path = \"/src/envdb\" }"));
    }
}
