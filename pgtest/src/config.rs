//! The text of the files a run writes: PostgreSQL's settings, PgBouncer's ini and its auth file.

use std::path::Path;

/// Settings appended to `postgresql.conf`: loopback TCP on `port`, the unix socket in `dir`,
/// durability traded for speed (a test server's data is thrown away), and dynamic shared memory
/// in files under the data directory (`pg_dynshmem`), so that a server killed with SIGKILL
/// leaves no `/dev/shm/PostgreSQL.*` segment behind: the data directory's removal takes them.
pub fn postgresql(dir: &Path, port: u16) -> String {
    format!(
        "\n# envdb-pgtest\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{}'\n\
         max_connections = 200\n\
         shared_buffers = 32MB\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         logging_collector = off\n\
         dynamic_shared_memory_type = mmap\n",
        dir.display()
    )
}

/// PgBouncer in transaction pooling mode on `port` (and a unix socket in `dir`), every database
/// forwarded to the server over loopback TCP on `pg_port`.
pub fn pgbouncer(dir: &Path, port: u16, pg_port: u16, role: &str) -> String {
    let dir = dir.display();
    format!(
        "[databases]\n\
         * = host=127.0.0.1 port={pg_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {dir}\n\
         auth_type = scram-sha-256\n\
         auth_file = {dir}/userlist.txt\n\
         pool_mode = transaction\n\
         max_client_conn = 500\n\
         default_pool_size = 20\n\
         server_login_retry = 1\n\
         query_wait_timeout = 10\n\
         stats_users = {role}\n\
         pidfile = {dir}/pgbouncer.pid\n\
         logfile = {dir}/pgbouncer.log\n\
         ignore_startup_parameters = extra_float_digits\n"
    )
}

/// PgBouncer's auth file: the role and its password in plain text (the file is mode 0600 and
/// removed with the run), from which PgBouncer both checks clients (SCRAM) and logs in to the
/// server (SCRAM).
pub fn userlist(role: &str, password: &str) -> String {
    format!("\"{role}\" \"{password}\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbouncer_pools_by_transaction_and_forwards_to_the_server() {
        let ini = pgbouncer(Path::new("/tmp/envdb-pg-x"), 7001, 7000, "envdb_test");
        assert!(ini.contains("pool_mode = transaction\n"), "{ini}");
        assert!(ini.contains("* = host=127.0.0.1 port=7000\n"), "{ini}");
        assert!(ini.contains("listen_port = 7001\n"), "{ini}");
        assert!(ini.contains("auth_file = /tmp/envdb-pg-x/userlist.txt\n"), "{ini}");
    }

    #[test]
    fn postgresql_listens_on_loopback_and_the_short_socket_dir() {
        let conf = postgresql(Path::new("/tmp/envdb-pg-x"), 7000);
        assert!(conf.contains("listen_addresses = '127.0.0.1'\nport = 7000\n"), "{conf}");
        assert!(conf.contains("unix_socket_directories = '/tmp/envdb-pg-x'\n"), "{conf}");
        assert!(conf.contains("fsync = off\n"), "{conf}");
        assert!(conf.contains("dynamic_shared_memory_type = mmap\n"), "{conf}");
    }
}
