//! Backups, restore and upgrades through the binary, with the faults that matter: a full disk,
//! a kill mid-copy, a writer that never stops, files that must not be restored.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn project() -> Test {
    Test::with(&[
        (
            "0001_items.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\nCREATE TABLE total (n INTEGER);\nINSERT INTO total VALUES (0);\n",
        ),
        ("0002_more.sql", "CREATE TABLE more (id INTEGER PRIMARY KEY);\n"),
    ])
}

/// The files of the backups directory but checksum files, each of which must sit beside its backup.
fn backups(t: &Test, env: &str) -> Vec<PathBuf> {
    let dir = if env == "prod" { t.path("xdg/app/backups") } else { t.path(&format!(".envdb/{env}/backups")) };
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    for sidecar in v.iter().filter(|p| p.extension().is_some_and(|e| e == "sha256")) {
        assert!(v.contains(&sidecar.with_extension("")), "{} is left without its backup", sidecar.display());
    }
    v.retain(|p| p.extension().is_none_or(|e| e != "sha256"));
    v
}

/// Backups under a final name (never partial files), oldest first as `backups` lists them.
fn final_backups(t: &Test, env: &str) -> Vec<PathBuf> {
    let json = t.run(&["backups", "--env", env, "--format", "json"]).json();
    json.as_array()
        .unwrap()
        .iter()
        .filter(|b| b["complete"] == true)
        .map(|b| PathBuf::from(b["path"].as_str().unwrap()))
        .collect()
}

fn fill(db: &Path, rows: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..rows {
        conn.execute("INSERT INTO items (v) VALUES (?1)", [format!("{i:0>200}")]).unwrap();
    }
    conn.execute("UPDATE total SET n = n + ?1", [rows as i64]).unwrap();
    conn.execute_batch("COMMIT").unwrap();
}

