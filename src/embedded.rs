//! Migrations compiled into a host binary by `envdb::build` and read back by the runtime.

/// One migration, borrowed from wherever it lives (the binary, or files read by the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration<'a> {
    pub version: u64,
    /// The up file's name, e.g. `0002_add_priority.sql`.
    pub name: &'a str,
    /// The up SQL, normalised (no BOM, LF line endings).
    pub up: &'a str,
    pub down: Option<&'a str>,
    /// The up file's checksum (see `checksum`).
    pub checksum: &'a str,
}

/// The form the generated code uses: `(version, name, up, down, checksum)`. Plain tuples keep
/// the generated file free of crate paths, so it works however the host renames the dependency.
pub type RawMigration = (u64, &'static str, &'static str, Option<&'static str>, &'static str);

/// What `envdb::build` generates: the migrations, the text of envdb.toml (empty when the
/// project has none), the project root, so that the application resolves its environments
/// exactly as the command line does, and the migrations' digest (`crate::digest`), against
/// which opening an up-to-date database compares the one value its history keeps.
pub type Generated = (&'static [RawMigration], &'static str, &'static str, &'static str);

/// The set of migrations a host binary was built with, in version order.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    raw: &'static [RawMigration],
    config: &'static str,
    root: &'static str,
    /// The digest computed at build time (`None`: computed when asked, from `raw`).
    digest: Option<&'static str>,
    test_build: bool,
}

impl Migrations {
    /// Migrations without a project (tests, benchmarks): environments use the defaults and the
    /// current directory as the project root.
    pub const fn from_raw(raw: &'static [RawMigration]) -> Migrations {
        Migrations { raw, config: "", root: "", digest: None, test_build: false }
    }

    pub const fn from_generated(generated: Generated) -> Migrations {
        let (raw, config, root, digest) = generated;
        Migrations { raw, config, root, digest: Some(digest), test_build: false }
    }

    /// Marks migrations compiled into a test build (`embedded!()` passes `cfg!(test)` of the
    /// crate it expands in): such a process is a test run, and cannot open a protected environment.
    pub const fn compiled_for_test(self, test_build: bool) -> Migrations {
        Migrations { test_build, ..self }
    }

    /// Whether these migrations were compiled into a test build (see `compiled_for_test`).
    pub fn test_build(&self) -> bool {
        self.test_build
    }

    /// The text of the project's envdb.toml at build time.
    pub fn config_text(&self) -> &'static str {
        self.config
    }

    /// The project root at build time (`{workspace}` in templates); empty when unknown.
    pub fn root(&self) -> &'static str {
        self.root
    }

    pub fn iter(&self) -> impl Iterator<Item = Migration<'static>> + '_ {
        self.raw.iter().map(|&(version, name, up, down, checksum)| Migration { version, name, up, down, checksum })
    }

    pub fn to_vec(&self) -> Vec<Migration<'static>> {
        self.iter().collect()
    }

    /// The digest of the migrations' versions and checksums (`crate::digest`): embedded by the
    /// build script, computed here for migrations made with `from_raw`.
    pub fn digest(&self) -> std::borrow::Cow<'static, str> {
        match self.digest {
            Some(d) => d.into(),
            None => crate::digest::of(self.raw.iter().map(|m| (m.0, m.4))).into(),
        }
    }

    /// The highest version, 0 when there are none.
    pub fn latest(&self) -> u64 {
        self.raw.last().map_or(0, |m| m.0)
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// The migrations that `envdb::build::embed()` generated for this crate:
/// `static MIGRATIONS: envdb::Migrations = envdb::embedded!();`
#[macro_export]
macro_rules! embedded {
    () => {
        $crate::Migrations::from_generated(include!(concat!(env!("OUT_DIR"), "/envdb_migrations.rs")))
            .compiled_for_test(cfg!(test))
    };
}
