//! The `registry` binary against the test etcd (`make infra-up`): it starts
//! from environment configuration, reports SERVING, and on SIGTERM ends open
//! watch streams, drains and exits cleanly.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use featurestore_proto::v1::{WatchCatalogRequest, registry_service_client::RegistryServiceClient};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect(url: &str) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Channel::from_shared(url.to_string())
            .unwrap()
            .connect()
            .await
        {
            Ok(channel) => return channel,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("registry did not come up at {url}: {e}"),
        }
    }
}

#[tokio::test]
async fn drains_and_exits_on_sigterm() {
    let port = free_port();
    let etcd = featurestore_test_servers::etcd_endpoint();
    let root = format!("/fs-test/sigterm-{}", uuid::Uuid::new_v4().simple());
    let child = Command::new(env!("CARGO_BIN_EXE_registry"))
        .env(
            "FS_REGISTRY_SERVER__LISTEN_ADDR",
            format!("127.0.0.1:{port}"),
        )
        .env("FS_REGISTRY_SERVER__SHUTDOWN_GRACE", "5s")
        .env("FS_REGISTRY_ETCD__ENDPOINTS", format!("[\"{etcd}\"]"))
        .env("FS_REGISTRY_ETCD__ROOT", &root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start registry");
    let mut child = Killed(child);
    let channel = connect(&format!("http://127.0.0.1:{port}")).await;

    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut watch = RegistryServiceClient::new(channel)
        .watch_catalog(WatchCatalogRequest {
            send_initial_snapshot: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let synced = watch.message().await.unwrap().expect("synced marker");
    assert_eq!(
        synced.r#type,
        featurestore_proto::v1::catalog_event::Type::Synced as i32
    );

    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();

    // The open stream ends with UNAVAILABLE (reconnect elsewhere), not a hang.
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("watch stream ended at shutdown");
    match ended {
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        Ok(None) => {}
        Ok(Some(event)) => panic!("unexpected event after SIGTERM: {event:?}"),
    }
    let exit = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "registry still running 8s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
}