/// Every table's rows, in order: the logical content of a database.
fn content(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid")).unwrap();
        let n = stmt.column_count();
        let cell = |v: rusqlite::types::ValueRef<'_>| match v {
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            other => format!("{other:?}"),
        };
        let rows = stmt
            .query_map([], |r| Ok((0..n).map(|i| cell(r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|")))
            .unwrap();
        out.extend(rows.map(|r| format!("{t}: {}", r.unwrap())));
    }
    out
}

/// Switches a closed database to WAL; the header keeps the mode once the connection closes.
fn to_wal(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let mode: String = c.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// The journal mode a database file records, as SQLite reports it to a new connection.
fn journal_mode(db: &Path) -> String {
    rusqlite::Connection::open(db).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

/// Damages the first row of a leaf page of `table` in a closed database file, as a bad disk
/// would: the leaf is found from the table's root page in `sqlite_schema` (down the right-most
/// child pointers), and its first cell's bytes are overwritten. The header, the size and envdb's
/// own tables stay sound, so only `quick_check` (or reading the table) can tell. Returns the page.
fn damage_a_row_of(db: &Path, table: &str) -> u32 {
    let (root, page_size): (u32, usize) = {
        let c = rusqlite::Connection::open(db).unwrap();
        let root = c.query_row("SELECT rootpage FROM sqlite_schema WHERE name = ?1", [table], |r| r.get(0)).unwrap();
        let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        (root, page_size as usize)
    };
    let mut bytes = std::fs::read(db).unwrap();
    let be = |b: &[u8]| b.iter().fold(0u32, |n, &x| n << 8 | u32::from(x));
    let mut page = root;
    // 0x05: an interior table page, whose right-most child pointer is at offset 8.
    while bytes[(page as usize - 1) * page_size] == 0x05 {
        let at = (page as usize - 1) * page_size;
        page = be(&bytes[at + 8..at + 12]);
    }
    let at = (page as usize - 1) * page_size;
    assert_eq!(bytes[at], 0x0d, "page {page} of {} is not a table leaf", db.display());
    let cell = at + be(&bytes[at + 8..at + 10]) as usize;
    bytes[cell..cell + 8].fill(0xff);
    std::fs::write(db, bytes).unwrap();
    page
}

/// Writes `<file>.sha256` for what `file` holds now, as `backup` would have.
fn record_checksum(file: &Path) {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(std::fs::read(file).unwrap());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    let name = file.file_name().unwrap().to_str().unwrap();
    std::fs::write(format!("{}.sha256", file.display()), format!("{hex}  {name}\n")).unwrap();
}

/// Every file in a directory, dot files included, sorted.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// Polls `done` until it holds, failing the test with `what` after 30 s.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn backup_is_verified_private_and_listed() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 100);
    // A rollback-journal database: the kernel copies it while quick_check reads the same snapshot.
    t.run(&["backup"])
        .success()
        .stderr_has("Verified kernel copy of a fixed snapshot; quick_check of that snapshot during the copy")
        .stderr_has("SHA-256 ")
        .stderr_has(".v2.db.sha256");
    let files = final_backups(&t, "dev");
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("app.dev.20") && name.ends_with("Z.v2.db"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(content(&files[0]), content(&t.dev_db()));
    let ok: String =
        rusqlite::Connection::open(&files[0]).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let json = t.run(&["backups", "--format", "json"]).json();
    assert_eq!(json[0]["version"], 2);
    assert_eq!(json[0]["complete"], true);
    assert_eq!(json[0]["state"], "checked");
    assert_eq!(json[0]["checksum"].as_str().unwrap().len(), 64);

    // A copy of it, one byte flipped deep inside a row: header and size still agree, so the
    // listing (header against size, checksum file present) calls both "checked"; only re-reading
    // the checksums (--verify) tells them apart, and the label says which check each passed.
    let copy = files[0].with_file_name("app.dev.20990101T000000Z.v2.db");
    std::fs::copy(&files[0], &copy).unwrap();
    std::fs::write(
        format!("{}.sha256", copy.display()),
        std::fs::read_to_string(format!("{}.sha256", files[0].display()))
            .unwrap()
            .replace(&name, "app.dev.20990101T000000Z.v2.db"),
    )
    .unwrap();
    let len = std::fs::metadata(&copy).unwrap().len() as usize;
    damage(&copy, len - 100);
    let line_of = |out: &str, file: &Path| -> String {
        let name = file.file_name().unwrap().to_str().unwrap();
        out.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} is not listed:\n{out}")).to_owned()
    };
    let r = t.run(&["backups"]);
    r.success();
    for f in [&files[0], &copy] {
        assert!(line_of(&r.stdout, f).contains("checked (header and size; checksum recorded"), "{}", r.stdout);
    }
    let r = t.run(&["backups", "--verify"]);
    r.failure();
    assert!(line_of(&r.stdout, &files[0]).contains("verified (checksum re-read)"), "{}", r.stdout);
    assert!(line_of(&r.stdout, &copy).contains("damaged: its SHA-256 checksum"), "{}", r.stdout);
    std::fs::remove_file(&copy).unwrap();
    std::fs::remove_file(format!("{}.sha256", copy.display())).unwrap();

    // --vacuum: a compact copy, read back by quick_check.
    t.run(&["backup", "-o", "copies/manual.db", "--vacuum"])
        .success()
        .stderr_has("Verified VACUUM INTO compact copy; quick_check of the copy");
    assert_eq!(content(&t.path("copies/manual.db")), content(&t.dev_db()));
    let json = t.run(&["backup", "-o", "copies/json.db", "--vacuum", "--format", "json"]).json();
    assert_eq!(json["verification"], "vacuum");
    assert_eq!(json["sha256"].as_str().unwrap(), t.read("copies/json.db.sha256").split_whitespace().next().unwrap());

    // A WAL database: SQLite's backup API copies the snapshot, quick_check reads the copy, and the
    // copy is a plain rollback-journal file.
    to_wal(&t.dev_db());
    t.run(&["backup", "-o", "copies/wal.db"])
        .success()
        .stderr_has("Verified SQLite backup API copy of a fixed WAL snapshot; quick_check of the copy");
    assert_eq!(journal_mode(&t.path("copies/wal.db")), "delete");
    assert_eq!(content(&t.path("copies/wal.db")), content(&t.dev_db()));
    assert_eq!(t.run(&["backup", "-o", "copies/wal2.db", "--format", "json"]).json()["verification"], "backup_api");
    t.run(&["backup", "--env", "test"]).failure().stderr_has("does not exist");
}

/// A database whose pages are damaged is not backed up: `backup` fails with the verification
/// error, writes nothing (no backup, no partial file, no checksum file) and leaves the database
/// as it was.
fn a_damaged_database_is_not_backed_up(wal: bool) {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 2_000);
    if wal {
        to_wal(&t.dev_db());
    }
    let page = damage_a_row_of(&t.dev_db(), "items");
    let before = t.snapshot();
    let how = if wal { "quick_check of its page-for-page copy" } else { "quick_check of the database's snapshot" };
    for args in [&["backup"][..], &["backup", "-o", "copies/b.db"]] {
        t.run(args)
            .failure()
            .stderr_has("app.db fails verification, so no backup was written")
            .stderr_has(how)
            .stderr_has(&format!("page {page} cell 0"))
            .stderr_has("the database is untouched")
            .stderr_has("restore a verified backup");
        assert_eq!(all_files(&t.path(".envdb/dev/backups")), Vec::<PathBuf>::new());
        assert_eq!(all_files(&t.path("copies")), Vec::<PathBuf>::new());
        // A WAL database may gain an empty -wal and -shm from the read; its file is unchanged.
        let now: Vec<_> = t
            .snapshot()
            .into_iter()
            .filter(|(p, c)| !(c.is_empty() || p.to_string_lossy().ends_with("-shm")))
            .collect();
        let was: Vec<_> =
            before.iter().filter(|(p, c)| !(c.is_empty() || p.to_string_lossy().ends_with("-shm"))).cloned().collect();
        assert_eq!(was, now);
    }
    assert_eq!(journal_mode(&t.dev_db()), if wal { "wal" } else { "delete" });
}

#[test]
fn a_damaged_rollback_journal_database_is_not_backed_up() {
    a_damaged_database_is_not_backed_up(false);
}

#[test]
fn a_damaged_wal_database_is_not_backed_up() {
    a_damaged_database_is_not_backed_up(true);
}

#[test]
fn prune_keeps_the_newest() {
    let t = project();
    t.run(&["migrate"]).success();
    for _ in 0..4 {
        t.run(&["backup", "-q"]).success();
    }
    t.write(".envdb/dev/backups/.app.dev.20200101T000000Z.v1.db.partial", "interrupted");
    t.run(&["backups"]).success().stdout_has("interrupted");
    t.run(&["prune"]).code(2);
    t.run(&["prune", "--keep", "2", "--dry-run"]).success().stderr_has("Would remove");
    assert_eq!(backups(&t, "dev").len(), 5);
    t.run(&["prune", "--keep", "2"]).success().stderr_has("Pruned 3 backup(s)");
    assert_eq!(final_backups(&t, "dev").len(), 2);
    assert_eq!(backups(&t, "dev").len(), 2);
    let newest = final_backups(&t, "dev").pop().unwrap();
    t.run(&["prune", "--older-than", "0s"]).success();
    assert_eq!(final_backups(&t, "dev"), [newest]);
    t.run(&["prune", "--older-than", "soon"]).code(2);
}

#[test]
fn restore_verifies_backs_up_and_replaces() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 10);
    let original = content(&t.dev_db());
    t.run(&["backup", "-q"]).success();
    fill(&t.dev_db(), 5);
    // Leave a -wal beside the database, as a crashed application would.
    {
        let c = rusqlite::Connection::open(t.dev_db()).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
        c.execute("INSERT INTO items (v) VALUES ('in the wal')", []).unwrap();
    }
    let changed = content(&t.dev_db());
    t.run(&["restore", "latest"])
        .success()
        .stderr_has("Kept the replaced database as .envdb/dev/backups/app.dev.")
        .stderr_has(".v2.replaced.db")
        .stderr_has("schema version 2 → 2");
    assert_eq!(content(&t.dev_db()), original);
    assert!(!t.path(".envdb/dev/app.db-wal").exists());
    // The database it replaced is kept, WAL content included, and listed.
    let kept = final_backups(&t, "dev").pop().unwrap();
    assert!(kept.to_string_lossy().ends_with(".replaced.db"));
    assert_eq!(content(&kept), changed);
    t.run(&["backups"]).success().stdout_has("replaced by a restore");
    // `restore latest` takes the newest verified backup, never a replaced database…
    t.run(&["restore", "latest"]).success();
    assert_eq!(content(&t.dev_db()), original);
    // …which can still be restored by name, undoing the first restore.
    t.run(&["restore", kept.to_str().unwrap()]).success();
    assert_eq!(content(&t.dev_db()), changed);
}

