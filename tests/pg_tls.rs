//! TLS against a real server with a certificate of its own (pgtest's `enable_tls`), through the
//! binary: `verify-full` checks the chain (the CA given in `SSL_CERT_FILE`) and the host name,
//! `require` encrypts without checking, a unix socket ignores `sslmode` (as libpq), and no failure
//! shows the password.

mod common;
use common::*;

fn migrate(t: &Test, url: &str, ca: Option<&std::path::Path>) -> Run {
    let mut cmd = t.command(&["migrate", "--database-url", url]);
    match ca {
        Some(ca) => cmd.env("SSL_CERT_FILE", ca),
        // A file with no certificate: the system's store alone, which does not trust the test CA.
        None => cmd.env("SSL_CERT_FILE", t.path("no-ca.pem")),
    };
    Run::from(cmd.output().unwrap())
}

#[test]
fn verify_full_checks_the_chain_and_the_host_name_and_require_only_encrypts() {
    let server = pgtest::Server::start().unwrap_or_else(|e| panic!("{e}"));
    let ca = server.enable_tls().unwrap_or_else(|e| panic!("{e}"));
    let db = server.database();
    let password = server.password().to_owned();
    let t = Test::with(&[("0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);")]);
    t.write("no-ca.pem", "");
    let tcp = db.url(pgtest::Via::Tcp);
    let by_name = tcp.replace("@127.0.0.1:", "@localhost:");
    let secret = |r: &Run| assert!(!r.stdout.contains(&password) && !r.stderr.contains(&password), "{}", r.stderr);

    let untrusted = migrate(&t, &format!("{by_name}?sslmode=verify-full"), None);
    untrusted.failure().stderr_has("TLS").stderr_has("certificate");
    secret(&untrusted);
    let mismatch = migrate(&t, &format!("{tcp}?sslmode=verify-full"), Some(&ca));
    mismatch.failure().stderr_has("TLS");
    secret(&mismatch);
    let tables =
        db.connect(pgtest::Via::Socket).simple_query("SELECT 1 FROM pg_tables WHERE tablename = 'envdb_migrations'");
    let rows =
        tables.unwrap().into_iter().filter(|m| matches!(m, pgtest::postgres::SimpleQueryMessage::Row(_))).count();
    assert_eq!(rows, 0, "a refused connection changed nothing");

    let verified = migrate(&t, &format!("{by_name}?sslmode=verify-full"), Some(&ca));
    verified.success().stderr_has("schema version 0 → 1");
    secret(&verified);
    migrate(&t, &format!("{tcp}?sslmode=require"), None).success().stderr_has("nothing to apply");

    // As libpq: sslmode is for TCP, and a unix socket never speaks TLS, so no mode refuses it.
    let socket = db.url(pgtest::Via::Socket);
    let sep = if socket.contains('?') { '&' } else { '?' };
    // No root certificate anywhere: none is needed there.
    std::fs::create_dir_all(t.path("no-roots")).unwrap();
    for mode in ["require", "verify-full"] {
        let mut cmd = t.command(&["migrate", "--database-url", &format!("{socket}{sep}sslmode={mode}")]);
        cmd.env("SSL_CERT_FILE", t.path("no-ca.pem")).env("SSL_CERT_DIR", t.path("no-roots"));
        Run::from(cmd.output().unwrap()).success().stderr_has("nothing to apply");
    }
}
