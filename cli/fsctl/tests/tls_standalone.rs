//! `fsctl` over mutual TLS against standalone mode: with the CA and a
//! client certificate it works; without the certificate, over plain text,
//! or without the CA it is refused.

mod common;

use featurestore_integration_tests::certs::Ca;
use featurestore_runtime::TlsConfig;
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
