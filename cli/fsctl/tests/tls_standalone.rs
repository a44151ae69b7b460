//! `fsctl` against standalone mode that requires an identity: over mutual
//! TLS (the client certificate is the identity) and with bearer tokens
//! (JWTs of a configured issuer); without them, refused.

mod common;

use featurestore_integration_tests::certs::Ca;
use featurestore_runtime::{AuthConfig, RateLimitConfig, TlsConfig, auth::IssuerConfig};
use featurestore_standalone::{StandaloneConfig, config::Listen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsctl_reaches_a_mutual_tls_standalone_only_with_its_certificates() {
    let data = tempfile::tempdir().unwrap();
    let (ca, clients) = (Ca::new("service ca"), Ca::new("client ca"));
    ca.write_server_files(data.path());
    let file = |name: &str, text: &str| {
        let path = data.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let ca_file = file("ca.pem", &ca.pem);
    let (cert, key) = clients.leaf("data-scientist", false);
    let (cert_file, key_file) = (file("client.pem", &cert), file("client.key", &key));
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        tls: TlsConfig {
            cert_file: Some(data.path().join("server.pem")),
            key_file: Some(data.path().join("server.key")),
            client_ca_file: Some(file("clients.pem", &clients.pem).into()),
            ..TlsConfig::default()
        },
        auth: AuthConfig {
            required: true,
            issuers: Vec::new(),
        },
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    let port = standalone.addrs.registry.port();
    let https = format!("--registry=https://localhost:{port}");
    let spec = format!("{}/../../examples/shop.yaml", env!("CARGO_MANIFEST_DIR"));
    let run = |args: Vec<String>| common::fsctl_async(args);
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    let mutual = |args: &[&str]| {
        let mut all = s(&[
            &https,
            "--tls-ca",
            &ca_file,
            "--tls-cert",
            &cert_file,
            "--tls-key",
            &key_file,
        ]);
        all.extend(s(args));
        run(all)
    };
    let (ok, out) = mutual(&["apply", "-f", &spec]).await;
    assert!(ok, "{out}");
    assert!(out.contains("applied 6 change(s)"), "{out}");
    let (ok, out) = mutual(&["list", "projects"]).await;
    assert!(ok && out.contains("shop"), "{out}");

    // The same request without the client certificate, over plain text,
    // and to an https address without the CA: refused before any call.
    let (ok, out) = run(s(&[&https, "--tls-ca", &ca_file, "list", "projects"])).await;
    assert!(!ok, "{out}");
    let plain = format!("--registry=http://127.0.0.1:{port}");
    let (ok, out) = run(s(&[&plain, "list", "projects"])).await;
    assert!(!ok, "{out}");
    let (ok, out) = run(s(&[&https, "list", "projects"])).await;
    assert!(!ok && out.contains("--tls-ca"), "{out}");
    standalone.stop().await.unwrap();
}

const SECRET: &[u8] = b"a-test-secret-of-32-bytes-or-so!";
/// SECRET, base64url.
const SECRET_B64: &str = "YS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcy1vci1zbyE";

/// Identity required, tokens of one issuer (HMAC key `k1`, its JWKS in `dir`).
fn required_tokens(dir: &std::path::Path) -> AuthConfig {
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","alg":"HS256","k":"{SECRET_B64}"}}]}}"#),
    )
    .unwrap();
    AuthConfig {
        required: true,
        issuers: vec![IssuerConfig {
            issuer: "https://issuer.test".into(),
            audiences: vec!["featurestore".into()],
            jwks_file: Some(jwks),
            ..IssuerConfig::default()
        }],
    }
}

fn token(exp_from_now: i64, secret: &[u8]) -> String {
    token_for("ana", exp_from_now, secret)
}

fn token_for(sub: &str, exp_from_now: i64, secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "iss": "https://issuer.test", "sub": sub, "aud": "featurestore",
        "exp": now + exp_from_now,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsctl_calls_with_a_bearer_token_of_a_trusted_issuer() {
    let data = tempfile::tempdir().unwrap();
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        auth: required_tokens(data.path()),
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    let registry = format!("--registry=http://{}", standalone.addrs.registry);
    let spec = format!("{}/../../examples/shop.yaml", env!("CARGO_MANIFEST_DIR"));
    let run = |token: Option<String>, args: &[&str]| {
        let mut all = vec![registry.clone()];
        if let Some(t) = token {
            all.push(format!("--token={t}"));
        }
        all.extend(args.iter().map(|a| a.to_string()));
        common::fsctl_async(all)
    };

    let (ok, out) = run(Some(token(600, SECRET)), &["apply", "-f", &spec]).await;
    assert!(ok && out.contains("applied 6 change(s)"), "{out}");
    let (ok, out) = run(None, &["list", "projects"]).await;
    assert!(!ok && out.contains("no identity"), "{out}");
    let (ok, out) = run(Some(token(-3600, SECRET)), &["list", "projects"]).await;
    assert!(!ok && out.contains("Expired"), "{out}");
    let forged = token(600, b"another-secret-of-32-bytes-long!");
    let (ok, out) = run(Some(forged), &["list", "projects"]).await;
    assert!(!ok && out.contains("Signature"), "{out}");
    standalone.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_its_rate_is_refused_and_others_are_not() {
    let data = tempfile::tempdir().unwrap();
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        auth: required_tokens(data.path()),
        // Two calls at once, then one per 100 s: the third call within a
        // test's time is always over.
        rate_limit: RateLimitConfig {
            requests_per_second: 0.01,
            burst: 2,
        },
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    let registry = format!("--registry=http://{}", standalone.addrs.registry);
    let list = |sub: &str| {
        common::fsctl_async(vec![
            registry.clone(),
            format!("--token={}", token_for(sub, 600, SECRET)),
            "list".into(),
            "projects".into(),
        ])
    };
    for _ in 0..2 {
        let (ok, out) = list("ana").await;
        assert!(ok, "{out}");
    }
    let (ok, out) = list("ana").await;
    assert!(!ok && out.contains("rate limit"), "{out}");
    let (ok, out) = list("bob").await;
    assert!(ok, "another caller keeps its own budget: {out}");
    standalone.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_in_a_spec_are_applied_shown_and_enforced() {
    use featurestore_integration_tests::tokens::{auth_config, bearer, member};
    let data = tempfile::tempdir().unwrap();
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        auth: auth_config(data.path(), true),
        authz: featurestore_runtime::AuthzConfig {
            enabled: true,
            admins: vec!["group:platform".into()],
            audit_file: None,
        },
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    let registry = format!("--registry=http://{}", standalone.addrs.registry);
    let token = |sub: &str, groups: &[&str]| {
        format!(
            "--token={}",
            bearer(sub, groups).trim_start_matches("Bearer ")
        )
    };
    let spec = |writers: &str, entity: &str| {
        let path = data.path().join("spec.yaml");
        std::fs::write(
            &path,
            format!(
                "project: fraud\nroles:\n  reader: [\"{}\"]\n  writer: [{writers}]\n  admin: [\"{}\"]\nentities:\n  - name: {entity}\n    join_keys: [{{name: id, type: int64}}]\n",
                member("rita"),
                member("ada")
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let run = |args: Vec<String>| {
        let mut all = vec![registry.clone()];
        all.extend(args);
        common::fsctl_async(all)
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    // A configured admin creates the project with its roles.
    let olga = token("olga", &["platform"]);
    let (ok, out) =
        run([vec![olga.clone()], s(&["apply", "-f", &spec("", "card")])].concat()).await;
    assert!(ok, "{out}");
    let (ok, out) = run([
        vec![olga],
        s(&["describe", "project", "fraud", "-o", "json"]),
    ]
    .concat())
    .await;
    assert!(
        ok && out.contains(&member("rita")) && out.contains(&member("ada")),
        "{out}"
    );

    // The project's admin changes the roles by applying the spec again...
    let will = format!("\"{}\"", member("will"));
    let ada = token("ada", &[]);
    let (ok, out) = run([vec![ada], s(&["apply", "-f", &spec(&will, "card")])].concat()).await;
    let updated = out
        .lines()
        .any(|l| l.split_whitespace().eq(["update", "roles", "fraud"]));
    assert!(ok && updated, "{out}");
    // ...and its reader may not change the catalog.
    let rita = token("rita", &[]);
    let (ok, out) = run([vec![rita], s(&["apply", "-f", &spec(&will, "merchant")])].concat()).await;
    assert!(!ok && out.contains("needs role admin"), "{out}");
    standalone.stop().await.unwrap();
}