#[test]
fn restore_refuses_bad_files_and_changes_nothing() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 2_000);
    t.run(&["backup", "-q"]).success();
    let good = final_backups(&t, "dev").pop().unwrap();
    let before = t.snapshot();

    // Damaged pages that only quick_check sees: a row of a user table, in a copy of a good backup
    // whose envdb tables, header and size are sound. With a checksum file recorded after the
    // damage (so the checksum passes) and without one, the restore gets as far as verifying the
    // pages while it copies, fails there, and removes its partial copy.
    for sidecar in [true, false] {
        let bad = t.path("bad.db");
        std::fs::copy(&good, &bad).unwrap();
        let page = damage_a_row_of(&bad, "items");
        if sidecar {
            record_checksum(&bad);
        }
        t.run(&["restore", "bad.db"])
            .failure()
            .stderr_has("bad.db cannot be restored")
            .stderr_has("bad.db fails verification")
            .stderr_has(&format!("page {page} cell 0"))
            .stderr_has("nothing was changed");
        assert!(
            all_files(&t.path(".envdb/dev")).iter().all(|p| !p.to_string_lossy().contains(".restore.")),
            "{:?}",
            all_files(&t.path(".envdb/dev"))
        );
        let _ = std::fs::remove_file(t.path("bad.db.sha256"));
    }
    // Not a database at all.
    t.write("text.db", "hello\n".repeat(1000));
    t.run(&["restore", "text.db"]).failure().stderr_has("cannot be restored");
    // Another environment's backup.
    t.run(&["migrate", "--env", "test"]).success();
    t.run(&["backup", "--env", "test", "-o", "test-copy.db"]).success();
    t.run(&["restore", "test-copy.db"]).failure().stderr_has("a backup of the environment `test`, not `dev`");
    // Another project's backup.
    let other = project();
    other.write("envdb.toml", "name = \"other\"\n");
    other.run(&["migrate"]).success();
    other.run(&["backup", "-o", "o.db"]).success();
    std::fs::copy(other.path("o.db"), t.path("other.db")).unwrap();
    t.run(&["restore", "other.db"]).failure().stderr_has("a backup of the project `other`, not `app`");
    // A backup newer than the code.
    let newer = project();
    newer.write("migrations/0003_new.sql", "CREATE TABLE newer (x);");
    newer.run(&["hash"]).success();
    newer.run(&["migrate"]).success();
    newer.run(&["backup", "-o", "n.db"]).success();
    std::fs::copy(newer.path("n.db"), t.path("newer.db")).unwrap();
    t.run(&["restore", "newer.db"]).failure().stderr_has("newer than the latest migration this code knows (2)");
    for f in ["bad.db", "text.db", "test-copy.db", "other.db", "newer.db"] {
        std::fs::remove_file(t.path(f)).unwrap();
    }
    // `backup -o` records its checksum beside the copy.
    std::fs::remove_file(t.path("test-copy.db.sha256")).unwrap();
    let after: Vec<_> = t.snapshot().into_iter().filter(|(p, _)| !p.starts_with(t.path(".envdb/test"))).collect();
    assert_eq!(before, after);
}

#[test]
fn restore_and_upgrade_refuse_while_the_application_runs() {
    let t = project();
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["backup", "-q"]).success();
    // Hold the application's shared lock exactly as the runtime does.
    let lock = hold_app_lock(&t, ".envdb/dev/app.db.lock");
    let before = t.snapshot();
    let me = format!("pid {}", std::process::id());
    t.run(&["restore", "latest"]).failure().stderr_has("holds").stderr_has(&me).stderr_has("--force");
    t.run(&["upgrade"]).failure().stderr_has("the database is in use").stderr_has("stop the application");
    t.run(&["status"]).success().stdout_has("running (holds the lock)");
    assert_eq!(before, t.snapshot());
    t.run(&["upgrade", "--force"]).success().stdout_has("Schema version: 1 → 2");
    drop(lock);
}

