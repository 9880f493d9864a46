//! Where the running cargo-envdb came from, so that `init` points a host's dependencies at the
//! same source: `--envdb-source`, else cargo's install record (`<root>/.crates2.json` beside the
//! `bin/` the binary runs from), else the source checkout whose target directory holds the
//! binary (tests, `cargo run`), else the source it was compiled from.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// The package name on every source.
pub const PACKAGE: &str = "cargo-envdb";

/// A dependency source for cargo-envdb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvdbSource {
    /// A local checkout (absolute).
    Path(PathBuf),
    /// A git repository at an exact revision.
    Git { url: String, rev: String },
    /// A version from crates.io.
    Version(String),
}

impl std::str::FromStr for EnvdbSource {
    type Err = String;

    /// `path:DIR`, `git:URL@REV` or `version:X`.
    fn from_str(s: &str) -> Result<EnvdbSource, String> {
        let usage = "expected path:DIR, git:URL@REV or version:X";
        let (kind, value) = s.split_once(':').ok_or_else(|| format!("`{s}`: {usage}"))?;
        if value.trim().is_empty() {
            return Err(format!("`{s}`: nothing after `{kind}:`; {usage}"));
        }
        match kind {
            "path" => Ok(EnvdbSource::Path(PathBuf::from(value))),
            "git" => match value.rsplit_once('@') {
                Some((url, rev)) if !url.is_empty() && !rev.is_empty() && !rev.contains(['/', ':']) => {
                    Ok(EnvdbSource::Git { url: url.into(), rev: rev.into() })
                }
                _ => Err(format!("`{s}`: a git source needs the revision after the last `@` (git:URL@REV)")),
            },
            "version" if !value.contains(char::is_whitespace) => Ok(EnvdbSource::Version(value.into())),
            "version" => Err(format!("`{s}`: a version has no spaces")),
            _ => Err(format!("`{kind}` is not a source kind; {usage}")),
        }
    }
}

impl std::fmt::Display for EnvdbSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvdbSource::Path(p) => write!(f, "path {}", p.display()),
            EnvdbSource::Git { url, rev } => write!(f, "git {url} at {rev}"),
            EnvdbSource::Version(v) => write!(f, "version {v} from crates.io"),
        }
    }
}

impl EnvdbSource {
    /// The source keys of a dependency entry in the manifest in `manifest_dir`. A path inside the
    /// project `root` is written relative to the manifest, so the project can move; any other
    /// path is absolute.
    pub fn keys(&self, manifest_dir: &Path, root: &Path) -> Vec<(&'static str, String)> {
        match self {
            EnvdbSource::Path(p) => {
                let written = match (p.strip_prefix(root), manifest_dir.strip_prefix(root)) {
                    (Ok(inside), Ok(from)) => {
                        let mut rel: PathBuf = from.components().map(|_| "..").collect();
                        rel.push(inside);
                        if rel.as_os_str().is_empty() { ".".into() } else { rel }
                    }
                    _ => p.clone(),
                };
                vec![("path", written.to_string_lossy().into_owned())]
            }
            EnvdbSource::Git { url, rev } => vec![("git", url.clone()), ("rev", rev.clone())],
            EnvdbSource::Version(v) => vec![("version", v.clone())],
        }
    }
}

/// Whether `dir` holds cargo-envdb's own Cargo.toml.
fn is_envdb_checkout(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { return false };
    let Ok(manifest) = text.parse::<toml_edit::DocumentMut>() else { return false };
    manifest.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) == Some(PACKAGE)
}

