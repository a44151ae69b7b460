//! The ingestion service: validates rows against the watched catalog and
//! appends them to their feature group's Kafka topic (one topic per group
//! version, partitioned by entity-key hash), answering only once Kafka has
//! acknowledged every row. It also reconciles topics from the catalog.

pub mod arrow;
pub mod config;
pub mod error;
mod grpc;
pub mod idempotency;
pub mod ingest;
pub mod metrics;
pub mod validate;

use std::{sync::Arc, time::Duration};

use featurestore_proto::v1::ingestion_service_server::IngestionServiceServer;
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::IngestionConfig;
pub use grpc::IngestionGrpc;
pub use ingest::Ingestor;

/// Builds the ingestor over etcd and Kafka as configured.
#[cfg(feature = "distributed")]
pub async fn connect(config: &IngestionConfig) -> anyhow::Result<Arc<Ingestor>> {
    use crate::idempotency::Idempotency;
    use featurestore_catalog::{CatalogCache, Keyspace};
    use featurestore_eventlog::EventLog;
    use featurestore_metastore::MetadataStore;
    let store: Arc<dyn MetadataStore> =
        Arc::new(featurestore_metastore::EtcdStore::connect(&config.etcd.client_config()).await?);
    let keys = Keyspace::new(&config.etcd.root);
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));
    let log: Arc<dyn EventLog> = Arc::new(featurestore_eventlog::KafkaLog::new(
        config.kafka.client_config(),
    )?);
    let idempotency = Idempotency::new(
        store.clone(),
        &keys,
        &config.idempotency,
        config.kafka.append_timeout,
    );
    Ok(Arc::new(Ingestor::new(
        catalog,
        store,
        log,
        config.limits.clone(),
        idempotency,
    )))
}

/// Deletes expired idempotency records every `window / 10` (at least once a
/// minute).
pub async fn sweep_idempotency(ingestor: Arc<Ingestor>, every: Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match ingestor.idempotency().sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(records = n, "expired idempotency records deleted"),
            Err(e) => tracing::warn!(error = %e, "idempotency sweep failed; will retry"),
        }
    }
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
    let every = (config.idempotency.window / 10).min(Duration::from_secs(60));
    tokio::spawn(sweep_idempotency(
        ingestor.clone(),
        every.max(Duration::from_secs(1)),
        shutdown.clone(),
    ));
    let mut server = GrpcServer::new(config.server.clone());
    let catalog = ingestor.catalog().clone();
    server.authorize_with(Arc::new(move |name: &str| catalog.project(name)));
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
