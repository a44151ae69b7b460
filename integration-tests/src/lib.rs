//! Helpers of the end-to-end tests: where the real servers are (started by
//! `dev/*.sh`, see `make test`) and how to start the services in-process
//! against them.

pub mod gate;
pub mod ingestion;
pub mod materialization;
pub mod offline;
pub mod registry;
pub mod serving;
pub mod world;

use std::{path::PathBuf, sync::Arc, time::Duration};

use featurestore_metastore::{EtcdConfig, EtcdStore, MetadataStore};

/// The etcd the tests use: `FS_ETCD_ENDPOINT` or the scripts' default.
pub fn etcd_endpoint() -> String {
    std::env::var("FS_ETCD_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:2379".into())
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

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dev")
        .join(name)
}

/// Runs `dev/<server>.sh <action>` (stop, start, restart), for fault
/// tests; `server` is etcd, kafka or cassandra.
pub fn server_ctl(server: &str, action: &str) {
    let status = std::process::Command::new("bash")
        .arg(script(&format!("{server}.sh")))
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("run {server}.sh: {e}"));
    assert!(status.success(), "{server}.sh {action} failed");
}

/// Starts the server again when dropped, so a fault test that fails half-way
/// still leaves the servers running for the tests after it.
pub struct StartOnDrop(pub &'static str);

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        server_ctl(self.0, "start");
    }
}

/// A unique name for per-test namespaces (projects, key prefixes).
pub fn unique_name(base: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{base}_{}", &id[..12])
}