#[test]
fn upgrade_flow_and_dry_run() {
    let t = project();
    t.run(&["migrate", "--prod", "--to", "1"]).success();
    let before = t.snapshot();
    t.run(&["upgrade", "--prod", "--dry-run"])
        .success()
        .stderr_has("Would apply migrations/0002_more.sql")
        .stderr_has("Would back up")
        .stderr_has("nothing changed");
    assert_eq!(before, t.snapshot());
    t.run(&["upgrade", "--prod", "--no-backup"])
        .failure()
        .stderr_has("PROTECTED ENVIRONMENT: prod")
        .stderr_has("--confirm prod");
    assert_eq!(before, t.snapshot());
    let r = t.run(&["upgrade", "--prod"]);
    r.success()
        .stdout_has("Schema version: 1 → 2")
        .stdout_has("applied 0002_more.sql")
        .stdout_has("Backup: xdg/app/backups/app.prod.");
    assert_eq!(final_backups(&t, "prod").len(), 1);
    t.run(&["upgrade", "--prod"]).success().stderr_has("nothing to upgrade");
    let audit = t.read("xdg/app/audit.log");
    assert!(audit.lines().any(|l| l.contains("upgrade --prod") && l.contains("\"version_after\":2")), "{audit}");
}

#[test]
fn upgrade_whose_second_migration_fails() {
    let t = Test::with(&[(
        "0001_items.sql",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\nCREATE TABLE total (n INTEGER);\nINSERT INTO total VALUES (0);\n",
    )]);
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 20);
    let original = content(&t.dev_db());
    t.write("migrations/0002_ok.sql", "CREATE TABLE ok (x);");
    // Fails only on the real data (duplicate keys), so the replay on an empty database passes.
    t.write("migrations/0003_broken.sql", "INSERT INTO items SELECT * FROM items;");
    t.run(&["hash"]).success();
    let r = t.run(&["upgrade"]);
    r.failure()
        .stderr_has("0003_broken.sql failed at line 1")
        .stderr_has("database is at version 2")
        .stderr_has("cargo envdb restore ")
        .stderr_has("--env dev");
    assert_eq!(t.run(&["status", "--format", "json"]).json()["version"], 2);
    let backup = final_backups(&t, "dev").pop().unwrap();
    assert_eq!(content(&backup), original);
    t.run(&["restore", backup.to_str().unwrap()]).success();
    assert_eq!(content(&t.dev_db()), original, "the backup restores the original content exactly");
}

#[test]
fn backup_keep_prunes_after_each_upgrade() {
    let t = project();
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\nbackup_keep = 2\n");
    t.run(&["migrate", "--to", "1"]).success();
    for _ in 0..3 {
        t.run(&["backup", "-q"]).success();
    }
    t.run(&["upgrade"]).success();
    assert_eq!(final_backups(&t, "dev").len(), 2);
}

