//! A materialization service started in-process against the test etcd,
//! Kafka and Cassandra, writing Delta tables under a temporary directory.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use featurestore_catalog::EtcdSettings;
use featurestore_materialization::{
    MaterializationConfig, Materializer,
    config::{CassandraSettings, KafkaSettings, OfflineSettings},
};
use featurestore_metastore::MetadataStore;
use featurestore_runtime::Shutdown;

pub use featurestore_test_servers::cassandra_node;

pub struct MaterializationSandbox {
    pub addr: SocketAddr,
    pub config: MaterializationConfig,
    pub materializer: Arc<Materializer>,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for MaterializationSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MaterializationSandbox {
    /// Materializes the topics of `project` (catalog under `root`) into
    /// Cassandra keyspace `fs_e2e` and Delta tables under `offline_root`.
    pub async fn start(root: &str, project: &str, offline_root: &str) -> Self {
        Self::start_with(root, project, offline_root, |store| store).await
    }

    /// The same, with the materializer's metadata store (its catalog cache
    /// and its own look-ups) seen through `wrap` (a [`crate::gate::Gate`]).
    pub async fn start_with(
        root: &str,
        project: &str,
        offline_root: &str,
        wrap: impl FnOnce(Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore>,
    ) -> Self {
        let mut config = MaterializationConfig {
            etcd: EtcdSettings {
                endpoints: vec![crate::etcd_endpoint()],
                root: root.into(),
                request_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
            },
            kafka: KafkaSettings {
                bootstrap_servers: crate::ingestion::kafka_bootstrap(),
                group_id: format!("mat_{project}"),
                topic_prefix: format!("fs.{project}."),
                session_timeout: Duration::from_secs(6),
            },
            cassandra: CassandraSettings {
                nodes: vec![cassandra_node()],
                keyspace: "fs_e2e".into(),
                request_timeout: Duration::from_secs(2),
                ..CassandraSettings::default()
            },
            offline: OfflineSettings {
                root: offline_root.into(),
            },
            ..MaterializationConfig::default()
        };
        config.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.batch.max_retry_delay = Duration::from_secs(1);
        let parts = featurestore_materialization::connect_with(&config, wrap)
            .await
            .expect("materialization");
        let materializer = parts.materializer.clone();
        materializer
            .catalog()
            .wait_synced(Duration::from_secs(10))
            .await
            .expect("catalog synced");
        let listener = featurestore_runtime::server::bind(config.server.listen_addr)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        let task = tokio::spawn({
            let config = config.clone();
            let shutdown = shutdown.clone();
            async move { featurestore_materialization::serve(&config, parts, listener, shutdown).await }
        });
        Self {
            addr,
            config,
            materializer,
            shutdown,
            task,
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        task.await?
    }
}

/// Polls `GetPipelineStatus` of the materialization at `addr` until `done`
/// holds (fails the test after 60 s, naming `what`); returns that status.
pub async fn pipeline_status_until(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&featurestore_proto::v1::PipelineStatus) -> bool,
) -> featurestore_proto::v1::PipelineStatus {
    use featurestore_proto::v1::{
        GetPipelineStatusRequest,
        materialization_admin_service_client::MaterializationAdminServiceClient,
    };
    let mut admin = MaterializationAdminServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("materialization admin");
    let started = std::time::Instant::now();
    loop {
        let status = admin
            .get_pipeline_status(GetPipelineStatusRequest {})
            .await
            .expect("pipeline status")
            .into_inner();
        if done(&status) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pipeline status never showed {what}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
