//! PostgreSQL operations through the real binary against the pgtest server: `backup` with
//! pg_dump (every format, schema or data alone, verified, named, private, never shown a
//! password), `backups` and `prune` over those archives, `restore` (clean and merge), `upgrade`
//! and `reset`, and their faults.

mod common;
use common::*;
use pgtest::Via;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A host project whose `dev` environment is a database on the test server.
struct Pg {
    t: Test,
    server: &'static pgtest::Server,
    /// Reserves a unique name; the project's database is `<name>_dev`, created by envdb.
    db: pgtest::Database<'static>,
}

const PEOPLE: &str = "CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL);";

impl Pg {
    fn new(files: &[(&str, &str)]) -> Pg {
        Pg::via(Via::Tcp, files)
    }

    fn via(via: Via, files: &[(&str, &str)]) -> Pg {
        let db = pgtest::database();
        let server = pgtest::shared();
        let dev = server.url(via, &format!("{}_dev", db.name()));
        let qa = server.url(via, &format!("{}_dev_qa", db.name()));
        let t = Test::with(files).env("DEV_URL", &dev).env("QA_URL", &qa);
        t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${DEV_URL}\"\n[env.qa]\nurl = \"${QA_URL}\"\n");
        Pg { t, server, db }
    }

    fn name(&self) -> String {
        format!("{}_dev", self.db.name())
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs the binary; no run ever shows the password.
    fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = self.t.command(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let r = Run::from(cmd.output().unwrap());
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.contains(self.server.password()), "the password is in the output:\n{text}");
        }
        r
    }

    /// A superuser session on the project's database. A connection that meets the name while a
    /// rename of it commits (3D000, "just been dropped or renamed") is tried again for a few
    /// seconds; a database that stays missing still fails.
    fn admin(&self) -> pgtest::postgres::Client {
        let url = self.server.url_as(Via::Socket, &self.name(), pgtest::SUPERUSER, "");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match pgtest::postgres::Client::connect(&url, pgtest::postgres::NoTls) {
                Err(e)
                    if e.code() == Some(&pgtest::postgres::error::SqlState::INVALID_CATALOG_NAME)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                connected => return connected.unwrap(),
            }
        }
    }

    fn query(&self, sql: &str) -> Vec<String> {
        column(&mut self.admin(), sql)
    }

    fn backups_dir(&self) -> PathBuf {
        self.t.path(".envdb/dev/backups")
    }

    /// The finished backups (not their checksum and row counts files), sorted.
    fn backups(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> =
            std::fs::read_dir(self.backups_dir()).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        found.retain(|p| ![".sha256", ".rows"].iter().any(|s| p.to_string_lossy().ends_with(s)));
        found.sort();
        found
    }

    /// The databases on the server whose name starts with this project's.
    fn databases(&self) -> Vec<String> {
        let sql = format!("SELECT datname FROM pg_database WHERE datname LIKE '{}%' ORDER BY 1", self.name());
        column(&mut self.server.admin(), &sql)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut admin = self.server.admin();
        for name in
            column(&mut admin, &format!("SELECT datname FROM pg_database WHERE datname LIKE '{}%'", self.name()))
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// A project at version 1 with `rows` people.
fn populated(rows: u64) -> Pg {
    let p = Pg::new(&[("0001_people.sql", PEOPLE)]);
    p.run(&["migrate"]).success();
    p.admin()
        .batch_execute(&format!(
            "INSERT INTO people SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {rows}) g"
        ))
        .unwrap();
    p
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A directory whose `pg_dump`, `pg_restore` and `psql` record their arguments in `argv.log`
/// and whether they were given a password in their environment, then run the real ones.
fn recording_bindir(server: &pgtest::Server) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for program in ["pg_dump", "pg_restore", "psql"] {
        let real = server.bindir().join(program);
        let script = format!(
            "#!/bin/sh\necho \"{program} $* pw=${{PGPASSWORD:+set}}\" >> {}/argv.log\nexec {} \"$@\"\n",
            dir.path().display(),
            real.display()
        );
        let path = dir.path().join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn backup_writes_a_verified_private_custom_archive_named_by_database_env_time_and_version() {
    let p = populated(1000);
    let bindir = recording_bindir(p.server);
    let r = p.run_with(&["backup"], &[("ENVDB_PG_BINDIR", bindir.path().to_str().unwrap())]);
    r.success().stderr_has("Backed up").stderr_has("table of contents lists every table");
    let found = p.backups();
    assert_eq!(found.len(), 1, "{found:?}");
    let name = found[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{}.dev.", p.name())) && name.ends_with(".v1.dump"), "{name}");
    assert_eq!(mode(&found[0]), 0o600);
    let sum = std::fs::read_to_string(found[0].with_file_name(format!("{name}.sha256"))).unwrap();
    assert!(sum.ends_with(&format!("  {name}\n")), "{sum}");
    assert_eq!(&std::fs::read(&found[0]).unwrap()[..5], b"PGDMP");
    // The programs never saw the password in their arguments, and had it in their environment.
    let argv = std::fs::read_to_string(bindir.path().join("argv.log")).unwrap();
    assert!(argv.contains("pg_dump --format=custom") && argv.contains("pg_restore --list"), "{argv}");
    assert!(!argv.contains(p.server.password()), "{argv}");
    assert!(argv.lines().filter(|l| l.starts_with("pg_dump --format")).all(|l| l.ends_with("pw=set")), "{argv}");
    // The row counts, taken in pg_dump's snapshot, bound to the archive by its checksum.
    let rows = std::fs::read_to_string(found[0].with_file_name(format!("{name}.rows"))).unwrap();
    let digest = sum.split_whitespace().next().unwrap();
    assert!(rows.lines().next().unwrap().ends_with(&format!("sha256 {digest}")), "{rows}");
    assert!(rows.contains("\n1000\tpublic.people\n") && rows.contains("\tpublic.envdb_migrations\n"), "{rows}");
    assert_eq!(mode(&found[0].with_file_name(format!("{name}.rows"))), 0o600);
    // Nothing partial is left, and the listing shows the backup as checked.
    let left: Vec<_> = std::fs::read_dir(p.backups_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    let j = p.run(&["backup", "--format", "json"]).json();
    assert_eq!(j["verification"], "dump");
    assert!(j["backup"].as_str().unwrap().ends_with(".v1.dump"), "{j}");
}

#[test]
fn backup_formats_and_contents_each_verify() {
    let p = populated(200);
    p.run(&["backup", "--dump-format", "plain"]).success();
    p.run(&["backup", "--dump-format", "directory", "--jobs", "2"]).success();
    p.run(&["backup", "--schema-only"]).success();
    p.run(&["backup", "--data-only", "--dump-format", "plain"]).success();
    p.run(&["backup", "--verify-restore"]).success().stderr_has("restored into a scratch database");
    p.run(&["backup", "--dump-format", "plain", "--verify-restore"]).success();
    let found = p.backups();
    let exts: Vec<String> =
        found.iter().map(|f| f.extension().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>();
    assert_eq!(exts.iter().filter(|e| *e == "sql").count(), 3, "{found:?}");
    assert_eq!(exts.iter().filter(|e| *e == "dir").count(), 1, "{found:?}");
    assert_eq!(exts.iter().filter(|e| *e == "dump").count(), 2, "{found:?}");
    let dir = found.iter().find(|f| f.extension().unwrap() == "dir").unwrap();
    assert_eq!(mode(dir), 0o700);
    assert!(dir.join("toc.dat").is_file());
    // No scratch database is left by --verify-restore.
    let left = column(&mut p.server.admin(), "SELECT datname FROM pg_database WHERE datname LIKE 'envdb_verify_%'");
    assert!(left.is_empty(), "{left:?}");
    // Bad combinations are refused before anything is written.
    let before = p.backups();
    p.run(&["backup", "--jobs", "2"]).failure().stderr_has("--jobs needs --dump-format directory");
    p.run(&["backup", "--vacuum"]).failure().stderr_has("--vacuum is for a SQLite file");
    p.run(&["backup", "--dump-format", "tar"]).code(2);
    p.run(&["backup", "--schema-only", "--data-only"]).code(2);
    assert_eq!(p.backups(), before);
}

#[test]
fn backup_refuses_a_pg_dump_older_than_the_server_naming_both_versions_and_the_package() {
    let p = populated(10);
    let old = tempfile::tempdir().unwrap();
    for program in ["pg_dump", "pg_restore", "psql"] {
        let path = old.path().join(program);
        std::fs::write(&path, format!("#!/bin/sh\necho '{program} (PostgreSQL) 13.9'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let r = p.run_with(&["backup"], &[("ENVDB_PG_BINDIR", old.path().to_str().unwrap())]);
    r.failure()
        .stderr_has("pg_dump 13.9")
        .stderr_has("is older than the server")
        .stderr_has("PostgreSQL 15.")
        .stderr_has("apt-get install postgresql-client-15");
    assert!(p.backups().is_empty());
    let empty = tempfile::tempdir().unwrap();
    let r = p.run_with(&["backup"], &[("ENVDB_PG_BINDIR", empty.path().to_str().unwrap())]);
    r.failure().stderr_has("pg_dump was not found").stderr_has("postgresql-client-15");
}

#[test]
fn a_disk_that_fills_during_pg_dump_leaves_no_partial_file_and_says_so() {
    use std::os::unix::process::CommandExt as _;
    let p = populated(50_000);
    p.run(&["backup", "--dump-format", "plain"]).success();
    std::fs::remove_dir_all(p.backups_dir()).unwrap();
    std::fs::create_dir_all(p.backups_dir()).unwrap();
    let mut cmd = p.t.command(&["backup", "--dump-format", "plain"]);
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 256 * 1024, rlim_max: 256 * 1024 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let r = Run::from(cmd.output().unwrap());
    r.failure().stderr_has("SIGXFSZ").stderr_has("was removed").stderr_has("free space");
    let left: Vec<_> = std::fs::read_dir(p.backups_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn backups_lists_and_prune_keeps_the_newest_verified_archives() {
    let p = populated(100);
    p.run(&["backup"]).success();
    p.run(&["backup", "--dump-format", "directory"]).success();
    p.run(&["backup", "--dump-format", "plain"]).success();
    p.run(&["backup"]).success();
    assert_eq!(p.backups().len(), 4);
    let j = p.run(&["backups", "--verify", "--format", "json"]).json();
    // Oldest first, in the order they were made (a second's backups are suffixed -2, -3…).
    let found: Vec<PathBuf> =
        j.as_array().unwrap().iter().map(|b| PathBuf::from(b["path"].as_str().unwrap())).collect();
    let exts: Vec<_> = found.iter().map(|f| f.extension().unwrap().to_str().unwrap()).collect();
    assert_eq!(exts, ["dump", "dir", "sql", "dump"]);
    let states: Vec<&str> = j.as_array().unwrap().iter().map(|b| b["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["verified"; 4], "{j}");
    // A killed backup's partial directory, and the newest archive damaged (cut short).
    let partial = p.backups_dir().join(format!(".{}.dev.20200101T000000Z.v1.dir.999999.partial", p.name()));
    std::fs::create_dir_all(&partial).unwrap();
    let newest = found[3].clone();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len / 2).unwrap();
    let r = p.run(&["backups", "--verify"]);
    r.failure().stdout_has("damaged").stdout_has("interrupted").stderr_has("1 backup(s) of `dev` are damaged");
    // Keep 2 verified: the oldest verified one and the partial go; the damaged newest stays.
    p.run(&["prune", "--keep", "2"]).success().stderr_has("Removed");
    assert!(!partial.exists());
    let left = p.backups();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&newest), "the damaged one is kept: {left:?}");
    assert!(!left.contains(&found[0]), "{left:?}");
    // Never the newest verified one, whatever the rule.
    p.run(&["prune", "--older-than", "1s", "--keep", "0"]).success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.run(&["prune", "--older-than", "1s"]).success();
    let left = p.backups();
    assert!(left.iter().any(|f| f != &newest), "a verified archive stays: {left:?}");
}

fn count(p: &Pg) -> u64 {
    p.query("SELECT count(*) FROM people")[0].parse().unwrap()
}

/// The newest backup's path, from `backups --format json`.
fn newest(p: &Pg) -> String {
    let j = p.run(&["backups", "--format", "json"]).json();
    let b = j.as_array().unwrap().iter().rev().find(|b| b["kind"] == "backup").unwrap();
    b["path"].as_str().unwrap().to_owned()
}

#[test]
fn restore_clean_builds_verifies_and_swaps_keeping_the_replaced_database() {
    for via in [Via::Tcp, Via::Bouncer] {
        let p = Pg::via(via, &[("0001_people.sql", PEOPLE)]);
        p.run(&["migrate"]).success();
        p.admin().batch_execute("INSERT INTO people SELECT g, 'u' || g FROM generate_series(1, 1500) g").unwrap();
        p.run(&["backup"]).success();
        p.admin().batch_execute("DELETE FROM people WHERE id > 10").unwrap();
        let r = p.run(&["restore", "latest"]);
        r.success()
            .stderr_has("Restoring")
            .stderr_has("untouched until it is verified")
            .stderr_has("row counts of all")
            .stderr_has("Kept")
            .stderr_has("schema version 1 → 1");
        assert_eq!(count(&p), 1500, "{via:?}");
        let dbs = p.databases();
        let replaced: Vec<_> = dbs.iter().filter(|d| d.contains("__replaced_")).collect();
        assert_eq!(replaced.len(), 1, "{dbs:?}");
        assert!(!dbs.iter().any(|d| d.contains("__restore_")), "{dbs:?}");
        // The replaced database is the one as it was, listed by backups and dropped by prune.
        let mut old = p.server.admin();
        let old_url = p.server.url_as(Via::Socket, replaced[0], pgtest::SUPERUSER, "");
        drop(old);
        old = pgtest::postgres::Client::connect(&old_url, pgtest::postgres::NoTls).unwrap();
        assert_eq!(column(&mut old, "SELECT count(*) FROM people"), ["10"]);
        drop(old);
        p.run(&["backups"]).success().stdout_has("database replaced by a restore");
        // As a replaced file: it goes once a verified backup newer than it is kept.
        p.run(&["prune", "--keep", "1"]).success();
        assert!(p.databases().iter().any(|d| d.contains("__replaced_")));
        std::thread::sleep(std::time::Duration::from_millis(1000));
        p.run(&["backup"]).success();
        p.run(&["prune", "--keep", "1"]).success().stderr_has("__replaced_");
        assert!(!p.databases().iter().any(|d| d.contains("__replaced_")), "{:?}", p.databases());
        p.run(&["validate"]).success();
    }
}

#[test]
fn restore_verifies_against_the_row_counts_the_backup_took_in_pg_dumps_snapshot() {
    let p = populated(2000);
    // Rows arrive all through the backup: only counts taken in pg_dump's own snapshot match.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut admin = p.admin();
            for id in 10_000.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                admin.batch_execute(&format!("INSERT INTO people VALUES ({id}, 'late')")).unwrap();
            }
        });
        p.run(&["backup"]).success();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let backup = PathBuf::from(newest(&p));
    let rows_file = PathBuf::from(format!("{}.rows", backup.display()));
    let recorded = std::fs::read_to_string(&rows_file).unwrap();
    let people: u64 = recorded.lines().find_map(|l| l.strip_suffix("\tpublic.people")).unwrap().parse().unwrap();
    assert!(people > 2000 && people < count(&p), "{people} of {}: rows came during the backup", count(&p));
    p.run(&["restore", "latest"]).success().stderr_has("match those the backup recorded");
    assert_eq!(count(&p), people);

    // Counts that disagree with what loads: refused, the database untouched, nothing left.
    let dbs = p.databases();
    let wrong = recorded.replace(&format!("\n{people}\tpublic.people"), &format!("\n{}\tpublic.people", people + 1));
    std::fs::write(&rows_file, wrong).unwrap();
    p.run(&["restore", "latest", "--force"])
        .failure()
        .stderr_has(&format!("public.people: {people} rows, the backup recorded {}", people + 1))
        .stderr_has("nothing was changed");
    assert_eq!((count(&p), p.databases()), (people, dbs));
    // Without them (a backup made before envdb recorded them), the archive's data is read.
    std::fs::remove_file(&rows_file).unwrap();
    p.run(&["restore", "latest", "--force"]).success().stderr_has("match the archive");
    // prune removes a backup's row counts with it, and row counts left without their backup.
    let orphan = p.backups_dir().join(format!("{}.dev.20200101T000000Z.v1.dump.rows", p.name()));
    std::fs::write(&orphan, "# left behind\n").unwrap();
    p.run(&["backups"]).success().stdout_has("row counts file without its backup");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    p.run(&["backup"]).success();
    p.run(&["prune", "--keep", "1"]).success();
    let left: Vec<_> = std::fs::read_dir(p.backups_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 3, "one backup, its checksum and its row counts: {left:?}");
}

#[test]
fn restore_refuses_damaged_foreign_and_newer_archives_before_anything_changes() {
    let p = Pg::new(&[("0001_people.sql", PEOPLE), ("0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY);")]);
    p.run(&["migrate"]).success();
    p.admin().batch_execute("INSERT INTO people SELECT g, 'u' || g FROM generate_series(1, 3000) g").unwrap();
    p.run(&["backup"]).success();
    let good = newest(&p);
    let dbs = p.databases();
    let unchanged = |p: &Pg| {
        assert_eq!(count(p), 3000);
        assert_eq!(p.databases(), dbs);
    };
    // Cut short, with its checksum: refused by the checksum.
    let cut = p.t.path("cut.dump");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(format!("{good}.sha256"), p.t.path("cut.dump.sha256")).unwrap();
    p.run(&["restore", cut.to_str().unwrap()])
        .failure()
        .stderr_has("differs from the one recorded")
        .stderr_has("nothing was changed");
    unchanged(&p);
    // Cut short without a checksum: the archive's data ends early, refused before any swap.
    std::fs::remove_file(p.t.path("cut.dump.sha256")).unwrap();
    p.run(&["restore", cut.to_str().unwrap()]).failure().stderr_has("cannot be restored");
    unchanged(&p);
    // Not an archive at all.
    std::fs::write(p.t.path("junk.dump"), b"not a dump at all").unwrap();
    p.run(&["restore", p.t.path("junk.dump").to_str().unwrap()]).failure().stderr_has("no PGDMP header");
    unchanged(&p);
    // Bytes flipped in the middle (the header intact), without a checksum.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(p.t.path("flipped.dump"), &flipped).unwrap();
    p.run(&["restore", p.t.path("flipped.dump").to_str().unwrap()]).failure().stderr_has("cannot be restored");
    unchanged(&p);
    // Another environment's archive.
    p.run(&["restore", &good, "--env", "qa"]).failure().stderr_has("is a backup of the environment `dev`, not `qa`");
    // Another project's.
    p.t.write("envdb.toml", p.t.read("envdb.toml").replace("name = \"app\"", "name = \"other\""));
    p.run(&["restore", &good]).failure().stderr_has("is a backup of the project `app`, not `other`");
    p.t.write("envdb.toml", p.t.read("envdb.toml").replace("name = \"other\"", "name = \"app\""));
    // A newer schema than the migrations on disk.
    std::fs::remove_file(p.t.path("migrations/0002_pets.sql")).unwrap();
    p.run(&["hash"]).success();
    p.run(&["restore", &good]).failure().stderr_has("does not fit the migrations on disk");
    unchanged(&p);
}

#[test]
fn restore_while_an_application_is_connected_is_refused_naming_it_and_force_ends_it() {
    let p = populated(500);
    p.run(&["backup"]).success();
    let app_url = format!("{}?application_name=envdb-app:app:dev", p.server.url(Via::Tcp, &p.name()));
    let mut app = pgtest::postgres::Client::connect(&app_url, pgtest::postgres::NoTls).unwrap();
    app.batch_execute("SELECT 1").unwrap();
    let before = p.databases();
    let r = p.run(&["restore", "latest"]);
    r.failure().stderr_has("session(s) are connected").stderr_has("`envdb-app:app:dev`").stderr_has("--force");
    assert_eq!(p.databases(), before, "the restored database was dropped");
    assert!(app.batch_execute("SELECT 1").is_ok(), "the application's session is untouched");
    let r = p.run(&["restore", "latest", "--force"]);
    r.success().stderr_has("ended 1 session(s)").stderr_has("envdb-app:app:dev");
    assert!(app.batch_execute("SELECT 1").is_err(), "its session was ended");
}

#[test]
fn restore_merge_loads_the_rows_into_the_existing_database_in_one_transaction() {
    let p = populated(300);
    p.run(&["backup"]).success();
    p.admin().batch_execute("DELETE FROM people").unwrap();
    p.run(&["restore", "latest", "--merge"]).success().stderr_has("merged into");
    assert_eq!(count(&p), 300);
    assert!(!p.databases().iter().any(|d| d.contains("__")));
    // Merging again collides with the rows now there: rolled back whole.
    p.run(&["restore", "latest", "--merge"]).failure().stderr_has("rolled back");
    assert_eq!(count(&p), 300);
    p.run(&["backup", "--dump-format", "plain"]).success();
    p.run(&["restore", &newest(&p), "--merge"]).failure().stderr_has("--merge needs a custom or directory archive");
}

#[test]
fn upgrade_refuses_while_the_application_is_connected_then_backs_up_migrates_and_reports() {
    let p = populated(200);
    p.t.write("envdb.toml", p.t.read("envdb.toml").replace("[env.dev]\n", "[env.dev]\nbackup_keep = 1\n"));
    p.t.write("migrations/0002_pets.sql", "CREATE TABLE pets (id bigint PRIMARY KEY);");
    p.run(&["hash"]).success();
    let app_url = format!("{}?application_name=envdb-app:app:dev", p.server.url(Via::Tcp, &p.name()));
    let mut app = pgtest::postgres::Client::connect(&app_url, pgtest::postgres::NoTls).unwrap();
    app.batch_execute("SELECT 1").unwrap();
    let r = p.run(&["upgrade"]);
    r.failure().stderr_has("the application is connected").stderr_has("`envdb-app:app:dev`").stderr_has("--force");
    assert_eq!(p.query("SELECT max(version) FROM envdb_migrations"), ["1"]);
    assert!(p.backups().is_empty());
    p.run(&["upgrade", "--dry-run"]).success().stderr_has("an application holds the database");
    drop(app);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let r = p.run(&["upgrade"]);
    r.success().stdout_has("Schema version: 1 → 2").stdout_has(".v1.dump");
    assert_eq!(p.backups().len(), 1);
    // A failing migration: the database stays at 2 and the exact restore command is printed.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // Passes on the empty replay, fails on the 200 rows.
    p.t.write("migrations/0003_bad.sql", "ALTER TABLE people ADD CONSTRAINT small CHECK (id < 100);");
    p.run(&["hash"]).success();
    let r = p.run(&["upgrade"]);
    r.failure().stderr_has("help: to return to version 2: cargo envdb restore ").stderr_has(".v2.dump --env dev");
    assert_eq!(p.query("SELECT max(version) FROM envdb_migrations"), ["2"]);
    let line = r.stderr.lines().find(|l| l.contains("cargo envdb restore")).unwrap();
    let cmd = line.split("cargo envdb ").nth(1).unwrap().trim().to_owned();
    std::fs::remove_file(p.t.path("migrations/0003_bad.sql")).unwrap();
    p.run(&["hash"]).success();
    let args: Vec<&str> = cmd.split_whitespace().collect();
    p.run(&args).success().stderr_has("schema version 2 → 2");
    assert_eq!(p.backups().len(), 2, "a failed upgrade prunes nothing");
    assert!(p.databases().iter().any(|d| d.contains("__replaced_")));
    // backup_keep = 1 after the next upgrade: the newest verified backup alone is left, and the
    // replaced database goes (a verified backup newer than it is kept).
    std::thread::sleep(std::time::Duration::from_millis(1000));
    p.t.write("migrations/0003_toys.sql", "CREATE TABLE toys (id bigint PRIMARY KEY);");
    p.run(&["hash"]).success();
    p.run(&["upgrade"]).success().stdout_has("Schema version: 2 → 3");
    assert_eq!(p.backups().len(), 1, "{:?}", p.backups());
    assert_eq!(p.databases(), [p.name()]);
}

#[test]
fn reset_builds_beside_swaps_and_a_failed_seed_leaves_the_old_database() {
    let p = populated(50);
    p.t.write("seeds/dev.sql", "INSERT INTO people VALUES (1, 'seeded@example.com');");
    let r = p.run(&["reset", "--force"]);
    r.success().stderr_has("Building").stderr_has("__reset_").stderr_has("Backed up").stderr_has("Removed");
    assert_eq!(p.query("SELECT email FROM people"), ["seeded@example.com"]);
    assert_eq!(p.databases(), [p.name()], "nothing left beside it");
    assert_eq!(p.backups().len(), 1);
    p.admin().batch_execute("INSERT INTO people VALUES (2, 'kept@example.com')").unwrap();
    p.t.write("seeds/dev.sql", "INSERT INTO people VALUES (1, 'a');\nINSERT INTO people VALUES (1, 'dup');");
    let r = p.run(&["reset", "--force"]);
    r.failure().stderr_has("reset changed nothing");
    assert_eq!(count(&p), 2, "the old database is in place");
    assert_eq!(p.databases(), [p.name()], "the new one was dropped");
}

// ---- SIGKILL loops ----

/// How many kills each loop aims for (the 50), and the time it may take at most: a
/// loaded machine gets fewer, at least [`MIN_KILLS`].
const KILLS: u32 = 50;
const MIN_KILLS: u32 = 20;
const LOOP_BUDGET: std::time::Duration = std::time::Duration::from_secs(120);

/// A pseudo-random number below `n` (xorshift, seeded by the clock).
fn below(state: &mut u64, n: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % n.max(1)
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
}

/// Runs the binary, killing it (SIGKILL) after `after`; whether it was killed before it ended.
fn run_killed(p: &Pg, args: &[&str], after: std::time::Duration) -> bool {
    let mut child =
        p.t.command(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    // The server finishes what the killed run had sent (a swap's renames may be committing), so
    // wait until its sessions are gone: a connection made meanwhile can see a name in flight. The
    // swap's session is on the maintenance database, so it is found by its statement's text
    // (this probe's own sessions, the one running and any ending, left out).
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE (datname LIKE '{0}%' OR query LIKE '%{0}%') \
         AND backend_type = 'client backend' AND query NOT LIKE '%pg_stat_activity%'",
        p.name()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while column(&mut p.server.admin(), &sql)[0] != "0" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    killed
}

/// Every archive under a backup name has its checksum and lists every table.
fn every_named_backup_verifies(p: &Pg) {
    for file in p.backups() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let sum = std::fs::read_to_string(file.with_file_name(format!("{name}.sha256")))
            .unwrap_or_else(|e| panic!("{name} has no checksum file: {e}"));
        let out = std::process::Command::new("sha256sum").arg(&file).output().unwrap();
        let actual = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned();
        assert!(sum.starts_with(&actual), "{name}: the checksum differs");
        let list =
            std::process::Command::new(p.server.bindir().join("pg_restore")).arg("--list").arg(&file).output().unwrap();
        let toc = String::from_utf8_lossy(&list.stdout);
        assert!(toc.contains(" TABLE DATA public people "), "{name} does not list people:\n{toc}");
    }
}

#[test]
fn sigkill_during_backup_never_leaves_an_unverified_file_under_a_backup_name() {
    let p = populated(60_000);
    let started = std::time::Instant::now();
    p.run(&["backup"]).success();
    let full = started.elapsed();
    let mut rng = seed();
    let (mut kills, loop_started) = (0, std::time::Instant::now());
    while kills < KILLS && loop_started.elapsed() < LOOP_BUDGET {
        let at = std::time::Duration::from_micros(below(&mut rng, full.as_micros() as u64 + 1));
        kills += u32::from(run_killed(&p, &["backup"], at));
        every_named_backup_verifies(&p);
    }
    assert!(kills >= MIN_KILLS, "only {kills} kills in {LOOP_BUDGET:?} (a full backup takes {full:?})");
    // What the kills left is listed as interrupted (or a checksum or row counts file alone) and
    // pruned.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = p.run(&["backups", "--verify"]);
    r.success();
    p.run(&["prune", "--keep", "1"]).success();
    let left: Vec<_> = std::fs::read_dir(p.backups_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 3, "one backup, its checksum and its row counts: {left:?}");
    eprintln!("{kills} SIGKILLs during backup (a full backup: {full:?})");
}

#[test]
fn sigkill_during_restore_leaves_the_old_or_the_restored_database_under_its_name_never_neither() {
    let p = populated(20_000);
    p.run(&["backup"]).success();
    let started = std::time::Instant::now();
    p.run(&["restore", "latest"]).success();
    let full = started.elapsed();
    let mut rng = seed();
    let (mut kills, mut swapped, loop_started) = (0, 0, std::time::Instant::now());
    let mut expected_old = 20_000;
    while kills < KILLS && loop_started.elapsed() < LOOP_BUDGET {
        // The live database differs from the archive, so which one is in place shows.
        expected_old -= 1;
        p.admin().batch_execute(&format!("DELETE FROM people WHERE id > {expected_old}")).unwrap();
        let at = std::time::Duration::from_micros(below(&mut rng, full.as_micros() as u64 + 1));
        kills += u32::from(run_killed(&p, &["restore", "latest"], at));
        let n = count(&p);
        assert!(n == expected_old || n == 20_000, "{n} rows: neither the old database nor the restored one");
        if n == 20_000 {
            swapped += 1;
            expected_old = 20_000;
            let kept = p.databases().into_iter().filter(|d| d.contains("__replaced_")).count();
            assert!(kept >= 1, "the replaced database is kept");
        }
    }
    assert!(kills >= MIN_KILLS, "only {kills} kills in {LOOP_BUDGET:?} (a full restore takes {full:?})");
    // The half-built databases of killed restores are listed and, once no orphaned pg_restore
    // loads them any more, dropped by prune, once a verified backup newer than them is kept (a
    // second later: a backup of the same second as the last restore does not sort after it).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.run(&["backup"]).success();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let left = loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        p.run(&["prune", "--keep", "1"]).success();
        let left: Vec<_> = p.databases().into_iter().filter(|d| d.contains("__")).collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
    };
    assert!(left.is_empty(), "{left:?}");
    eprintln!("{kills} SIGKILLs during restore, {swapped} after the swap (a full restore: {full:?})");
}

/// A restore past one second on a terminal (`script` gives the run a pty) shows the step running
/// and the time elapsed; off a terminal, nothing but its lines.
#[test]
fn a_long_restore_shows_progress_on_a_terminal_only() {
    let p = populated(5_000_000);
    p.run(&["backup"]).success();
    let base = p.t.command(&["restore", "latest"]);
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &format!("{BIN} restore latest"), "/dev/null"]).current_dir(p.t.root());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script.output().expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    // The bar's message is the step's line, its verb in lower case.
    assert!(shown.contains("restoring into a new database") && shown.contains("Restored"), "{shown:?}");
    p.run(&["restore", "latest"]).success().stderr_lacks("restoring into").stderr_has("Restored");
}

/// The pid of `parent`'s child running `program` with `arg` among its arguments, looked for in
/// /proc.
fn child_named(parent: u32, program: &str, arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // `pid (comm) state ppid …`: the name may hold spaces, the last `)` ends it.
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let has_arg = cmdline.split(|b| *b == 0).any(|a| a.starts_with(arg.as_bytes()));
        (ppid == parent && comm == program && has_arg).then_some(pid)
    })
}

/// Whether `pid` still runs (a zombie waiting for its new parent to reap it does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

#[test]
fn a_pg_dump_whose_envdb_is_killed_goes_with_it() {
    let p = populated(500_000);
    // The dump is held mid-way for as long as the test needs: an open transaction holds the
    // table, so pg_dump waits for its lock after it started (however fast the machine).
    let mut holder = p.admin();
    holder.batch_execute("BEGIN; LOCK TABLE people IN ACCESS EXCLUSIVE MODE").unwrap();
    let mut cmd = p.t.command(&["backup"]);
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    let pg_dump = loop {
        // The dump itself, not the `pg_dump --version` that chose it.
        if let Some(pid) = child_named(child.id(), "pg_dump", "--format") {
            break pid;
        }
        assert!(child.try_wait().unwrap().is_none(), "the backup ended before pg_dump was seen");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "no pg_dump started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // Mid-dump: pg_dump waits for the table.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(running(pg_dump), "pg_dump ended before envdb was killed");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    while running(pg_dump) {
        assert!(killed.elapsed() < std::time::Duration::from_secs(1), "pg_dump {pg_dump} outlived its envdb by 1 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    eprintln!("pg_dump {pg_dump} gone {:?} after its envdb was killed", killed.elapsed());
    holder.batch_execute("ROLLBACK").unwrap();
}

// ---- migrate-to-envs from a legacy PostgreSQL database ----

/// A legacy database (no envdb tables) with `people` and `notes` rows.
fn legacy_database() -> pgtest::Database<'static> {
    let legacy = pgtest::database();
    legacy
        .connect(Via::Tcp)
        .batch_execute(&format!(
            "{PEOPLE} INSERT INTO people SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 1000) g;\
             CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT 'n' FROM generate_series(1, 10);"
        ))
        .unwrap();
    legacy
}

/// A database's row count of `table`, and the environment and project it records.
fn copy_state(p: &Pg, db: &str, table: &str) -> (String, String, String) {
    let url = p.server.url(Via::Tcp, db);
    let mut client = pgtest::postgres::Client::connect(&url, pgtest::postgres::NoTls).unwrap();
    let one = |c: &mut pgtest::postgres::Client, sql: &str| column(c, sql).join(",");
    (
        one(&mut client, &format!("SELECT count(*)::text FROM {table}")),
        one(&mut client, "SELECT value FROM envdb_meta WHERE key = 'environment'"),
        one(&mut client, "SELECT value FROM envdb_meta WHERE key = 'project'"),
    )
}

#[test]
fn migrate_to_envs_copies_a_legacy_database_into_each_environment_verified() {
    let p = Pg::new(&[("0001_people.sql", PEOPLE)]);
    let legacy = legacy_database();
    let from = legacy.url(Via::Tcp);
    let run = p.run(&["migrate-to-envs", "--from", &from, "--to", "dev,qa"]);
    run.success()
        .stderr_has("Backed up")
        .stderr_has(&format!("Copied postgres://envdb_test:***@127.0.0.1:{}/{}", p.server.port(), legacy.name()))
        .stderr_has("by CREATE DATABASE … TEMPLATE: 2 tables, 1010 rows, verified")
        .stderr_has("cargo envdb baseline N --env dev");
    let (dev, qa) = (p.name(), format!("{}_qa", p.name()));
    assert_eq!(copy_state(&p, &dev, "people"), ("1000".into(), "dev".into(), "app".into()));
    assert_eq!(copy_state(&p, &qa, "notes"), ("10".into(), "qa".into(), "app".into()));
    // The legacy database is as it was, and its verified archive is in dev's backups.
    let mut old = legacy.connect(Via::Tcp);
    assert_eq!(column(&mut old, "SELECT count(*)::text FROM pg_tables WHERE tablename LIKE 'envdb%'"), ["0"]);
    assert_eq!(column(&mut old, "SELECT count(*)::text FROM people"), ["1000"]);
    drop(old);
    let archive = p.backups().into_iter().find(|b| b.to_string_lossy().ends_with(".v0.dump")).expect("an archive");
    assert!(archive.file_name().unwrap().to_string_lossy().starts_with(&format!("{}.legacy.", legacy.name())));
    // An existing environment's database is refused without --force, nothing changed.
    let run = p.run(&["migrate-to-envs", "--from", &from, "--to", "qa"]);
    run.code(1).stderr_has("`qa` already has a database").stderr_has("pass --force");
    // With --force while a session is on the legacy database (no template copy then): the
    // archive is loaded, and the replaced database kept beside the new one.
    let mut busy = legacy.connect(Via::Tcp);
    busy.batch_execute("INSERT INTO notes (body) VALUES ('late')").unwrap();
    let run = p.run(&["migrate-to-envs", "--from", &from, "--to", "qa", "--force"]);
    run.success().stderr_has("by pg_dump archive loaded with pg_restore: 2 tables, 1011 rows, verified");
    run.stderr_has(&format!("the replaced qa database as {qa}__replaced_"));
    assert_eq!(copy_state(&p, &qa, "notes").0, "11");
    assert!(p.databases().iter().any(|d| d.starts_with(&format!("{qa}__replaced_"))), "{:?}", p.databases());
    drop(busy);
}

#[test]
fn migrate_to_envs_names_a_bad_or_missing_legacy_database_without_its_password() {
    let p = Pg::new(&[("0001_people.sql", PEOPLE)]);
    let secret = "S3cr3t-Legacy-Pw";
    let missing = p.server.url(Via::Tcp, &format!("{}_nowhere", p.name()));
    let run = p.run(&["migrate-to-envs", "--from", &missing, "--to", "dev"]);
    run.code(1).stderr_has("cannot read the legacy database postgres://envdb_test:***@").stderr_has("_nowhere");
    for bad in [
        format!("postgres://u:{secret}@127.0.0.1:notaport/db"),
        format!("postgress://u:{secret}@127.0.0.1/db"),
        format!("postgres://u:{secret}@127.0.0.1:{}/", p.server.port()),
    ] {
        let run = p.run(&["migrate-to-envs", "--from", &bad, "--to", "dev"]);
        run.code(1).stderr_has("nothing was changed");
        assert!(!run.stderr.contains(secret) && !run.stdout.contains(secret), "{}", run.stderr);
    }
    assert!(p.databases().is_empty(), "{:?}", p.databases());
    assert!(p.backups().is_empty());
}

#[test]
fn migrate_to_envs_into_a_protected_environment_asks_for_its_name_and_is_audited() {
    let p = Pg::new(&[("0001_people.sql", PEOPLE)]);
    p.t.write("envdb.toml", "name = \"app\"\n[env.dev]\nurl = \"${DEV_URL}\"\n[env.prod]\nurl = \"${PROD_URL}\"\n");
    let prod = format!("{}_prod", p.name());
    let url = p.server.url(Via::Tcp, &prod);
    let legacy = legacy_database();
    let from = legacy.url(Via::Tcp);
    let vars = [("PROD_URL", url.as_str())];
    // A new database: nothing to confirm; the copy is audited all the same.
    p.run_with(&["migrate-to-envs", "--from", &from, "--to", "prod"], &vars).success();
    assert_eq!(copy_state(&p, &prod, "people"), ("1000".into(), "prod".into(), "app".into()));
    // Replacing it takes --force and the environment's name typed (or --confirm); refused
    // without, before anything is copied.
    let run = p.run_with(&["migrate-to-envs", "--from", &from, "--to", "prod", "--force"], &vars);
    run.code(1).stderr_has("--confirm prod");
    assert_eq!(p.databases().iter().filter(|d| d.starts_with(&format!("{prod}__"))).count(), 0);
    let run = p.run_with(&["migrate-to-envs", "--from", &from, "--to", "prod", "--force", "--confirm", "prod"], &vars);
    run.success().stderr_has(&format!("the replaced prod database as {prod}__replaced_"));
    let log = p.t.audit_log("xdg/app");
    assert!(!log.contains(p.server.password()), "{log}");
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        assert_eq!((line["environment"].as_str(), line["outcome"].as_str()), (Some("prod"), Some("ok")), "{line}");
        assert!(line["command"].as_str().unwrap().contains("migrate-to-envs --from postgres://envdb_test:***@"));
        assert!(line["database"].as_str().unwrap().ends_with(&format!("/{prod}")), "{line}");
    }
}
