//! Test certificates: a CA that signs server and client certificates for
//! `localhost` (current or long expired), as PEM.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `localhost`, as (certificate PEM, key PEM).
    pub fn leaf(&self, common_name: &str, expired: bool) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a server certificate and key as `server.pem` / `server.key`
    /// in `dir` (key first: a reload reading between the two writes sees a
    /// mismatch and keeps the previous pair, never a broken one).
    pub fn write_server_files(&self, dir: &std::path::Path) {
        let (cert, key) = self.leaf("server", false);
        std::fs::write(dir.join("server.key"), key).unwrap();
        std::fs::write(dir.join("server.pem"), cert).unwrap();
    }
}