/// `%XX` escapes of a `file://` URL decoded.
fn percent_decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The source of a package id from cargo's install record: `cargo-envdb 0.1.0 (SOURCE)` with
/// SOURCE `path+file:///…`, `git+URL[?query]#REV`, `registry+URL` or `sparse+URL`. The second
/// value is a warning when the source is a registry other than crates.io.
pub fn from_package_id(id: &str) -> Option<(EnvdbSource, Option<String>)> {
    let rest = id.strip_prefix(PACKAGE)?.strip_prefix(' ')?;
    let (version, source) = rest.split_once(' ')?;
    let source = source.strip_prefix('(')?.strip_suffix(')')?;
    let (kind, url) = source.split_once('+')?;
    match kind {
        "path" => Some((EnvdbSource::Path(percent_decode(url.strip_prefix("file://")?)?.into()), None)),
        "git" => {
            let (url, rev) = url.split_once('#')?;
            let url = url.split_once('?').map_or(url, |(u, _)| u);
            Some((EnvdbSource::Git { url: url.into(), rev: rev.into() }, None))
        }
        "registry" | "sparse" => {
            let crates_io = ["https://github.com/rust-lang/crates.io-index", "https://index.crates.io/"];
            let warning = (!crates_io.contains(&url)).then(|| {
                format!("cargo-envdb was installed from the registry {url}: add its `registry = \"NAME\"` to the envdb dependencies")
            });
            Some((EnvdbSource::Version(version.into()), warning))
        }
        _ => None,
    }
}

/// The cargo-envdb entry of an install record (`.crates2.json`) that installed binary `bin`.
pub fn from_install_record(json: &str, bin: &str) -> Option<(EnvdbSource, Option<String>)> {
    let record: serde_json::Value = serde_json::from_str(json).ok()?;
    record.get("installs")?.as_object()?.iter().find_map(|(id, install)| {
        let bins = install.get("bins")?.as_array()?;
        bins.iter().any(|b| b.as_str() == Some(bin)).then(|| from_package_id(id)).flatten()
    })
}

/// Where the running binary `exe` came from, and how that was found (for the message).
pub fn detect(exe: &Path) -> anyhow::Result<(EnvdbSource, String, Option<String>)> {
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_owned());
    let bin_name = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // `cargo install` puts the binary in <root>/bin and records it in <root>/.crates2.json.
    if let Some(root) = exe.parent().filter(|d| d.ends_with("bin")).and_then(Path::parent) {
        let record = root.join(".crates2.json");
        if let Ok(json) = std::fs::read_to_string(&record)
            && let Some((source, warning)) = from_install_record(&json, &bin_name)
        {
            return Ok((source, format!("cargo's install record {}", record.display()), warning));
        }
    }
    if let Some(checkout) = exe.ancestors().skip(1).find(|d| is_envdb_checkout(d)) {
        let how = format!("the source checkout holding {}", exe.display());
        return Ok((EnvdbSource::Path(checkout.to_owned()), how, None));
    }
    // Built elsewhere (another target directory, a host's xtask): the source it was compiled from.
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_registry = built_from.parent().and_then(Path::parent).is_some_and(|p| p.ends_with("registry/src"));
    if in_registry {
        let how = format!("the crates.io source it was built from, {}", built_from.display());
        return Ok((EnvdbSource::Version(crate::VERSION.into()), how, None));
    }
    if is_envdb_checkout(built_from) && !built_from.components().any(|c| c.as_os_str() == "checkouts") {
        let how = format!("the source checkout it was built from, {}", built_from.display());
        return Ok((EnvdbSource::Path(built_from.to_owned()), how, None));
    }
    anyhow::bail!(
        "cannot tell where this cargo-envdb ({}) came from: it is not in cargo's install record, nor in a source checkout; nothing was written\n  help: name the source of the dependencies init adds: --envdb-source path:DIR, git:URL@REV or version:X",
        exe.display()
    )
}

