//! Who is calling: every request of a service passes the [`Gate`] of an
//! [`Authenticator`], which
//! finds the caller's identity and puts it in the request's extensions as a
//! [`Principal`] (tonic handlers read it with `request.extensions()`).
//!
//! - A bearer token (`authorization: Bearer <JWT>`) is checked against the
//!   configured issuers (`[[server.auth.issuers]]`): signature by a key of
//!   the issuer's JWKS, from a file or a URL ([`jwks`]), `iss`, `exp`/`nbf`
//!   (60 s leeway), `aud` when audiences are given. The subject is `sub`,
//!   groups come from `groups_claim`. Kubernetes service-account tokens are
//!   such JWTs (issuer and JWKS of the cluster).
//! - Otherwise a verified client certificate (mutual TLS, `tls.rs`) names
//!   its subject's common name (or first DNS name).
//!
//! A token that is present but invalid is always UNAUTHENTICATED, with the
//! reason; a call without identity is UNAUTHENTICATED only when
//! `server.auth.required` (health and reflection stay open for probes and
//! tools).

mod jwks;
mod verified;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use self::jwks::{Keys, Source};
pub use self::jwks::{URL_MIN_GAP, URL_REFRESH};
use self::verified::{CertificateNames, Verified};
use crate::gate::Gate;

/// `[server.auth]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Refuse calls that carry no identity.
    pub required: bool,
    /// Issuers whose bearer tokens are accepted.
    pub issuers: Vec<IssuerConfig>,
}

/// `[[server.auth.issuers]]`: one token issuer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Accepted `aud` values; empty: the audience is not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Its public keys (a JWKS document) in a file, re-read when it
    /// changes; or
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// at a URL, fetched at start and refreshed (see [`jwks`]).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The only CA trusted for `jwks_url` (PEM); default: the system's.
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// A bearer token sent with each fetch of `jwks_url`, read afresh
    /// each time (a service-account token file).
    #[serde(default)]
    pub jwks_token_file: Option<PathBuf>,
    /// The claim listing the caller's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_groups_claim() -> String {
    "groups".into()
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audiences: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            jwks_ca_file: None,
            jwks_token_file: None,
            groups_claim: default_groups_claim(),
        }
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, issuer) in self.issuers.iter().enumerate() {
            let field = format!("server.auth.issuers[{i}]");
            if issuer.issuer.is_empty() {
                return Err(format!("{field}.issuer is required"));
            }
            Source::check(issuer, &field)?;
        }
        Ok(())
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proof {
    Token,
    Certificate,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// `sub` of a token, the common name of a certificate.
    pub name: String,
    /// The token's issuer; empty for a certificate.
    pub issuer: String,
    pub groups: Vec<String>,
    pub proof: Proof,
}

impl Principal {
    /// One string per caller, never shared by two: the issuer and subject
    /// of a token, `cert:` and the name of a certificate.
    pub fn id(&self) -> String {
        match self.proof {
            Proof::Token => format!("{}#{}", self.issuer, self.name),
            Proof::Certificate => format!("cert:{}", self.name),
        }
    }

    /// The [`Principal::id`] of a request's caller; empty when anonymous.
    pub fn id_of<T>(request: &tonic::Request<T>) -> String {
        request
            .extensions()
            .get::<Principal>()
            .map(Principal::id)
            .unwrap_or_default()
    }
}

struct Issuer {
    config: IssuerConfig,
    source: Source,
    keys: RwLock<Keys>,
    /// When `source` was last read.
    read_at: Mutex<Instant>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}

/// Checks credentials against the configured issuers.
pub struct Authenticator {
    required: bool,
    issuers: Vec<Issuer>,
    /// Woken by a token whose key id no issuer has: the refresh task then
    /// fetches URL sources early.
    unknown_key: Arc<Notify>,
    verified: Verified,
    certificates: CertificateNames,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("required", &self.required)
            .field("issuers", &self.issuers.len())
            .finish()
    }
}

impl Authenticator {
    /// Loads every issuer's keys (a source that does not load stops the
    /// start).
    pub async fn load(config: &AuthConfig) -> Result<Self, String> {
        let mut issuers = Vec::with_capacity(config.issuers.len());
        for (i, c) in config.issuers.iter().enumerate() {
            let source = Source::new(c, &format!("server.auth.issuers[{i}]"))?;
            let keys = source
                .read()
                .await
                .and_then(|document| Keys::parse(document, &source))
                .map_err(|e| format!("server.auth: {e}"))?;
            issuers.push(Issuer {
                config: c.clone(),
                source,
                keys: RwLock::new(keys),
                read_at: Mutex::new(Instant::now()),
            });
        }
        Ok(Self {
            required: config.required,
            issuers,
            unknown_key: Arc::new(Notify::new()),
            verified: Verified::default(),
            certificates: CertificateNames::default(),
        })
    }

