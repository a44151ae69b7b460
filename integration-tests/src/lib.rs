//! Helpers of the end-to-end tests: where the real servers are (started by
//! `dev/*.sh`, see `make test`) and how to start the services in-process
//! against them.

pub mod certs;
pub mod gate;
pub mod ingestion;
pub mod materialization;
pub mod offline;
pub mod progress;
pub mod prometheus;
pub mod registry;
pub mod serving;
pub mod tokens;
pub mod world;

use std::{sync::Arc, time::Duration};

use featurestore_metastore::{EtcdConfig, EtcdStore, MetadataStore};

pub use featurestore_test_servers::{self as servers, etcd_endpoint};

/// A connected channel to a service listening on `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a valid address")
        .connect()
        .await
        .expect("the service listens")
}

pub fn etcd_config() -> EtcdConfig {
    EtcdConfig {
        endpoints: vec![etcd_endpoint()],
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
    }
}

/// The catalog settings of an in-process service over `root` in the test etcd.
pub fn etcd_settings(root: &str) -> featurestore_catalog::EtcdSettings {
    featurestore_catalog::EtcdSettings {
        endpoints: vec![etcd_endpoint()],
        root: root.into(),
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
    }
}

/// Where serving and the offline query ask the test Kafka where partitions
/// end.
pub fn log_settings() -> featurestore_catalog::LogSettings {
    featurestore_catalog::LogSettings {
        bootstrap_servers: crate::ingestion::kafka_bootstrap(),
        ..Default::default()
    }
}

/// Binds an ephemeral loopback port and runs `serve(listener, shutdown)` on
/// a task; returns the address and the shutdown that stops it.
pub async fn spawn_service<F, Fut>(
    serve: F,
) -> (std::net::SocketAddr, featurestore_runtime::Shutdown)
where
    F: FnOnce(tokio::net::TcpListener, featurestore_runtime::Shutdown) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener =
        featurestore_runtime::server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = featurestore_runtime::Shutdown::new();
    tokio::spawn(serve(listener, shutdown.clone()));
    (addr, shutdown)
}

/// A client of the test etcd; fails the test with a hint when etcd is down.
pub async fn etcd_store() -> Arc<EtcdStore> {
    let store = EtcdStore::connect(&etcd_config())
        .await
        .expect("etcd client");
    if let Err(e) = store.current_revision().await {
        panic!(
            "etcd is not reachable at {} ({e}): run `make infra-up` or `make test`",
            etcd_endpoint()
        );
    }
    Arc::new(store)
}

/// The same, as a trait object.
pub async fn metadata_store() -> Arc<dyn MetadataStore> {
    etcd_store().await
}

/// A unique name for per-test namespaces (projects, key prefixes).
pub fn unique_name(base: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{base}_{}", &id[..12])
}