/// A backup that runs out of room (RLIMIT_FSIZE: a fault that holds for root too) fails saying
/// so, leaves nothing in the backups directory (no partial file, no checksum file, nothing
/// SQLite opened beside them), and the database as it was.
#[cfg(unix)]
fn a_full_disk_during_backup_leaves_nothing(wal: bool) {
    use std::os::unix::process::CommandExt;
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 20_000); // about 5 MB
    if wal {
        to_wal(&t.dev_db());
    }
    let db_before = std::fs::read(t.dev_db()).unwrap();
    let mut cmd = t.command(&["backup"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 1 << 20, rlim_max: 1 << 20 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let r = Run::from(cmd.output().unwrap());
    r.failure().stderr_has("cannot write the backup").stderr_has("check free space");
    assert_eq!(all_files(&t.path(".envdb/dev/backups")), Vec::<PathBuf>::new());
    assert_eq!(db_before, std::fs::read(t.dev_db()).unwrap());
    assert_eq!(journal_mode(&t.dev_db()), if wal { "wal" } else { "delete" });
}

#[cfg(unix)]
#[test]
fn a_full_disk_during_a_rollback_journal_backup_leaves_nothing() {
    a_full_disk_during_backup_leaves_nothing(false);
}

#[cfg(unix)]
#[test]
fn a_full_disk_during_a_wal_backup_leaves_nothing() {
    a_full_disk_during_backup_leaves_nothing(true);
}

/// SIGKILL mid-copy never leaves a file under a backup name: a backup is started, stopped
/// (SIGSTOP) once its partial file exists and before any final name does, then killed; the kill
/// must be what ended it, and it must leave the partial file and no new final name. Runs until
/// at least two kills landed so (a run that finished first is checked like any backup). Then
/// every file under a backup name, read straight from the directory, passes quick_check and
/// holds the source's content; `prune` removes the partial files.
#[cfg(unix)]
fn sigkill_mid_copy_never_leaves_a_backup_name(wal: bool) {
    use std::os::unix::process::ExitStatusExt;
    use std::time::Instant;
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 100_000); // about 25 MB: the copy and its check take a while
    if wal {
        to_wal(&t.dev_db());
    }
    let source = content(&t.dev_db());
    let db_before = std::fs::read(t.dev_db()).unwrap();
    let dir = t.path(".envdb/dev/backups");
    let named = || -> Vec<PathBuf> {
        all_files(&dir)
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                !name.starts_with('.') && !name.ends_with(".sha256")
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut landed, mut finished) = (0, 0);
    while landed < 2 {
        assert!(Instant::now() < deadline, "no kill landed mid-copy in 120 s ({finished} backups finished first)");
        let names_before = named();
        let mut child = t.command(&["backup", "-q"]).spawn().unwrap();
        let pid = child.id();
        let suffix = format!(".{pid}.partial");
        let partial = || all_files(&dir).into_iter().find(|p| p.to_string_lossy().ends_with(&suffix));
        let found = loop {
            if let Some(p) = partial() {
                break Some(p);
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the backup failed on its own: {status:?}");
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let Some(partial) = found else {
            finished += 1;
            continue;
        };
        // SAFETY: a plain syscall on our own child's pid, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
        let mid_copy = partial.exists() && named() == names_before;
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "the backup was not ended by our kill: {status:?}");
        if mid_copy {
            assert!(partial.exists(), "{} vanished after the kill", partial.display());
            assert_eq!(named(), names_before, "a killed backup left a file under a backup name");
            landed += 1;
        }
    }
    // Every file under a backup name, straight from the directory (not from `backups`).
    for p in named() {
        let c = rusqlite::Connection::open(&p).unwrap();
        let ok: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{}", p.display());
        drop(c);
        assert_eq!(content(&p), source, "{} does not hold the source's content", p.display());
    }
    assert_eq!(db_before, std::fs::read(t.dev_db()).unwrap());
    // The kills left partial files (and perhaps a checksum file alone): listed, and pruned.
    t.run(&["backups"]).success().stdout_has("interrupted (partial");
    t.run(&["prune", "--keep", "1"]).success();
    let named = named();
    for p in all_files(&dir) {
        let sidecar_of_named =
            p.to_string_lossy().strip_suffix(".sha256").is_some_and(|b| named.contains(&PathBuf::from(b)));
        assert!(named.contains(&p) || sidecar_of_named, "prune left {}", p.display());
    }
}

#[cfg(unix)]
#[test]
fn sigkill_during_a_rollback_journal_backup_never_leaves_a_backup_name() {
    sigkill_mid_copy_never_leaves_a_backup_name(false);
}

#[cfg(unix)]
#[test]
fn sigkill_during_a_wal_backup_never_leaves_a_backup_name() {
    sigkill_mid_copy_never_leaves_a_backup_name(true);
}

#[test]
fn backup_under_continuous_writes_is_a_committed_state() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 20_000);
    to_wal(&t.dev_db());
    let rows_now = |db: &Path| -> i64 {
        let c = rusqlite::Connection::open(db).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap()
    };
    // The writer: a thread of this test, stopped only by `stop`; each transaction keeps `total`
    // equal to the row count, so any committed state is consistent.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, db) = (Arc::clone(&stop), t.dev_db());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            let mut commits = 0u64;
            while !stop.load(Ordering::Relaxed) {
                commits += 1;
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; INSERT INTO items (v) VALUES ('w{commits}'); INSERT INTO items (v) VALUES ('x{commits}'); UPDATE total SET n = n + 2; COMMIT;"
                ))
                .unwrap();
            }
            commits
        })
    };
    let mut counts: Vec<i64> = Vec::new();
    for n in 1..=3 {
        // The writer has committed since the last backup (or since the fill) before this one starts.
        let floor = counts.last().copied().unwrap_or(20_000);
        wait_for("the writer stopped committing", || writer.is_finished() || rows_now(&t.dev_db()) > floor);
        t.run(&["backup", "-q"]).success();
        assert!(!writer.is_finished(), "the writer died during backup {n}");
        let copies = final_backups(&t, "dev");
        assert_eq!(copies.len(), n);
        let copy = copies.last().unwrap();
        let c = rusqlite::Connection::open(copy).unwrap();
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let rows: i64 = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
        let total: i64 = c.query_row("SELECT n FROM total", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, total, "{} holds a half-committed state", copy.display());
        assert!(
            rows > floor,
            "backup {n} holds {rows} rows, not more than {floor}: the writer did not write before it"
        );
        counts.push(rows);
    }
    stop.store(true, Ordering::Relaxed);
    // Ends by our stop, not by a panic (a failed write unwraps in the thread).
    let commits = writer.join().expect("the writer panicked");
    assert!(commits > 0);
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
}

/// Rewrites a file's bytes in place (size and time kept), as a disk or a careless copy would.
fn damage(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len / 2).unwrap();
}

/// The `backups --format json` entry of `path`.
fn listed(t: &Test, args: &[&str], path: &Path) -> serde_json::Value {
    let mut all = vec!["backups", "--format", "json"];
    all.extend_from_slice(args);
    let json = t.run(&all).json();
    json.as_array()
        .unwrap()
        .iter()
        .find(|b| b["path"].as_str() == path.to_str())
        .unwrap_or_else(|| panic!("{} is not listed: {json:#}", path.display()))
        .clone()
}

/// A project with two backups of different content: the older one, its content, the newest.
fn two_backups() -> (Test, PathBuf, Vec<String>, PathBuf) {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 2_000);
    t.run(&["backup", "-q"]).success();
    let good_content = content(&t.dev_db());
    fill(&t.dev_db(), 10);
    t.run(&["backup", "-q"]).success();
    let [good, newest] = <[PathBuf; 2]>::try_from(final_backups(&t, "dev")).unwrap();
    (t, good, good_content, newest)
}

/// `restore FILE` fails saying `why` and that nothing changed, and nothing did.
fn restore_is_refused(t: &Test, file: &Path, why: &str) {
    let before = t.snapshot();
    t.run(&["restore", file.to_str().unwrap()]).failure().stderr_has(why).stderr_has("nothing was changed");
    assert_eq!(before, t.snapshot());
}

#[test]
fn a_truncated_newest_backup_is_never_trusted() {
    let (t, good, good_content, newest) = two_backups();
    let good_bytes = std::fs::read(&good).unwrap();
    truncate(&newest);

    // Listed as damaged, with why; a listing that finds damage exits 1.
    let r = t.run(&["backups"]);
    r.failure().stdout_has("damaged").stdout_has("truncated");
    assert_eq!(listed(&t, &[], &newest)["state"], "damaged");
    assert!(listed(&t, &[], &newest)["problem"].as_str().unwrap().contains("truncated"));
    assert_eq!(listed(&t, &[], &good)["state"], "checked");
    assert_eq!(listed(&t, &["--verify"], &good)["state"], "verified");

    // prune --keep 1 keeps the only good backup (and the damaged one, which it never counts).
    t.run(&["prune", "--keep", "1"]).success().stderr_has("damaged");
    assert_eq!(std::fs::read(&good).unwrap(), good_bytes);
    assert!(newest.exists(), "a damaged backup is kept for a person to look at, not silently removed");

    // restore latest skips the damaged one, saying so, and restores the good one.
    fill(&t.dev_db(), 5);
    t.run(&["restore", "latest"])
        .success()
        .stderr_has("skipped")
        .stderr_has(newest.file_name().unwrap().to_str().unwrap());
    assert_eq!(content(&t.dev_db()), good_content);

    // Restoring the damaged file by name is refused, saying why, with nothing changed.
    restore_is_refused(&t, &newest, "truncated");
}

