//! Opening a session: the URL read (its `sslmode` by envdb, the rest by the `postgres` crate),
//! the password found as libpq finds it, TLS with rustls, and a connect timeout that bounds the
//! whole connection (TCP, TLS and authentication), every failure described without a secret.

use super::error::{PgError, describe};
use super::pgpass;
use ::postgres::config::{Host, SslMode};
use ::postgres::{Client, Config};
use std::sync::Arc;
use std::time::Duration;

/// `sslmode`, as libpq spells it (`allow` and `verify-ca` are refused: see ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Disable,
    /// TLS when the server offers it, without verifying its certificate (libpq's default).
    Prefer,
    /// TLS always, without verifying the certificate (as libpq does without a root file).
    Require,
    /// TLS, with the chain checked against the system's roots and the host name against it.
    VerifyFull,
}

/// A URL read: the client's configuration (password included), how to do TLS, and where the
/// password came from.
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub tls: Tls,
    pub password_from: pgpass::Source,
    pub label: String,
}

/// Takes `sslmode` out of the URL's query (the `postgres` crate knows no `verify-full`).
fn split_sslmode(url: &str) -> Result<(String, Tls), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Tls::Prefer));
    };
    let mut tls = Tls::Prefer;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => {
                tls = match mode {
                    "disable" => Tls::Disable,
                    "prefer" => Tls::Prefer,
                    "require" => Tls::Require,
                    "verify-full" => Tls::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not supported (disable, prefer, require or verify-full)"
                        ));
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() { (base.to_owned(), tls) } else { (format!("{base}?{}", kept.join("&")), tls) })
}

/// Reads `secret_url` (a `postgres://` or `postgresql://` URL) and finds its password.
pub fn target(secret_url: &str, label: &str, timeout: Duration) -> Result<Target, PgError> {
    let bad = |reason: String| PgError::Url { label: label.to_owned(), reason };
    if !(secret_url.starts_with("postgres://") || secret_url.starts_with("postgresql://")) {
        let scheme = secret_url.split_once("://").map_or("(none)", |(s, _)| s);
        return Err(bad(format!("its scheme is `{scheme}`, not postgres:// or postgresql://")));
    }
    let (url, asked) = split_sslmode(secret_url).map_err(bad)?;
    // The crate's parse errors name an option, never a value.
    let mut config: Config = url.parse().map_err(|e: ::postgres::Error| bad(describe(&e)))?;
    // As libpq: sslmode is for TCP; a server never speaks TLS on its unix socket, so asking
    // there would cost a round trip (`prefer`) or fail (`require`, `verify-full`, which would
    // also want the system's roots for nothing).
    let unix_only = !config.get_hosts().is_empty() && config.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)));
    let tls = if unix_only { Tls::Disable } else { asked };
    config.ssl_mode(if tls == Tls::Disable {
        SslMode::Disable
    } else if tls == Tls::Prefer {
        SslMode::Prefer
    } else {
        SslMode::Require
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("cargo-envdb");
    }
    let mut password_from = pgpass::Source::Url;
    if config.get_password().is_none() {
        let user = user(&config);
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            _ => String::from("localhost"),
        };
        let key = pgpass::Key {
            host: &host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config.get_dbname().unwrap_or(&user),
            user: &user,
        };
        password_from = match pgpass::lookup(key) {
            Some((password, from)) => {
                config.password(password);
                from
            }
            None => pgpass::Source::None,
        };
    }
    Ok(Target { config, tls, password_from, label: label.to_owned() })
}

/// The role a configuration connects as (the OS user when the URL names none, as libpq).
pub fn user(config: &Config) -> String {
    match config.get_user() {
        Some(u) => u.to_owned(),
        None => std::env::var("USER").unwrap_or_default(),
    }
}

