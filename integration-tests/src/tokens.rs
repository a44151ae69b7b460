//! A token issuer for tests: one HMAC key, its JWKS in a file, and bearer
//! tokens for any subject and groups.

use std::path::Path;

use featurestore_runtime::{AuthConfig, auth::IssuerConfig};

pub const ISSUER: &str = "https://issuer.test";
const SECRET: &[u8] = b"a-test-secret-of-32-bytes-or-so!";
/// [`SECRET`], base64url.
const SECRET_B64: &str = "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE";

/// The issuer's JWKS document.
pub fn jwks_document() -> String {
    format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{SECRET_B64}"}}]}}"#)
}

/// Writes the issuer's JWKS under `dir`; its tokens are accepted, and
/// calls without identity too when `required` is false.
pub fn auth_config(dir: &Path, required: bool) -> AuthConfig {
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, jwks_document()).expect("write the JWKS");
    AuthConfig {
        required,
        issuers: vec![IssuerConfig {
            issuer: ISSUER.into(),
            audiences: Vec::new(),
            jwks_file: Some(jwks),
            ..IssuerConfig::default()
        }],
    }
}

/// `Bearer <JWT>` for `sub` in `groups`, valid for ten minutes.
pub fn bearer(sub: &str, groups: &[&str]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 600;
    let claims = serde_json::json!({"iss": ISSUER, "sub": sub, "exp": exp, "groups": groups});
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET).expect("HMAC key");
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).expect("a token")
    )
}

/// The principal id of `sub`, as role bindings name it.
pub fn member(sub: &str) -> String {
    format!("{ISSUER}#{sub}")
}

/// `message` as a request carrying `sub`'s token.
pub fn as_caller<T>(sub: &str, groups: &[&str], message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        bearer(sub, groups).parse().expect("an ASCII header"),
    );
    request
}