#[test]
fn a_damaged_checksum_is_caught_by_prune_restore_and_verify() {
    let (t, good, good_content, newest) = two_backups();
    // One flipped byte deep inside a row: the size and the header still agree, quick_check too.
    let len = std::fs::metadata(&newest).unwrap().len() as usize;
    damage(&newest, len - 100);
    let sidecar = PathBuf::from(format!("{}.sha256", newest.display()));
    // The checksum file is `sha256sum -c` format: the digest, two spaces, the file's name.
    let recorded = std::fs::read_to_string(&sidecar).unwrap();
    assert!(recorded.ends_with(&format!("  {}\n", newest.file_name().unwrap().to_str().unwrap())), "{recorded}");

    // The cheap listing cannot see it; --verify re-reads every checksum and does.
    assert_eq!(listed(&t, &[], &newest)["state"], "checked");
    t.run(&["backups", "--verify"]).failure().stdout_has("damaged").stdout_has("checksum");
    assert_eq!(listed(&t, &["--verify"], &newest)["state"], "damaged");

    // prune --dry-run in JSON: what it would remove, parsed (nothing here: one verified, one damaged).
    let json = t.run(&["prune", "--keep", "1", "--dry-run", "--format", "json"]).json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["removed"].as_array().unwrap().len(), 0, "{json:#}");
    assert_eq!(json["damaged"][0]["path"].as_str(), newest.to_str());
    t.run(&["prune", "--keep", "1"]).success();
    assert!(good.exists());

    t.run(&["restore", "latest"]).success().stderr_has("skipped");
    assert_eq!(content(&t.dev_db()), good_content);
    // By name, the checksum is checked while the file is copied: refused, nothing changed.
    restore_is_refused(&t, &newest, "checksum");
}

#[test]
fn backups_without_a_checksum_are_listed_but_never_trusted() {
    let t = project();
    t.run(&["migrate"]).success();
    t.run(&["backup", "-q"]).success();
    let old = final_backups(&t, "dev").pop().unwrap();
    std::fs::remove_file(format!("{}.sha256", old.display())).unwrap();
    assert_eq!(listed(&t, &[], &old)["state"], "unverified");
    t.run(&["backups"]).success().stdout_has("unverified (no checksum");
    t.run(&["restore", "latest"])
        .failure()
        .stderr_has("no verified backup")
        .stderr_has(old.file_name().unwrap().to_str().unwrap());
    // Without a verified backup newer than it, prune keeps it whatever the rule.
    t.run(&["prune", "--keep", "1"]).success();
    t.run(&["prune", "--older-than", "0s"]).success();
    assert!(old.exists());
    // It can still be restored by name (its pages are verified while it is copied).
    t.run(&["restore", old.to_str().unwrap()]).success();
    // Once a verified backup exists, an unverified one older than the kept ones goes.
    t.run(&["backup", "-q"]).success();
    t.run(&["prune", "--keep", "1"]).success();
    assert!(!old.exists());
}

#[test]
fn backup_keep_after_an_upgrade_keeps_the_good_backup() {
    let t = project();
    t.write("envdb.toml", "name = \"app\"\n[env.dev]\nbackup_keep = 1\n");
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["backup", "-q"]).success();
    t.run(&["backup", "-q"]).success();
    let [good, newest] = <[PathBuf; 2]>::try_from(final_backups(&t, "dev")).unwrap();
    truncate(&newest);
    let json = t.run(&["upgrade", "--no-backup", "--format", "json"]).json();
    assert_eq!(json["version_after"], 2);
    assert!(good.exists(), "backup_keep removed the only good backup");
    assert!(json["pruned"].as_array().unwrap().iter().all(|p| p.as_str() != good.to_str()), "{json:#}");
}

#[test]
fn restore_refuses_an_empty_or_foreign_file_unless_forced() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 10);
    let before = t.snapshot();
    t.write("empty.db", "");
    t.run(&["restore", "empty.db"])
        .failure()
        .stderr_has("empty.db")
        .stderr_has("empty (0 bytes)")
        .stderr_has("--force");
    let foreign = t.path("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x); INSERT INTO notes VALUES (1);")
        .unwrap();
    t.run(&["restore", "foreign.db"])
        .failure()
        .stderr_has("foreign.db has no envdb metadata")
        .stderr_has("envdb_migrations")
        .stderr_has("envdb_meta")
        .stderr_has("--force");
    std::fs::remove_file(t.path("empty.db")).unwrap();
    let after_foreign: Vec<_> = t.snapshot().into_iter().filter(|(p, _)| *p != foreign).collect();
    assert_eq!(before, after_foreign);
    // Forced: restored, and the database it replaced is kept.
    t.run(&["restore", "foreign.db", "--force"]).success().stderr_has("Kept");
    let notes: i64 = t.db().query_row("SELECT count(*) FROM notes", [], |r| r.get(0)).unwrap();
    assert_eq!(notes, 1);
}