/// Checks a source given with `--envdb-source`: a path must be a cargo-envdb checkout (made
/// absolute against `cwd`).
pub fn resolve_given(source: EnvdbSource, cwd: &Path) -> anyhow::Result<EnvdbSource> {
    let EnvdbSource::Path(p) = source else { return Ok(source) };
    let dir = cwd.join(&p);
    let dir = dir.canonicalize().with_context(|| format!("--envdb-source path:{}: no such directory", p.display()))?;
    anyhow::ensure!(
        is_envdb_checkout(&dir),
        "--envdb-source path:{}: {} holds no Cargo.toml of the package `{PACKAGE}`; nothing was written\n  help: name a checkout of cargo-envdb (the directory with its Cargo.toml)",
        p.display(),
        dir.display()
    );
    Ok(EnvdbSource::Path(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag() {
        assert_eq!("path:../envdb".parse(), Ok(EnvdbSource::Path("../envdb".into())));
        assert_eq!(
            "git:ssh://git@example.com/envdb.git@0123abc".parse(),
            Ok(EnvdbSource::Git { url: "ssh://git@example.com/envdb.git".into(), rev: "0123abc".into() })
        );
        assert_eq!("version:0.1".parse(), Ok(EnvdbSource::Version("0.1".into())));
        for bad in ["", "path:", "nope:x", "0.1", "git:https://example.com/x", "git:@abc", "version:0 1", "version: "] {
            assert!(bad.parse::<EnvdbSource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn install_record_ids() {
        let id = |s: &str| from_package_id(s).map(|(s, w)| (s, w.is_some()));
        assert_eq!(
            id("cargo-envdb 0.1.0 (path+file:///home/me/my%20src/cargo-envdb)"),
            Some((EnvdbSource::Path("/home/me/my src/cargo-envdb".into()), false))
        );
        assert_eq!(
            id("cargo-envdb 0.1.0 (git+https://example.com/envdb.git?branch=main#0123456789abcdef)"),
            Some((
                EnvdbSource::Git { url: "https://example.com/envdb.git".into(), rev: "0123456789abcdef".into() },
                false
            ))
        );
        let registry = Some((EnvdbSource::Version("0.2.1".into()), false));
        assert_eq!(id("cargo-envdb 0.2.1 (registry+https://github.com/rust-lang/crates.io-index)"), registry);
        assert_eq!(id("cargo-envdb 0.2.1 (sparse+https://index.crates.io/)"), registry);
        assert_eq!(
            id("cargo-envdb 0.2.1 (sparse+https://my.registry/index/)"),
            Some((EnvdbSource::Version("0.2.1".into()), true))
        );
        for bad in [
            "just 1.0.0 (registry+x)",
            "cargo-envdb 0.1.0",
            "cargo-envdb 0.1.0 (git+https://x)",
            "cargo-envdb 0.1.0 (path+file:///%zz)",
        ] {
            assert_eq!(from_package_id(bad), None, "{bad}");
        }
        let json = r#"{"installs":{"just 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)":{"bins":["just"]},
            "cargo-envdb 0.1.0 (path+file:///src/envdb)":{"bins":["cargo-envdb"]}}}"#;
        assert_eq!(from_install_record(json, "cargo-envdb"), Some((EnvdbSource::Path("/src/envdb".into()), None)));
        assert_eq!(from_install_record(json, "other"), None);
        assert_eq!(from_install_record("{", "cargo-envdb"), None);
    }

    #[test]
    fn path_keys_are_relative_inside_the_project() {
        let root = Path::new("/p");
        let inside = EnvdbSource::Path("/p/vendor/envdb".into());
        assert_eq!(inside.keys(root, root), [("path", "vendor/envdb".to_owned())]);
        assert_eq!(inside.keys(Path::new("/p/xtask"), root), [("path", "../vendor/envdb".to_owned())]);
        let outside = EnvdbSource::Path("/src/envdb".into());
        assert_eq!(outside.keys(Path::new("/p/xtask"), root), [("path", "/src/envdb".to_owned())]);
        let git = EnvdbSource::Git { url: "u".into(), rev: "r".into() };
        assert_eq!(git.keys(root, root), [("git", "u".to_owned()), ("rev", "r".to_owned())]);
    }
}
