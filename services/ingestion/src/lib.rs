//! The ingestion service: validates rows against the watched catalog and
//! appends them to their feature group's Kafka topic (one topic per group
//! version, partitioned by entity-key hash), answering only once Kafka has
//! acknowledged every row. It also reconciles topics from the catalog.

mod arrow;
pub mod config;
pub mod error;
mod grpc;
pub mod ingest;
pub mod validate;

use std::{sync::Arc, time::Duration};

use featurestore_catalog::{CatalogCache, Keyspace};
use featurestore_eventlog::{EventLog, KafkaLog};
use featurestore_metastore::{EtcdStore, MetadataStore};
use featurestore_proto::v1::ingestion_service_server::IngestionServiceServer;
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::IngestionConfig;
pub use grpc::IngestionGrpc;
pub use ingest::Ingestor;

/// Builds the ingestor over etcd and Kafka as configured.
pub async fn connect(config: &IngestionConfig) -> anyhow::Result<Arc<Ingestor>> {
    let store: Arc<dyn MetadataStore> =
        Arc::new(EtcdStore::connect(&config.etcd.client_config()).await?);
    let catalog = Arc::new(CatalogCache::spawn(
        store.clone(),
        Keyspace::new(&config.etcd.root),
    ));
    let log: Arc<dyn EventLog> = Arc::new(KafkaLog::new(config.kafka.client_config())?);
    Ok(Arc::new(Ingestor::new(
        catalog,
        store,
        log,
        config.limits.clone(),
    )))
}

/// Keeps every catalog group's topic in place: on each catalog change, and
/// again every 30 s after failures.
pub async fn reconcile_topics(ingestor: Arc<Ingestor>, shutdown: Shutdown) {
    let mut changes = ingestor.catalog().subscribe();
    loop {
        match ingestor.reconcile_topics().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(topics = n, "ensured feature group topics"),
            Err(e) => tracing::warn!(error = %e, "topic reconciliation failed; will retry"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Serves ingestion on `listener` until `shutdown`.
pub async fn serve(
    config: &IngestionConfig,
    ingestor: Arc<Ingestor>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tokio::spawn(reconcile_topics(ingestor.clone(), shutdown.clone()));
    let mut server = GrpcServer::new(config.server.clone());
    let max = config.server.max_message_bytes;
    server.add_service(
        IngestionServiceServer::new(IngestionGrpc::new(ingestor))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server
        .health()
        .set_serving::<IngestionServiceServer<IngestionGrpc>>()
        .await;
    server.serve(listener, shutdown).await?;
    Ok(())
}