#[test]
fn restore_force_names_the_replaced_database_after_waiting_for_migrate() {
    let t = Test::with(&[
        ("0001_items.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\n"),
        (
            "0002_slow.sql",
            "CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT x FROM c;\n",
        ),
    ]);
    t.run(&["migrate", "--to", "1"]).success();
    t.run(&["backup", "-q", "-o", "v1.db"]).success();
    let mut migrate = t.command(&["migrate", "-q"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    // Wait until the migration run holds its lock.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(t.path(".envdb/dev/app.db.migrate.lock"))
        .unwrap();
    // Held by migrate once our try fails (a try that succeeds is undone at once).
    wait_for("migrate never took its lock", || lock.try_lock().is_err() || lock.unlock().is_err());
    let r = t.run(&["restore", "v1.db", "--force"]);
    assert!(migrate.wait().unwrap().success());
    r.success().stderr_has("Waiting").stderr_has(".v2.replaced.db").stderr_has("schema version 2 → 1");
}

/// What a writer killed mid-transaction leaves on a rollback-journal database: every row of
/// `items` changed in one transaction with a tiny page cache, so SQLite spills changed pages into
/// the database file and their originals into the hot journal, and, at that moment, the file and
/// its journal are copied over `db` (no process holds `db`'s locks, as after a kill). The scratch
/// copy it was done on is then rolled back and removed.
fn leave_a_crashed_writer(db: &Path) {
    let scratch = db.with_file_name("scratch.db");
    std::fs::copy(db, &scratch).unwrap();
    let conn = rusqlite::Connection::open(&scratch).unwrap();
    conn.execute_batch("PRAGMA cache_size = 4; BEGIN; UPDATE items SET v = 'half ' || v; UPDATE total SET n = -1;")
        .unwrap();
    std::fs::copy(&scratch, db).unwrap();
    std::fs::copy(scratch.with_file_name("scratch.db-journal"), db.with_file_name("app.db-journal")).unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    std::fs::remove_file(scratch).unwrap();
}

#[cfg(unix)]
#[test]
fn restore_after_a_crashed_writer_keeps_the_database_as_sqlite_sees_it() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 3_000);
    t.run(&["backup", "-q"]).success();
    fill(&t.dev_db(), 7);
    let committed = content(&t.dev_db());
    leave_a_crashed_writer(&t.dev_db());
    // Really a hot journal, and really half a transaction in the database file.
    assert!(std::fs::metadata(t.path(".envdb/dev/app.db-journal")).unwrap().len() > 0);
    let alone = t.path("alone.db");
    std::fs::copy(t.dev_db(), &alone).unwrap();
    assert_ne!(content(&alone), committed, "the writer's changed pages never reached the file");
    std::fs::remove_file(&alone).unwrap();

    t.run(&["restore", "latest"]).success().stderr_has(".v2.replaced.db").stderr_has("schema version 2 → 2");
    let kept = final_backups(&t, "dev").into_iter().find(|p| p.to_string_lossy().ends_with(".replaced.db")).unwrap();
    assert!(kept.to_string_lossy().ends_with(".v2.replaced.db"), "{}", kept.display());
    assert!(content(&kept) == committed, "the kept database holds half a transaction");
    let ok: String =
        rusqlite::Connection::open(&kept).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

#[cfg(unix)]
#[test]
fn a_killed_restore_leaves_a_partial_that_is_listed_and_pruned() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 100_000); // about 25 MB: the copy and its check take a while
    t.run(&["backup", "-q", "-o", "big.db"]).success();
    let mut restore = t.command(&["restore", "big.db"]).spawn().unwrap();
    let partial = t.path(&format!(".envdb/dev/.app.db.restore.{}.partial", restore.id()));
    wait_for("the restore never started copying", || partial.exists());
    restore.kill().unwrap();
    restore.wait().unwrap();
    assert!(partial.exists());
    // A restore still running (this process stands in for it) is listed but never pruned.
    let running = t.path(&format!(".envdb/dev/.app.db.restore.{}.partial", std::process::id()));
    std::fs::write(&running, "copying").unwrap();
    // A backup killed between its checksum file and placing itself leaves the checksum alone.
    let orphan = t.path(".envdb/dev/backups/app.dev.20200101T000000Z.v2.db.sha256");
    t.write(".envdb/dev/backups/app.dev.20200101T000000Z.v2.db.sha256", format!("{}  x\n", "0".repeat(64)));

    t.run(&["backups"]).success().stdout_has("interrupted restore").stdout_has("restore in progress");
    assert_eq!(listed(&t, &[], &partial)["state"], "interrupted");
    assert_eq!(listed(&t, &[], &running)["state"], "in_progress");
    assert_eq!(listed(&t, &[], &orphan)["kind"], "orphan_checksum");
    let dry = t.run(&["prune", "--keep", "5", "--dry-run", "--format", "json"]).json();
    assert_eq!(dry["removed"].as_array().unwrap(), &[serde_json::json!(orphan), serde_json::json!(partial)]);
    t.run(&["prune", "--keep", "5"]).success();
    assert!(!partial.exists());
    assert!(!orphan.exists());
    assert!(running.exists());
}

#[test]
fn upgrade_dry_run_prints_json() {
    let t = project();
    t.run(&["migrate", "--to", "1"]).success();
    let before = t.snapshot();
    let json = t.run(&["upgrade", "--dry-run", "--format", "json"]).json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["version_before"], 1);
    assert_eq!(json["version_after"], 2);
    assert_eq!(json["pending"][0]["file"], "0002_more.sql");
    assert!(json["backup"].as_str().unwrap().contains("app.dev."), "{json:#}");
    assert_eq!(before, t.snapshot());
}

