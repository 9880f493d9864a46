//! TLS for a test server of its own: a throwaway certificate authority and a server certificate
//! for `localhost` (made with rcgen), so that `sslmode=verify-full` is tested against a real
//! handshake, with the CA given to the client through `SSL_CERT_FILE`.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM texts: the CA's certificate, the server's certificate and the server's private key.
pub struct Pems {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// A new CA and a certificate it signs for the DNS name `localhost` only (so a client that
/// connects to `127.0.0.1` with verify-full sees a name mismatch).
pub fn generate() -> Result<Pems, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "envdb-pgtest CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut params = CertificateParams::new(vec![String::from("localhost")])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(Pems { ca: ca.pem(), cert: cert.pem(), key: key.serialize_pem() })
}
