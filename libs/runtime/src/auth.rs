//! Who is calling: every request of a service passes the [`Gate`] of an
//! [`Authenticator`], which
//! finds the caller's identity and puts it in the request's extensions as a
//! [`Principal`] (tonic handlers read it with `request.extensions()`).
//!
//! - A bearer token (`authorization: Bearer <JWT>`) is checked against the
//!   configured issuers (`[[server.auth.issuers]]`): signature by a key of
//!   the issuer's JWKS file (re-read when it changes), `iss`, `exp`/`nbf`
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

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    jwk::{JwkSet, KeyAlgorithm},
};
use serde::{Deserialize, Serialize};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

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
    /// Its public keys (a JWKS document), re-read when it changes.
    pub jwks_file: PathBuf,
    /// The claim listing the caller's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_groups_claim() -> String {
    "groups".into()
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, issuer) in self.issuers.iter().enumerate() {
            if issuer.issuer.is_empty() {
                return Err(format!("server.auth.issuers[{i}].issuer is required"));
            }
            if issuer.jwks_file.as_os_str().is_empty() {
                return Err(format!("server.auth.issuers[{i}].jwks_file is required"));
            }
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

/// An issuer's keys, by key id.
struct Keys {
    jwks: Vec<u8>,
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

struct Issuer {
    config: IssuerConfig,
    keys: RwLock<Keys>,
}

fn load_keys(config: &IssuerConfig) -> Result<Keys, String> {
    let file = &config.jwks_file;
    let jwks = std::fs::read(file)
        .map_err(|e| format!("server.auth: {} cannot be read: {e}", file.display()))?;
    let set: JwkSet = serde_json::from_slice(&jwks).map_err(|e| {
        format!(
            "server.auth: {} is not a JWKS document: {e}",
            file.display()
        )
    })?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| format!("server.auth: {}: key {kid:?}: {e}", file.display()))?;
        let algorithm = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::HS256) => Algorithm::HS256,
            Some(KeyAlgorithm::HS384) => Algorithm::HS384,
            Some(KeyAlgorithm::HS512) => Algorithm::HS512,
            Some(KeyAlgorithm::ES256) => Algorithm::ES256,
            Some(KeyAlgorithm::ES384) => Algorithm::ES384,
            Some(KeyAlgorithm::RS384) => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) => Algorithm::PS256,
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
            // Kubernetes publishes RS256 keys, often without `alg`.
            _ => Algorithm::RS256,
        };
        by_kid.insert(kid, (key, algorithm));
    }
    Ok(Keys { jwks, by_kid })
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
    /// Loads every issuer's keys (a key file that does not load stops the
    /// start).
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let issuers = config
            .issuers
            .iter()
            .map(|c| {
                Ok(Issuer {
                    keys: RwLock::new(load_keys(c)?),
                    config: c.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            required: config.required,
            issuers,
        })
    }

    /// Re-reads the key files that changed (a file that no longer loads
    /// keeps the previous keys).
    pub fn reload(&self) {
        for issuer in &self.issuers {
            let changed = std::fs::read(&issuer.config.jwks_file)
                .is_ok_and(|bytes| bytes != issuer.keys.read().expect("not poisoned").jwks);
            if !changed {
                continue;
            }
            match load_keys(&issuer.config) {
                Ok(keys) => {
                    *issuer.keys.write().expect("not poisoned") = keys;
                    tracing::info!(issuer = %issuer.config.issuer, "token keys changed");
                }
                Err(e) => tracing::error!(error = %e, "keeping the previous token keys"),
            }
        }
    }

    /// The principal a bearer token stands for, or why it is refused.
    pub fn verify_token(&self, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("bearer token is not a JWT: {e}"))?;
        let kid = header.kid.unwrap_or_default();
        let mut last = format!("bearer token: no configured issuer has key {kid:?}");
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
                    return Ok(Principal {
                        name: data.claims.sub,
                        issuer: issuer.config.issuer.clone(),
                        groups,
                        proof: Proof::Token,
                    });
                }
                Err(e) => last = format!("bearer token refused: {e}"),
            }
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
            .and_then(|certs| certs.first().and_then(|leaf| certificate_name(leaf)))
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

/// Re-reads the key files every `every` while `auth` is in use.
pub fn spawn_reload(auth: &Arc<Authenticator>, every: Duration) {
    if auth.issuers.is_empty() {
        return;
    }
    let weak = Arc::downgrade(auth);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(auth) => auth.reload(),
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
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-32-bytes-or-so!";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// An issuer with one HMAC key `k1`, its JWKS in `dir`.
    fn authenticator(dir: &std::path::Path, audiences: &[&str]) -> Authenticator {
        let file = dir.join("jwks.json");
        // base64url of SECRET, written out by hand to keep the test plain.
        let k = "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE";
        std::fs::write(
            &file,
            format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{k}"}}]}}"#),
        )
        .unwrap();
        Authenticator::new(&AuthConfig {
            required: true,
            issuers: vec![IssuerConfig {
                issuer: "https://issuer.test".into(),
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
                jwks_file: file,
                groups_claim: "groups".into(),
            }],
        })
        .unwrap()
    }

    fn token(kid: &str, claims: serde_json::Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_secret(secret).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn a_valid_token_names_its_subject_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &["featurestore"]);
        let claims = serde_json::json!({
            "iss": "https://issuer.test", "sub": "system:serviceaccount:ml:trainer",
            "aud": "featurestore", "exp": now() + 600, "groups": ["data-science"],
        });
        let principal = auth.verify_token(&token("k1", claims, SECRET)).unwrap();
        assert_eq!(principal.name, "system:serviceaccount:ml:trainer");
        assert_eq!(principal.groups, vec!["data-science".to_string()]);
        assert_eq!(principal.proof, Proof::Token);
    }

    #[test]
    fn expired_foreign_misaddressed_and_forged_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &["featurestore"]);
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

    #[test]
    fn requests_are_identified_by_header() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &[]);
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
}
