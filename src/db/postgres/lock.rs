//! The run lock on PostgreSQL: a lease row in `<history_schema>.envdb_lock`, taken with one
//! atomic `INSERT … ON CONFLICT DO UPDATE … WHERE expired`, renewed by a heartbeat thread on a
//! connection of its own, deleted on drop. Every statement is autocommitted, so it works
//! directly, through PgBouncer in transaction pooling mode, and around `CREATE INDEX
//! CONCURRENTLY` (which no transaction may enclose). Exactly-once does not rest on it alone: each
//! migration's transaction inserts its history row first (the claim), which a migration applied
//! meanwhile makes a unique violation before the file runs.
//! See ARCHITECTURE.md, "The run lock on PostgreSQL".

use super::connect::{Target, connect};
use super::error::PgError;
use super::sql::{literal, rows};
use super::{Postgres, history::Tables};
use crate::db::DbError;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a waiting run asks again.
const POLL: Duration = Duration::from_millis(100);

/// A held lease; released (its row deleted) on drop.
pub struct LeaseGuard {
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
    holder: String,
}

impl LeaseGuard {
    /// The holder id recorded in the lease row.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard").field("holder", &self.holder).finish_non_exhaustive()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.heartbeat.take() {
            let _ = thread.join();
        }
    }
}

/// This machine's name (what a waiting run shows, and how a dead holder on the same machine is
/// recognised).
fn host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| String::from("unknown"))
}

/// A holder id no other run shares: the pid and 64 random bits.
fn holder_id() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !random {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = (nanos.as_nanos() as u64).to_le_bytes();
    }
    format!("{}-{}", std::process::id(), bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Whether process `pid` of this machine is gone (Linux's /proc; elsewhere it is never assumed).
fn dead_here(pid: u64) -> bool {
    Path::new("/proc/self").exists()
        && pid != u64::from(std::process::id())
        && !Path::new(&format!("/proc/{pid}")).exists()
}

use std::path::Path;

/// The current holder, as read from the row.
struct Holder {
    id: String,
    host: String,
    pid: u64,
    since: String,
    heartbeat_ago: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "run {} (pid {} on {}) since {}, last heartbeat {}s ago",
            self.id, self.pid, self.host, self.since, self.heartbeat_ago
        )
    }
}

fn acquire_sql(t: &Tables, holder: &str, host: &str, ttl: Duration, stale: Option<&str>) -> String {
    let steal = stale.map_or_else(String::new, |s| format!(" OR l.holder = {}", literal(s)));
    format!(
        "INSERT INTO {lock} AS l (id, holder, host, pid, acquired_at, heartbeat_at, expires_at) \
         VALUES (1, {holder}, {host}, {pid}, clock_timestamp(), clock_timestamp(), clock_timestamp() + interval '{ms} milliseconds') \
         ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid, \
         acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at \
         WHERE l.expires_at < clock_timestamp(){steal} RETURNING holder",
        lock = t.lock,
        holder = literal(holder),
        host = literal(host),
        pid = std::process::id(),
        ms = ttl.as_millis()
    )
}

fn read_holder(client: &mut ::postgres::Client, t: &Tables) -> Result<Option<Holder>, ::postgres::Error> {
    let sql = format!(
        "SELECT holder, host, pid, to_char(acquired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
         round(extract(epoch FROM clock_timestamp() - heartbeat_at))::bigint FROM {} WHERE id = 1",
        t.lock
    );
    Ok(rows(client, &sql)?.into_iter().next().map(|r| {
        let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        Holder { id: text(0), host: text(1), pid: text(2).parse().unwrap_or(0), since: text(3), heartbeat_ago: text(4) }
    }))
}

impl Postgres {
    /// Takes the run lock (the lease), waiting up to `timeout`; `on_wait` is told once who holds
    /// it and since when. The lease is renewed every third of `lease_ttl` until the guard drops.
    /// The session goes on being this one's; the lease has a connection of its own.
    pub fn run_lock(&mut self, timeout: Duration, on_wait: &mut dyn FnMut(&str)) -> Result<LeaseGuard, DbError> {
        self.ensure(None, None)?;
        let client = connect(&self.target)?;
        lease(
            client,
            self.target.clone(),
            self.label.clone(),
            self.tables.clone(),
            self.opts.lease_ttl,
            timeout,
            on_wait,
        )
    }

    /// [`Postgres::run_lock`] on this session, which becomes the lease's (one connection fewer
    /// for a caller that opens another one for its run).
    pub fn into_run_lock(mut self, timeout: Duration, on_wait: &mut dyn FnMut(&str)) -> Result<LeaseGuard, DbError> {
        self.ensure(None, None)?;
        lease(self.client, self.target, self.label, self.tables, self.opts.lease_ttl, timeout, on_wait)
    }
}

/// Takes the lease on `client`, waiting up to `timeout`, and hands the client to its heartbeat.
fn lease(
    mut client: ::postgres::Client,
    target: Target,
    label: String,
    tables: Tables,
    ttl: Duration,
    timeout: Duration,
    on_wait: &mut dyn FnMut(&str),
) -> Result<LeaseGuard, DbError> {
    let err = |e: &::postgres::Error| DbError::from(PgError::server(&label, e));
    let (holder, host) = (holder_id(), host());
    let start = Instant::now();
    let mut told = false;
    let mut stale: Option<String> = None;
    loop {
        let got =
            rows(&mut client, &acquire_sql(&tables, &holder, &host, ttl, stale.as_deref())).map_err(|e| err(&e))?;
        if !got.is_empty() {
            break;
        }
        let Some(current) = read_holder(&mut client, &tables).map_err(|e| err(&e))? else { continue };
        // A holder that died on this machine is not waited for until its lease expires.
        if current.host == host && dead_here(current.pid) {
            stale = Some(current.id.clone());
            continue;
        }
        if start.elapsed() >= timeout {
            return Err(PgError::LockTimeout { label, holder: current.describe(), waited: start.elapsed(), ttl }.into());
        }
        if !told {
            on_wait(&current.describe());
            told = true;
        }
        std::thread::sleep(POLL.min(timeout.saturating_sub(start.elapsed())));
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let id = holder.clone();
    let heartbeat = std::thread::spawn(move || beat(client, target, tables, id, ttl, stopped));
    Ok(LeaseGuard { stop: Some(stop), heartbeat: Some(heartbeat), holder })
}

/// Renews the lease every third of `ttl` until told to stop (or the guard is gone), then
/// deletes it. A lost connection is opened again at the next beat.
fn beat(
    client: ::postgres::Client,
    target: Target,
    t: Tables,
    holder: String,
    ttl: Duration,
    stop: mpsc::Receiver<()>,
) {
    let mut client = Some(client);
    let renew = format!(
        "UPDATE {} SET heartbeat_at = clock_timestamp(), expires_at = clock_timestamp() + interval '{} milliseconds' \
         WHERE id = 1 AND holder = {}",
        t.lock,
        ttl.as_millis(),
        literal(&holder)
    );
    let release = format!("DELETE FROM {} WHERE id = 1 AND holder = {}", t.lock, literal(&holder));
    let mut run = |sql: &str| {
        if client.is_none() {
            client = connect(&target).ok();
        }
        if let Some(c) = client.as_mut()
            && c.batch_execute(sql).is_err()
        {
            client = None;
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(ttl / 3) {
        run(&renew);
    }
    run(&release);
}
