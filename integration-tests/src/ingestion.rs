//! An ingestion service started in-process against the test etcd and Kafka.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use featurestore_catalog::EtcdSettings;
use featurestore_ingestion::{IngestionConfig, Ingestor, config::KafkaSettings};
use featurestore_proto::v1::ingestion_service_client::IngestionServiceClient;
use featurestore_runtime::Shutdown;
use tonic::transport::Channel;

pub use featurestore_test_servers::kafka_bootstrap;

pub struct IngestionSandbox {
    pub addr: SocketAddr,
    pub config: IngestionConfig,
    pub ingestor: Arc<Ingestor>,
    shutdown: Shutdown,
}

impl Drop for IngestionSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl IngestionSandbox {
    /// Starts ingestion over the catalog under `root`, with `configure`
    /// applied to the defaults.
    pub async fn start(root: &str, configure: impl FnOnce(&mut IngestionConfig)) -> Self {
        let mut config = IngestionConfig {
            etcd: EtcdSettings {
                endpoints: vec![crate::etcd_endpoint()],
                root: root.into(),
                request_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
            },
            kafka: KafkaSettings {
                bootstrap_servers: kafka_bootstrap(),
                append_timeout: Duration::from_secs(4),
                ..KafkaSettings::default()
            },
            ..IngestionConfig::default()
        };
        config.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.request_timeout = Duration::from_secs(8);
        config.server.shutdown_grace = Duration::from_secs(2);
        configure(&mut config);
        let ingestor = featurestore_ingestion::connect(&config)
            .await
            .expect("ingestion");
        ingestor
            .catalog()
            .wait_synced(Duration::from_secs(10))
            .await
            .expect("catalog synced");
        let listener = featurestore_runtime::server::bind(config.server.listen_addr)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        tokio::spawn({
            let config = config.clone();
            let ingestor = ingestor.clone();
            let shutdown = shutdown.clone();
            async move { featurestore_ingestion::serve(&config, ingestor, listener, shutdown).await }
        });
        Self {
            addr,
            config,
            ingestor,
            shutdown,
        }
    }

    pub async fn client(&self) -> IngestionServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect to ingestion");
        IngestionServiceClient::new(channel)
    }
}
