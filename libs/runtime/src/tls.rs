//! TLS for every service's listener (rustls, ring provider): a certificate
//! chain and key from PEM files, optionally a client CA that makes the
//! listener mutual (a client must present a certificate it signed), and
//! the files re-read every `reload_interval` so a renewed certificate (a
//! Kubernetes Secret swapped in place) is served to new connections without
//! a restart. A reload that fails (a half-written file) keeps the previous
//! configuration and logs why.
//!
//! Handshakes run off the accept loop (a slow or silent client holds only
//! its own task, for at most [`HANDSHAKE_TIMEOUT`]); a refused handshake
//! (no certificate, one from another CA, an expired one) never reaches a
//! service. The peer's certificates travel with each request
//! (`tonic::Request::peer_certs`) for the identity layer.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

/// How long a client may take to complete a handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[server.tls]`: off unless `cert_file` is set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM, leaf first).
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by one of the
    /// CAs in this PEM file. Unset: any client may connect.
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are re-read.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_interval: Duration::from_secs(30),
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    pub fn validate(&self) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), Some(_)) | (None, None) => {}
            (Some(_), None) => return Err("server.tls.key_file is required with cert_file".into()),
            (None, Some(_)) => return Err("server.tls.cert_file is required with key_file".into()),
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            return Err("server.tls.client_ca_file needs cert_file and key_file".into());
        }
        if self.reload_interval.is_zero() {
            return Err("server.tls.reload_interval must be positive".into());
        }
        Ok(())
    }

    /// The files' bytes, in a fixed order: what a reload compares.
    fn read(&self) -> Result<Vec<Vec<u8>>, String> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .flatten()
            .map(|path| {
                std::fs::read(path)
                    .map_err(|e| format!("server.tls: {} cannot be read: {e}", path.display()))
            })
            .collect()
    }

    /// The rustls configuration these files describe.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let (Some(cert_file), Some(key_file)) = (&self.cert_file, &self.key_file) else {
            return Err("server.tls: cert_file and key_file are required".into());
        };
        let provider = provider();
        let certs = certificates(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
            format!(
                "server.tls.key_file: {} holds no usable private key: {e}",
                key_file.display()
            )
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("server.tls: {e}"))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = RootCertStore::empty();
                for ca in certificates(ca_file)? {
                    roots.add(ca).map_err(|e| {
                        format!("server.tls.client_ca_file: {}: {e}", ca_file.display())
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("server.tls.client_ca_file: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("server.tls: the certificate and key do not fit: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("server.tls: {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "server.tls: {} holds no PEM certificate",
            file.display()
        ));
    }
    Ok(certs)
}

/// The configuration new connections are accepted with, replaced when the
/// files change.
struct Current {
    files: Vec<Vec<u8>>,
    acceptor: TlsAcceptor,
}

/// Accepted, handshaken TLS connections of `listener`, for
/// `serve_with_incoming`; the accept loop and the reload task stop when the
/// stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: &TlsConfig,
) -> Result<ReceiverStream<std::io::Result<TlsStream<TcpStream>>>, String> {
    let current = Arc::new(RwLock::new(Current {
        files: tls.read()?,
        acceptor: TlsAcceptor::from(Arc::new(tls.server_config()?)),
    }));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let reload = tokio::spawn(reload(tls.clone(), current.clone()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tx.closed() => break,
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of file descriptors and the like: pass.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    // Without it, Nagle's algorithm holds small responses back.
                    let _ = tcp.set_nodelay(true);
                    let acceptor = current.read().expect("not poisoned").acceptor.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                let _ = tx.send(Ok(stream)).await;
                            }
                            Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake refused"),
                            Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
        reload.abort();
    });
    Ok(ReceiverStream::new(rx))
}

async fn reload(tls: TlsConfig, current: Arc<RwLock<Current>>) {
    let mut every = tokio::time::interval(tls.reload_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let files = match tls.read() {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(error = %e, "TLS files unreadable; serving the previous certificate");
                continue;
            }
        };
        if files == current.read().expect("not poisoned").files {
            continue;
        }
        match tls.server_config() {
            Ok(config) => {
                *current.write().expect("not poisoned") = Current {
                    files,
                    acceptor: TlsAcceptor::from(Arc::new(config)),
                };
                tracing::info!("TLS certificate files changed; new connections use them");
            }
            Err(e) => {
                tracing::error!(error = %e, "changed TLS files do not load; serving the previous certificate")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_configured_tls_is_refused_at_start() {
        let cert_only = TlsConfig {
            cert_file: Some("/x.pem".into()),
            ..TlsConfig::default()
        };
        assert!(cert_only.validate().unwrap_err().contains("key_file"));
        let ca_only = TlsConfig {
            client_ca_file: Some("/ca.pem".into()),
            ..TlsConfig::default()
        };
        assert!(ca_only.validate().unwrap_err().contains("client_ca_file"));
        let missing = TlsConfig {
            cert_file: Some("/no/such.pem".into()),
            key_file: Some("/no/such.key".into()),
            ..TlsConfig::default()
        };
        assert!(
            missing
                .server_config()
                .unwrap_err()
                .contains("/no/such.pem")
        );
    }
}
