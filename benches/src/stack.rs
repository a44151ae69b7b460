//! The services a benchmark drives: the distributed release binaries
//! (`ingestion`, `materialization`, `online-serving`, `offline-query`) over
//! the test etcd, Kafka and Cassandra, or one `standalone` process.

use featurestore_integration_tests::{
    etcd_endpoint, ingestion::kafka_bootstrap, materialization::cassandra_node,
    registry::RegistrySandbox,
};
use featurestore_proto::v1::registry_service_client::RegistryServiceClient;
use tonic::transport::Channel;

use crate::{Killed, channel, free_port, sibling_binary, spawn_service, spawn_standalone};

pub struct Stack {
    pub ingestion: Channel,
    pub serving: Channel,
    pub offline: Channel,
    pub materialization: Channel,
    registry: Channel,
    pub project: String,
    /// Where the Delta tables are.
    pub offline_root: std::path::PathBuf,
    /// The process serving runs in, and the materializer's (distributed).
    pub serving_pid: u32,
    pub materialization_pid: Option<u32>,
    _processes: Vec<Killed>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl Stack {
    /// The distributed services over `registry`'s etcd root, logging to
    /// `dir`; `serving_env` adds `FS_SERVING_*` settings. The binaries are
    /// built by `make_target`.
    pub async fn distributed(
        dir: &std::path::Path,
        registry: RegistrySandbox,
        project: String,
        make_target: &str,
        serving_env: &[(&str, &str)],
    ) -> Self {
        let common = |port: u16| -> Vec<(String, String)> {
            vec![
                ("SERVER__LISTEN_ADDR".into(), format!("127.0.0.1:{port}")),
                (
                    "ETCD__ENDPOINTS".into(),
                    format!("[\"{}\"]", etcd_endpoint()),
                ),
                ("ETCD__ROOT".into(), registry.root().to_string()),
                ("KAFKA__BOOTSTRAP_SERVERS".into(), kafka_bootstrap()),
                ("TELEMETRY__LOG_LEVEL".into(), "warn".into()),
            ]
        };
        let cassandra = [
            (
                "CASSANDRA__NODES".to_string(),
                format!("[\"{}\"]", cassandra_node()),
            ),
            ("CASSANDRA__KEYSPACE".to_string(), "fs_bench".to_string()),
        ];
        let offline_root = (
            "OFFLINE__ROOT".to_string(),
            dir.join("offline").display().to_string(),
        );
        let (ingest_port, serve_port, offline_port) = (free_port(), free_port(), free_port());
        let ingestion = spawn_service(
            &sibling_binary("ingestion", make_target),
            "FS_INGESTION_",
            &common(ingest_port),
            &dir.join("ingestion.log"),
        );
        let mat_port = free_port();
        let mut mat_env = common(mat_port);
        mat_env.extend(cassandra.clone());
        mat_env.extend([
            ("KAFKA__GROUP_ID".to_string(), format!("mat_{project}")),
            ("KAFKA__TOPIC_PREFIX".to_string(), format!("fs.{project}.")),
            offline_root.clone(),
        ]);
        let materialization = spawn_service(
            &sibling_binary("materialization", make_target),
            "FS_MATERIALIZATION_",
            &mat_env,
            &dir.join("materialization.log"),
        );
        let mut serve_env = common(serve_port);
        serve_env.extend(cassandra);
        serve_env.extend(
            serving_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let serving = spawn_service(
            &sibling_binary("online-serving", make_target),
            "FS_SERVING_",
            &serve_env,
            &dir.join("online-serving.log"),
        );
        let mut offline_env = common(offline_port);
        offline_env.push(offline_root);
        let offline = spawn_service(
            &sibling_binary("offline-query", make_target),
            "FS_OFFLINE_",
            &offline_env,
            &dir.join("offline-query.log"),
        );
        Self {
            ingestion: channel(ingest_port).await,
            serving: channel(serve_port).await,
            offline: channel(offline_port).await,
            materialization: channel(mat_port).await,
            registry: registry.channel().await,
            project,
            offline_root: dir.join("offline"),
            serving_pid: serving.0.id(),
            materialization_pid: Some(materialization.0.id()),
            _processes: vec![ingestion, materialization, serving, offline],
            _keep: Box::new(registry),
        }
    }

    /// One `standalone` process on `dir/data` (built by `make_target`).
    pub async fn standalone(dir: &std::path::Path, project: &str, make_target: &str) -> Self {
        let (process, ports) = spawn_standalone(&dir.join("data"), make_target);
        Self {
            registry: channel(ports[0]).await,
            ingestion: channel(ports[1]).await,
            serving: channel(ports[2]).await,
            offline: channel(ports[3]).await,
            materialization: channel(ports[4]).await,
            project: project.to_string(),
            offline_root: dir.join("data").join("offline"),
            serving_pid: process.0.id(),
            materialization_pid: None,
            _processes: vec![process],
            _keep: Box::new(()),
        }
    }

    pub async fn registry(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.registry.clone())
    }
}
