//! An issuer's public keys: a JWKS document read from a file or fetched
//! from a URL, parsed into decoding keys by key id, and refreshed.
//!
//! - A file is re-read on every refresh tick and swapped in when its bytes
//!   change (a Secret or ConfigMap update).
//! - A URL (`https://`, or `http://` to a loopback address only: keys
//!   fetched in plain text could be replaced on the way) is fetched at
//!   start, again every [`URL_REFRESH`], and early — at most once per
//!   [`URL_MIN_GAP`] — when a token names a key id no issuer has (a key
//!   rotation). `jwks_ca_file` pins the server's CA (the cluster CA for the
//!   Kubernetes API server); `jwks_token_file` sends a bearer token read
//!   afresh on each fetch (a pod's own service-account token, which the API
//!   server's `/openid/v1/jwks` asks for).
//!
//! A refresh that fails keeps the previous keys; a source that does not
//! load at start stops the start.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{JwkSet, KeyAlgorithm},
};

use super::IssuerConfig;

/// How often a URL's keys are fetched again.
pub const URL_REFRESH: Duration = Duration::from_secs(300);
/// The shortest time between two fetches of a URL (an unknown key id
/// asks for one early).
pub const URL_MIN_GAP: Duration = Duration::from_secs(30);
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an issuer's JWKS document comes from.
pub(super) enum Source {
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
        token_file: Option<PathBuf>,
    },
}

impl Source {
    /// Checks what `config` says of its keys without reading anything
    /// (`server.auth.issuers[i]` is `field` in messages): the URL, if the
    /// keys are at one.
    pub(super) fn check(
        config: &IssuerConfig,
        field: &str,
    ) -> Result<Option<reqwest::Url>, String> {
        match (&config.jwks_file, &config.jwks_url) {
            (Some(_), None) => {
                if config.jwks_ca_file.is_some() || config.jwks_token_file.is_some() {
                    return Err(format!(
                        "{field}: jwks_ca_file and jwks_token_file go with jwks_url, not jwks_file"
                    ));
                }
                Ok(None)
            }
            (None, Some(url)) => check_url(url, field).map(Some),
            (Some(_), Some(_)) => Err(format!("{field}: give jwks_file or jwks_url, not both")),
            (None, None) => Err(format!("{field}: jwks_file or jwks_url is required")),
        }
    }

    /// The source `config` names, ready to read.
    pub(super) fn new(config: &IssuerConfig, field: &str) -> Result<Self, String> {
        match (Self::check(config, field)?, &config.jwks_file) {
            (Some(url), _) => Self::url(config, url, field),
            (None, Some(file)) => Ok(Self::File(file.clone())),
            (None, None) => unreachable!("check requires a file or a URL"),
        }
    }

    fn url(config: &IssuerConfig, url: reqwest::Url, field: &str) -> Result<Self, String> {
        let mut client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &config.jwks_ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("{field}.jwks_ca_file {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{field}.jwks_ca_file {}: {e}", ca.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "{field}.jwks_ca_file {}: no PEM certificate in it",
                    ca.display()
                ));
            }
            // Only this CA: the keys decide who may call, so no other
            // authority may vouch for their server.
            client = certs
                .into_iter()
                .fold(client.tls_built_in_root_certs(false), |c, cert| {
                    c.add_root_certificate(cert)
                });
        }
        let client = client
            .build()
            .map_err(|e| format!("{field}.jwks_url: HTTP client: {e}"))?;
        Ok(Self::Url {
            url,
            client,
            token_file: config.jwks_token_file.clone(),
        })
    }

    /// Whether a refresh should read it again, `last` being the time of
    /// the previous read. Files are cheap and always read; a URL waits for
    /// `min_age`.
    pub(super) fn due(&self, last: Instant, min_age: Duration) -> bool {
        match self {
            Self::File(_) => true,
            Self::Url { .. } => last.elapsed() >= min_age,
        }
    }

    /// The document's bytes.
    pub(super) async fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::File(file) => tokio::fs::read(file)
                .await
                .map_err(|e| format!("{} cannot be read: {e}", file.display())),
            Self::Url {
                url,
                client,
                token_file,
            } => {
                let mut request = client.get(url.clone());
                if let Some(file) = token_file {
                    let token = tokio::fs::read_to_string(file)
                        .await
                        .map_err(|e| format!("{}: {e}", file.display()))?;
                    request = request.bearer_auth(token.trim());
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(format!("{url}: HTTP {status}"));
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
                Ok(body.to_vec())
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(file) => write!(f, "{}", file.display()),
            Self::Url { url, .. } => write!(f, "{url}"),
        }
    }
}

/// `url`, if it is one keys may be fetched from.
fn check_url(url: &str, field: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(url)
        .map_err(|e| format!("{field}.jwks_url {url:?} is not a URL: {e}"))?;
    let loopback = url.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{field}.jwks_url {url}: keys fetched over plain http could be replaced on the way; use https (http only to a loopback address)"
            ));
        }
        other => {
            return Err(format!(
                "{field}.jwks_url {url}: unsupported scheme {other:?}"
            ));
        }
    }
    Ok(url)
}

/// An error with its causes (reqwest's own message stops at "error
/// sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// An issuer's keys, by key id.
pub(super) struct Keys {
    /// The document they came from (a refresh compares it).
    pub(super) document: Vec<u8>,
    pub(super) by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

impl Keys {
    /// Parses a JWKS document read from `source`.
    pub(super) fn parse(document: Vec<u8>, source: &Source) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(&document)
            .map_err(|e| format!("{source} is not a JWKS document: {e}"))?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let key =
                DecodingKey::from_jwk(jwk).map_err(|e| format!("{source}: key {kid:?}: {e}"))?;
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
        Ok(Self { document, by_kid })
    }
}