/// `host:port` of each host, for messages.
pub fn address(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return format!("localhost:{}", ports.first().copied().unwrap_or(5432));
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(h) => format!("{h}:{port}"),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Accepts any certificate (`prefer`, `require`: encryption without authentication, as libpq),
/// still checking that the server holds the key of the certificate it shows.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls configuration for `tls`: the system's roots for `verify-full`.
fn tls_config(tls: Tls, label: &str) -> Result<rustls::ClientConfig, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let failed = |reason: String, help| PgError::Tls { label: label.to_owned(), reason, help };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string(), "report this: rustls refused its own defaults"))?;
    if tls != Tls::VerifyFull {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(failed(
            String::from("sslmode=verify-full found no trusted root certificate in the system's store"),
            "install the CA certificates (e.g. the ca-certificates package) or point SSL_CERT_FILE at the CA that signed the server's certificate",
        ));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Connects as `target` says, within its connect timeout.
pub fn connect(target: &Target) -> Result<Client, PgError> {
    let label = target.label.as_str();
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(target.tls, label)?);
    let timeout = target.config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(10));
    let config = target.config.clone();
    // The crate's timeout covers the TCP connection only; a server that accepts and then says
    // nothing would hang the handshake, so the whole connection runs on a thread waited for.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(config.connect(connector));
    });
    let address = address(&target.config);
    let result = match rx.recv_timeout(timeout + Duration::from_millis(250)) {
        Ok(result) => result,
        Err(_) => return Err(PgError::Timeout { label: label.to_owned(), address, timeout }),
    };
    result.map_err(|e| classify(target, &e, address))
}

/// A connection error, as a user can act on it.
fn classify(target: &Target, e: &::postgres::Error, address: String) -> PgError {
    let label = target.label.clone();
    let user = user(&target.config);
    match super::error::code(e) {
        Some("28P01") => return PgError::WrongPassword { label, user, source_of_password: target.password_from },
        // PgBouncer answers a wrong password and a missing database with a protocol violation
        // (SQLSTATE 08P01) and the server's words.
        Some("08P01")
            if ["password authentication failed", "SASL authentication failed"]
                .iter()
                .any(|m| describe(e).contains(m)) =>
        {
            return PgError::WrongPassword { label, user, source_of_password: target.password_from };
        }
        Some("08P01") if describe(e).contains("\" does not exist") && describe(e).contains("database \"") => {
            let name = target.config.get_dbname().map_or(user, str::to_owned);
            return PgError::MissingDatabase { label, name };
        }
        Some("3D000") => {
            let name = target.config.get_dbname().map_or(user, str::to_owned);
            return PgError::MissingDatabase { label, name };
        }
        Some(_) => return PgError::Server { label, message: describe(e) },
        None => {}
    }
    let text = describe(e);
    if text.contains("password missing") {
        return PgError::NoPassword { label, user };
    }
    if text.starts_with("timeout waiting for server") {
        let timeout = target.config.get_connect_timeout().copied().unwrap_or_default();
        return PgError::Timeout { label, address, timeout };
    }
    if text.starts_with("error performing TLS handshake") || text.contains("server does not support TLS") {
        let help = if target.tls == Tls::VerifyFull {
            "sslmode=verify-full checks the certificate's chain against the system's roots and its name against the host: check both, or use sslmode=require to encrypt without verifying"
        } else {
            "check that the server accepts TLS (ssl = on), or use sslmode=disable on a trusted network"
        };
        return PgError::Tls { label, reason: text, help };
    }
    let reason = text.strip_prefix("error connecting to server: ").unwrap_or(&text).to_owned();
    PgError::Unreachable { label, address, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_out_of_the_query() {
        assert_eq!(split_sslmode("postgres://h/d").unwrap(), ("postgres://h/d".into(), Tls::Prefer));
        assert_eq!(
            split_sslmode("postgres://h/d?sslmode=verify-full&connect_timeout=3").unwrap(),
            ("postgres://h/d?connect_timeout=3".into(), Tls::VerifyFull)
        );
        assert_eq!(split_sslmode("postgres://h/d?sslmode=disable").unwrap(), ("postgres://h/d".into(), Tls::Disable));
        assert!(split_sslmode("postgres://h/d?sslmode=verify-ca").unwrap_err().contains("verify-ca"));
    }

    #[test]
    fn a_bad_url_never_shows_its_password() {
        let e = target("postgres://u:s3cret@h/d?bogus=1", "postgres://u:***@h/d", Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("bogus") && !e.contains("s3cret"), "{e}");
        let e = target("postgre://u:s3cret@h/d", "label", Duration::from_secs(1)).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("`postgre`"));
    }
}
