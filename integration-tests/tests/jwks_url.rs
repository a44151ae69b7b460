//! Token keys fetched from an issuer's HTTPS JWKS URL: trusted only through
//! the configured CA, and a server that CA did not sign stops the start.

use std::{path::Path, sync::Arc};

use featurestore_integration_tests::{
    certs::Ca,
    tokens::{ISSUER, bearer, jwks_document},
};
use featurestore_runtime::{
    AuthConfig,
    auth::{Authenticator, IssuerConfig},
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves the test issuer's JWKS at `https://localhost:<port>/jwks` with a
/// certificate signed by `ca`.
async fn serve_jwks_over_https(ca: &Ca) -> String {
    let (cert, key) = ca.leaf("jwks", false);
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = jwks_document();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}/jwks")
}

fn config(url: &str, ca_file: Option<&Path>) -> AuthConfig {
    AuthConfig {
        required: true,
        issuers: vec![IssuerConfig {
            issuer: ISSUER.into(),
            jwks_url: Some(url.into()),
            jwks_ca_file: ca_file.map(Path::to_path_buf),
            ..IssuerConfig::default()
        }],
    }
}

#[tokio::test]
async fn keys_come_over_https_from_a_server_of_the_configured_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("jwks-ca");
    let url = serve_jwks_over_https(&ca).await;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    let auth = Authenticator::load(&config(&url, Some(&ca_file)))
        .await
        .expect("keys from a server of the configured CA");
    let token = bearer("ana", &["ds"]);
    let principal = auth
        .verify_token(token.strip_prefix("Bearer ").unwrap())
        .unwrap();
    assert_eq!(principal.name, "ana");

    // Another CA, or the system's roots: the server is not trusted and the
    // start stops, saying why.
    let other = dir.path().join("other.pem");
    std::fs::write(&other, Ca::new("other").pem).unwrap();
    for ca_file in [Some(other.as_path()), None] {
        let err = Authenticator::load(&config(&url, ca_file))
            .await
            .unwrap_err();
        assert!(
            err.contains(&url) && err.to_lowercase().contains("certificate"),
            "{ca_file:?}: {err}"
        );
    }
}