    /// Reads again the sources that are due (files always, URLs read at
    /// least `min_age` ago) and swaps in the keys of those that changed; a
    /// source that no longer loads keeps the previous keys.
    pub async fn refresh(&self, min_age: Duration) {
        for issuer in &self.issuers {
            let last = *issuer.read_at.lock().expect("not poisoned");
            if !issuer.source.due(last, min_age) {
                continue;
            }
            let read = issuer.source.read().await;
            *issuer.read_at.lock().expect("not poisoned") = Instant::now();
            let document = match read {
                Ok(document) => document,
                Err(e) => {
                    tracing::error!(issuer = %issuer.config.issuer, error = %e, "keeping the previous token keys");
                    continue;
                }
            };
            if document == issuer.keys.read().expect("not poisoned").document {
                continue;
            }
            match Keys::parse(document, &issuer.source) {
                Ok(keys) => {
                    *issuer.keys.write().expect("not poisoned") = keys;
                    self.verified.clear();
                    tracing::info!(issuer = %issuer.config.issuer, source = %issuer.source, "token keys changed");
                }
                Err(e) => {
                    tracing::error!(issuer = %issuer.config.issuer, error = %e, "keeping the previous token keys")
                }
            }
        }
    }

    /// The principal a bearer token stands for, or why it is refused.
    pub fn verify_token(&self, token: &str) -> Result<Principal, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Some(principal) = self.verified.get(token, now) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("bearer token is not a JWT: {e}"))?;
        let kid = header.kid.unwrap_or_default();
        let mut last = String::new();
        for issuer in &self.issuers {
            let keys = issuer.keys.read().expect("not poisoned");
            let Some((key, algorithm)) = keys.by_kid.get(&kid) else {
                continue;
            };
            let mut validation = Validation::new(*algorithm);
            validation.set_issuer(&[&issuer.config.issuer]);
            validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            if issuer.config.audiences.is_empty() {
                validation.validate_aud = false;
            } else {
                validation.set_audience(&issuer.config.audiences);
            }
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    let groups = data
                        .claims
                        .rest
                        .get(&issuer.config.groups_claim)
                        .and_then(|g| g.as_array())
                        .map(|g| {
                            g.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    let principal = Principal {
                        name: data.claims.sub,
                        issuer: issuer.config.issuer.clone(),
                        groups,
                        proof: Proof::Token,
                    };
                    if let Some(exp) = data.claims.rest.get("exp").and_then(|e| e.as_i64()) {
                        self.verified.insert(token, &principal, exp);
                    }
                    return Ok(principal);
                }
                Err(e) => last = format!("bearer token refused: {e}"),
            }
        }
        if last.is_empty() {
            // Perhaps a rotation: URL sources are fetched early.
            self.unknown_key.notify_one();
            last = format!("bearer token: no configured issuer has key {kid:?}");
        }
        Err(last)
    }

    /// The caller of `request`: `Ok(None)` when it gives no credentials.
    pub fn identify<B>(&self, request: &http::Request<B>) -> Result<Option<Principal>, String> {
        if let Some(value) = request.headers().get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or("authorization: expected `Bearer <token>`")?;
            return self.verify_token(token.trim()).map(Some);
        }
        let certs = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs());
        Ok(certs
            .and_then(|certs| {
                certs
                    .first()
                    .and_then(|leaf| self.certificates.get_or_parse(leaf, certificate_name))
            })
            .map(|name| Principal {
                name,
                issuer: String::new(),
                groups: Vec::new(),
                proof: Proof::Certificate,
            }))
    }
}

/// A certificate's subject common name, or its first DNS name.
fn certificate_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    if let Some(cn) = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        return Some(cn.to_string());
    }
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|name| match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                _ => None,
            })
        })
}

/// Paths answered without identity: probes and tools.
pub(crate) fn open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// Refreshes the keys while `auth` is in use: every `every` (files, and
/// URLs older than [`URL_REFRESH`]) and when a token names an unknown key
/// (URLs older than [`URL_MIN_GAP`]).
pub fn spawn_refresh(auth: &Arc<Authenticator>, every: Duration) {
    if auth.issuers.is_empty() {
        return;
    }
    let weak = Arc::downgrade(auth);
    let unknown_key = auth.unknown_key.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            let min_age = tokio::select! {
                _ = tick.tick() => URL_REFRESH,
                () = unknown_key.notified() => URL_MIN_GAP,
            };
            match weak.upgrade() {
                Some(auth) => auth.refresh(min_age).await,
                None => break,
            }
        }
    });
}