#[test]
fn restore_refuses_a_file_whose_wal_holds_part_of_it() {
    let t = project();
    t.run(&["migrate"]).success();
    let before = t.snapshot();
    // A copy of a live WAL database: the rows of the last transaction are only in its -wal.
    let live = t.path("live.db");
    std::fs::copy(t.dev_db(), &live).unwrap();
    let conn = rusqlite::Connection::open(&live).unwrap();
    let _: String = conn.query_row("PRAGMA journal_mode = wal", [], |r| r.get(0)).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO items (v) VALUES ('only in the wal');").unwrap();
    let copy = t.path("copy.db");
    std::fs::copy(&live, &copy).unwrap();
    std::fs::copy(t.path("live.db-wal"), t.path("copy.db-wal")).unwrap();
    drop(conn);
    t.run(&["restore", "copy.db"]).failure().stderr_has("copy.db-wal").stderr_has("nothing was changed");
    // The files this test wrote beside the project (live.db*, copy.db*) aside, nothing changed.
    let mine = |p: &Path| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.starts_with("live.db") || name.starts_with("copy.db")
    };
    let after: Vec<_> = t.snapshot().into_iter().filter(|(p, _)| !mine(p)).collect();
    assert_eq!(before, after);
}

/// The restored database keeps the journal mode of the one it replaces (WAL is the one mode a
/// database file records): an application that put its database in WAL finds it in WAL after a
/// restore of a (rollback-journal) backup, and a WAL file restored over a rollback-journal
/// database comes out in rollback-journal mode.
#[test]
fn restore_keeps_the_journal_mode_of_the_database_it_replaces() {
    let t = project();
    t.run(&["migrate"]).success();
    fill(&t.dev_db(), 500);
    let original = content(&t.dev_db());
    t.run(&["backup", "-q"]).success();
    let backup = final_backups(&t, "dev").pop().unwrap();
    assert_eq!(journal_mode(&backup), "delete");
    to_wal(&t.dev_db());
    fill(&t.dev_db(), 5);
    let changed = content(&t.dev_db());
    t.run(&["restore", "latest"]).success().stderr_has("schema version 2 → 2");
    assert_eq!(content(&t.dev_db()), original);
    assert_eq!(journal_mode(&t.dev_db()), "wal", "a WAL database came back in rollback-journal mode");
    // The backup itself is untouched: still a rollback-journal file that verifies.
    assert_eq!(journal_mode(&backup), "delete");
    t.run(&["backups", "--verify"]).success();

    // The kept database was in WAL; restored over a rollback-journal database, it follows it.
    let kept = final_backups(&t, "dev").into_iter().find(|p| p.to_string_lossy().ends_with(".replaced.db")).unwrap();
    assert_eq!(journal_mode(&kept), "wal");
    {
        let c = rusqlite::Connection::open(t.dev_db()).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = delete", [], |r| r.get(0)).unwrap();
    }
    t.run(&["restore", kept.to_str().unwrap()]).success();
    assert_eq!(content(&t.dev_db()), changed);
    assert_eq!(journal_mode(&t.dev_db()), "delete");
    t.run(&["status"]).success();
}

/// What SQLite can leave beside an interrupted backup's partial file (`-wal`, `-shm`,
/// `-journal`) is listed as interrupted and pruned, alone or with its partial file; a running
/// backup's are listed as in progress and spared.
#[test]
fn files_left_beside_an_interrupted_backup_are_listed_and_pruned() {
    let t = project();
    t.run(&["migrate"]).success();
    t.run(&["backup", "-q"]).success();
    // A process that has exited: its pid names no running writer.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let me = std::process::id();
    let dir = ".envdb/dev/backups";
    let dead_alone = [
        format!("{dir}/.app.dev.20200101T000000Z.v2.db.{dead}.partial-wal"),
        format!("{dir}/.app.dev.20200101T000000Z.v2.db.{dead}.partial-shm"),
    ];
    let dead_with_partial = [
        format!("{dir}/.app.dev.20200102T000000Z.v2.db.{dead}.partial"),
        format!("{dir}/.app.dev.20200102T000000Z.v2.db.{dead}.partial-journal"),
        format!("{dir}/.app.dev.20200102T000000Z.v2.db.{dead}.partial-wal"),
    ];
    let restore_stray = format!(".envdb/dev/.app.db.restore.{dead}.partial-wal");
    let running = [
        format!("{dir}/.app.dev.20200103T000000Z.v2.db.{me}.partial"),
        format!("{dir}/.app.dev.20200103T000000Z.v2.db.{me}.partial-wal"),
    ];
    let all: Vec<&String> =
        dead_alone.iter().chain(&dead_with_partial).chain(std::iter::once(&restore_stray)).chain(&running).collect();
    for f in &all {
        t.write(f, "x");
    }
    t.run(&["backups"]).success().stdout_has("interrupted (partial").stdout_has("backup in progress");
    for f in dead_alone.iter().chain(&dead_with_partial).chain(std::iter::once(&restore_stray)) {
        assert_eq!(listed(&t, &[], &t.path(f))["state"], "interrupted", "{f}");
    }
    for f in &running {
        assert_eq!(listed(&t, &[], &t.path(f))["state"], "in_progress", "{f}");
    }
    let dry = t.run(&["prune", "--keep", "5", "--dry-run", "--format", "json"]).json();
    assert_eq!(dry["removed"].as_array().unwrap().len(), 6, "{dry:#}");
    t.run(&["prune", "--keep", "5"]).success();
    for f in dead_alone.iter().chain(&dead_with_partial).chain(std::iter::once(&restore_stray)) {
        assert!(!t.path(f).exists(), "{f} was not pruned");
    }
    for f in &running {
        assert!(t.path(f).exists(), "{f} of a running backup was pruned");
    }
    assert_eq!(final_backups(&t, "dev").len(), 1);
}
