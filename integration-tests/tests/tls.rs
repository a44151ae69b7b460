//! TLS on a service listener: who can connect (the right CA, a client
//! certificate when the listener is mutual, none expired), and a renewed
//! certificate served without a restart.

use std::{net::SocketAddr, path::Path, time::Duration};

use featurestore_integration_tests::certs::Ca;
use featurestore_runtime::{GrpcServer, ServerConfig, Shutdown, TlsConfig};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

async fn start(tls: TlsConfig) -> (SocketAddr, Shutdown) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let server = GrpcServer::new(ServerConfig {
        tls,
        ..ServerConfig::default()
    });
    let stop = shutdown.clone();
    tokio::spawn(async move { server.serve(listener, stop).await.unwrap() });
    (addr, shutdown)
}

/// Whether a health check over TLS (trusting `ca`, presenting `identity`)
/// succeeds.
async fn check(addr: SocketAddr, ca: &str, identity: Option<&(String, String)>) -> bool {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = match Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(channel) => channel,
        Err(_) => return false,
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

async fn check_plain(addr: SocketAddr) -> bool {
    let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok()
}

fn tls_config(dir: &Path, client_ca: Option<&Ca>) -> TlsConfig {
    if let Some(ca) = client_ca {
        std::fs::write(dir.join("clients.pem"), &ca.pem).unwrap();
    }
    TlsConfig {
        cert_file: Some(dir.join("server.pem")),
        key_file: Some(dir.join("server.key")),
        client_ca_file: client_ca.map(|_| dir.join("clients.pem")),
        reload_interval: Duration::from_millis(100),
    }
}

#[tokio::test]
async fn only_clients_trusting_the_servers_ca_connect() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other) = (Ca::new("service ca"), Ca::new("other ca"));
    ca.write_server_files(dir.path());
    let (addr, shutdown) = start(tls_config(dir.path(), None)).await;

    assert!(check(addr, &ca.pem, None).await, "a client trusting the CA");
    assert!(
        !check(addr, &other.pem, None).await,
        "a client trusting another CA"
    );
    assert!(!check_plain(addr).await, "a plain-text client");
    shutdown.cancel();
}

#[tokio::test]
async fn mutual_tls_admits_only_current_client_certificates_of_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, other) = (
        Ca::new("service ca"),
        Ca::new("client ca"),
        Ca::new("other"),
    );
    ca.write_server_files(dir.path());
    let (addr, shutdown) = start(tls_config(dir.path(), Some(&clients))).await;

    let good = clients.leaf("trainer", false);
    assert!(
        check(addr, &ca.pem, Some(&good)).await,
        "a client of the CA"
    );
    assert!(!check(addr, &ca.pem, None).await, "no client certificate");
    let foreign = other.leaf("trainer", false);
    assert!(
        !check(addr, &ca.pem, Some(&foreign)).await,
        "a certificate of another CA"
    );
    let expired = clients.leaf("trainer", true);
    assert!(
        !check(addr, &ca.pem, Some(&expired)).await,
        "an expired certificate"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Ca::new("old ca"), Ca::new("new ca"));
    old.write_server_files(dir.path());
    let (addr, shutdown) = start(tls_config(dir.path(), None)).await;
    assert!(check(addr, &old.pem, None).await);
    assert!(!check(addr, &new.pem, None).await);

    // A file that does not load keeps the previous certificate.
    std::fs::write(dir.path().join("server.pem"), "not a certificate").unwrap();
    // Three reload intervals: what is checked is that nothing changes, so
    // there is no state to wait for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(check(addr, &old.pem, None).await, "kept across a bad file");

    new.write_server_files(dir.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check(addr, &new.pem, None).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new certificate never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !check(addr, &old.pem, None).await,
        "the old certificate is gone"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn probes_reach_health_in_plain_text_on_their_own_port_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("service ca");
    ca.write_server_files(dir.path());
    let health_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let server = GrpcServer::new(ServerConfig {
        tls: tls_config(dir.path(), None),
        health_listen_addr: Some(health_port),
        shutdown_grace: Duration::from_secs(5),
        ..ServerConfig::default()
    });
    let stop = shutdown.clone();
    tokio::spawn(async move { server.serve(listener, stop).await.unwrap() });

    assert!(check(addr, &ca.pem, None).await, "TLS on the service port");
    assert!(
        !check_plain(addr).await,
        "no plain text on the service port"
    );
    let mut attempts = 0;
    while !check_plain(health_port).await {
        attempts += 1;
        assert!(attempts < 100, "the health port never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only health is there: no other service answers on that port.
    let channel = Channel::from_shared(format!("http://{health_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let other =
        featurestore_proto::v1::registry_service_client::RegistryServiceClient::new(channel)
            .list_projects(featurestore_proto::v1::ListProjectsRequest::default())
            .await
            .unwrap_err();
    assert_eq!(other.code(), tonic::Code::Unimplemented);
    shutdown.cancel();
}