/// The gate that identifies every request (see the module docs).
impl Gate for Arc<Authenticator> {
    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<(), tonic::Status> {
        match self.identify(request) {
            Ok(Some(principal)) => {
                request.extensions_mut().insert(principal);
                Ok(())
            }
            Ok(None) if self.required && !open_path(request.uri().path()) => {
                Err(tonic::Status::unauthenticated(
                    "no identity: send `authorization: Bearer <token>` or a client certificate",
                ))
            }
            Ok(None) => Ok(()),
            Err(reason) => Err(tonic::Status::unauthenticated(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-32-bytes-or-so!";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// An issuer with one HMAC key `k1`, its JWKS in `dir`.
    async fn authenticator(dir: &std::path::Path, audiences: &[&str]) -> Authenticator {
        let file = dir.join("jwks.json");
        // base64url of SECRET, written out by hand to keep the test plain.
        let k = "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE";
        std::fs::write(
            &file,
            format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{k}"}}]}}"#),
        )
        .unwrap();
        Authenticator::load(&AuthConfig {
            required: true,
            issuers: vec![IssuerConfig {
                issuer: "https://issuer.test".into(),
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
                jwks_file: Some(file),
                ..IssuerConfig::default()
            }],
        })
        .await
        .unwrap()
    }

    fn token(kid: &str, claims: serde_json::Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_secret(secret).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[tokio::test]
    async fn a_valid_token_names_its_subject_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &["featurestore"]).await;
        let claims = serde_json::json!({
            "iss": "https://issuer.test", "sub": "system:serviceaccount:ml:trainer",
            "aud": "featurestore", "exp": now() + 600, "groups": ["data-science"],
        });
        let principal = auth.verify_token(&token("k1", claims, SECRET)).unwrap();
        assert_eq!(principal.name, "system:serviceaccount:ml:trainer");
        assert_eq!(principal.groups, vec!["data-science".to_string()]);
        assert_eq!(principal.proof, Proof::Token);
    }

    #[tokio::test]
    async fn expired_foreign_misaddressed_and_forged_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &["featurestore"]).await;
        let claims = |iss: &str, aud: &str, exp: i64| serde_json::json!({"iss": iss, "sub": "someone", "aud": aud, "exp": exp});
        let good = claims("https://issuer.test", "featurestore", now() + 600);
        for (what, t, reason) in [
            (
                "expired",
                token(
                    "k1",
                    claims("https://issuer.test", "featurestore", now() - 3600),
                    SECRET,
                ),
                "Expired",
            ),
            (
                "another issuer",
                token(
                    "k1",
                    claims("https://evil.test", "featurestore", now() + 600),
                    SECRET,
                ),
                "Issuer",
            ),
            (
                "another audience",
                token(
                    "k1",
                    claims("https://issuer.test", "billing", now() + 600),
                    SECRET,
                ),
                "Audience",
            ),
            (
                "another key",
                token("k1", good.clone(), b"another-secret-of-32-bytes-long!"),
                "Signature",
            ),
            (
                "an unknown key id",
                token("k9", good.clone(), SECRET),
                "no configured issuer",
            ),
            ("not a JWT", "abc.def".to_string(), "not a JWT"),
        ] {
            let err = auth.verify_token(&t).unwrap_err();
            assert!(err.contains(reason), "{what}: {err}");
        }
    }

    #[tokio::test]
    async fn requests_are_identified_by_header() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &[]).await;
        let claims =
            serde_json::json!({"iss": "https://issuer.test", "sub": "ana", "exp": now() + 60});
        let request = |value: Option<String>| {
            let mut r =
                http::Request::builder().uri("/featurestore.v1.RegistryService/ListProjects");
            if let Some(v) = value {
                r = r.header("authorization", v);
            }
            r.body(()).unwrap()
        };
        let bearer = format!("Bearer {}", token("k1", claims, SECRET));
        assert_eq!(
            auth.identify(&request(Some(bearer))).unwrap().unwrap().name,
            "ana"
        );
        assert_eq!(auth.identify(&request(None)).unwrap(), None);
        assert!(auth.identify(&request(Some("Basic abc".into()))).is_err());
        assert!(open_path("/grpc.health.v1.Health/Check"));
        assert!(!open_path("/featurestore.v1.RegistryService/ListProjects"));
    }

    /// Serves `document` at `http://127.0.0.1:<port>/jwks`, one connection
    /// at a time; returns the URL and the requests received.
    async fn serve_jwks(document: Arc<Mutex<String>>) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&request).into_owned());
                let body = document.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
            }
        });
        (url, requests)
    }

    fn jwks_with(kid: &str, k: &str) -> String {
        format!(r#"{{"keys":[{{"kty":"oct","kid":"{kid}","alg":"HS256","k":"{k}"}}]}}"#)
    }

    #[tokio::test]
    async fn keys_at_a_url_are_fetched_with_the_token_and_follow_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "sa-token\n").unwrap();
        let document = Arc::new(Mutex::new(jwks_with(
            "k1",
            "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE",
        )));
        let (url, requests) = serve_jwks(document.clone()).await;
        let auth = Authenticator::load(&AuthConfig {
            required: true,
            issuers: vec![IssuerConfig {
                issuer: "https://issuer.test".into(),
                jwks_url: Some(url),
                jwks_token_file: Some(token_file),
                ..IssuerConfig::default()
            }],
        })
        .await
        .unwrap();
        let claims =
            serde_json::json!({"iss": "https://issuer.test", "sub": "ana", "exp": now() + 60});
        let k1_token = token("k1", claims.clone(), SECRET);
        assert_eq!(auth.verify_token(&k1_token).unwrap().name, "ana");
        assert_eq!(
            auth.verify_token(&k1_token).unwrap().name,
            "ana",
            "again, verified once"
        );
        let first = requests.lock().unwrap()[0].to_ascii_lowercase();
        assert!(
            first.contains("authorization: bearer sa-token\r\n"),
            "{first}"
        );

        // The issuer rotates to k2: a token signed with it is refused until
        // the keys are fetched again, which the unknown key asks for.
        let other = b"another-secret-of-32-bytes-long!";
        *document.lock().unwrap() = jwks_with("k2", "YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE");
        let rotated = token("k2", claims, other);
        let err = auth.verify_token(&rotated).unwrap_err();
        assert!(err.contains("no configured issuer has key"), "{err}");
        tokio::time::timeout(Duration::from_secs(1), auth.unknown_key.notified())
            .await
            .expect("an unknown key asks for a refresh");
        auth.refresh(URL_MIN_GAP).await;
        assert_eq!(requests.lock().unwrap().len(), 1, "fetched again too soon");
        auth.refresh(Duration::ZERO).await;
        assert_eq!(requests.lock().unwrap().len(), 2);
        assert_eq!(auth.verify_token(&rotated).unwrap().name, "ana");
        // The retired key's token, verified before, is refused now.
        let err = auth.verify_token(&k1_token).unwrap_err();
        assert!(err.contains("no configured issuer has key \"k1\""), "{err}");

        // A document that stops parsing keeps the keys in use.
        *document.lock().unwrap() = "not json".into();
        auth.refresh(Duration::ZERO).await;
        assert_eq!(auth.verify_token(&rotated).unwrap().name, "ana");
    }

    #[tokio::test]
    async fn jwks_sources_are_checked_and_name_the_field() {
        let issuer = |f: fn(&mut IssuerConfig)| {
            let mut c = IssuerConfig {
                issuer: "https://issuer.test".into(),
                ..IssuerConfig::default()
            };
            f(&mut c);
            AuthConfig {
                required: true,
                issuers: vec![c],
            }
        };
        for (config, expected) in [
            (
                issuer(|_| {}),
                "server.auth.issuers[0]: jwks_file or jwks_url is required",
            ),
            (
                issuer(|c| {
                    c.jwks_file = Some("/k.json".into());
                    c.jwks_url = Some("https://idp.test/jwks".into());
                }),
                "not both",
            ),
            (
                issuer(|c| c.jwks_url = Some("http://idp.example.com/jwks".into())),
                "use https",
            ),
            (
                issuer(|c| c.jwks_url = Some("ftp://idp.example.com/jwks".into())),
                "unsupported scheme",
            ),
            (
                issuer(|c| c.jwks_url = Some("not a url".into())),
                "jwks_url \"not a url\" is not a URL",
            ),
            (
                issuer(|c| {
                    c.jwks_file = Some("/k.json".into());
                    c.jwks_token_file = Some("/token".into());
                }),
                "go with jwks_url",
            ),
        ] {
            let err = config.validate().unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        // Files are read at start, not by validation (a config is checked
        // where its mounts may not exist).
        let ca = issuer(|c| {
            c.jwks_url = Some("https://idp.test/jwks".into());
            c.jwks_ca_file = Some("/no/such/ca.pem".into());
        });
        ca.validate().unwrap();
        let err = Authenticator::load(&ca).await.unwrap_err();
        assert!(err.contains("jwks_ca_file /no/such/ca.pem"), "{err}");
        // Loopback may be plain http; a server that is not there stops the
        // start with the reason.
        let err = Authenticator::load(&issuer(|c| {
            c.jwks_url = Some("http://127.0.0.1:1/jwks".into())
        }))
        .await
        .unwrap_err();
        assert!(err.contains("http://127.0.0.1:1/jwks"), "{err}");
    }
}
