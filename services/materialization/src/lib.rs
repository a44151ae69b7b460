//! The materialization service: one consumer group over every feature-group
//! topic; per batch it upserts the online store (Cassandra/ScyllaDB) and
//! appends the offline store (Delta Lake), and commits Kafka offsets only
//! after both are durable. Tables follow the catalog by reconciliation.

pub mod admin;
pub mod bootstrap;
pub mod config;
pub mod correction;
pub mod drift_reports;
#[cfg(test)]
mod gated_store;
pub mod held;
pub mod history;
pub mod metrics;
pub mod parts;
pub mod pipeline;
pub mod progress;
pub mod runs;
pub mod schedule;
pub mod tiles;

use std::{sync::Arc, time::Duration};

use featurestore_eventlog::EventLog;
use featurestore_proto::v1::materialization_admin_service_server::MaterializationAdminServiceServer;
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::MaterializationConfig;
pub use pipeline::Materializer;

/// Everything the service runs on.
pub struct Parts {
    pub materializer: Arc<Materializer>,
    pub log: Arc<dyn EventLog>,
    /// No other replica consumes the same topics (standalone).
    pub alone: bool,
}

/// Connects to etcd, Kafka, Cassandra and the Delta root as configured.
#[cfg(feature = "distributed")]
pub async fn connect(config: &MaterializationConfig) -> anyhow::Result<Parts> {
    connect_with(config, |store| store).await
}

/// [`connect`], with the etcd store seen through `wrap` (tests cut the
/// materializer off from etcd this way).
#[cfg(feature = "distributed")]
pub async fn connect_with(
    config: &MaterializationConfig,
    wrap: impl FnOnce(
        Arc<dyn featurestore_metastore::MetadataStore>,
    ) -> Arc<dyn featurestore_metastore::MetadataStore>,
) -> anyhow::Result<Parts> {
    use featurestore_catalog::{CatalogCache, Keyspace};
    use featurestore_metastore::MetadataStore;
    use featurestore_offlinestore::DeltaStore;
    use featurestore_onlinestore::OnlineStore;
    let store: Arc<dyn MetadataStore> = wrap(Arc::new(
        featurestore_metastore::EtcdStore::connect(&config.etcd.client_config()).await?,
    ));
    let keys = Keyspace::new(&config.etcd.root);
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));
    let log: Arc<dyn EventLog> = Arc::new(featurestore_eventlog::KafkaLog::new(
        config.kafka.client_config(),
    )?);
    let online: Arc<dyn OnlineStore> = Arc::new(
        featurestore_onlinestore::CassandraStore::connect(config.cassandra.client_config()).await?,
    );
    let offline = Arc::new(DeltaStore::new(&config.offline.root)?);
    let materializer = Arc::new(Materializer::new(
        catalog,
        store,
        keys,
        online,
        offline,
        config.kafka.group_id.clone(),
    ));
    Ok(Parts {
        materializer,
        log,
        alone: false,
    })
}

/// Ensures tables on every catalog change (and every 30 s after failures).
pub async fn reconcile_tables(materializer: Arc<Materializer>, shutdown: Shutdown) {
    let mut changes = materializer.catalog().subscribe();
    loop {
        if let Err(e) = materializer.reconcile_tables().await {
            tracing::warn!(error = %e, "table reconciliation failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Runs the pipeline, the admin service and health until `shutdown`.
pub async fn serve(
    config: &MaterializationConfig,
    parts: Parts,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tokio::spawn(reconcile_tables(
        parts.materializer.clone(),
        shutdown.clone(),
    ));
    let mut server = GrpcServer::new(config.server.clone());
    let catalog = parts.materializer.catalog().clone();
    server.authorize_with(Arc::new(move |name: &str| catalog.project(name)));
    let admin = admin::AdminGrpc::new(parts.materializer.clone(), parts.log.clone())
        .with_memory_budget(config.corrections.max_events_in_memory)
        .alone(parts.alone);
    tokio::spawn(crate::metrics::export_lag(
        admin.clone(),
        parts.materializer.catalog().clone(),
        shutdown.clone(),
    ));
    tokio::spawn(schedule::run(
        admin.clone(),
        config.corrections.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(runs::run(admin.clone(), shutdown.clone()));
    tokio::spawn(bootstrap::run(admin.clone(), shutdown.clone()));
    server.add_service(MaterializationAdminServiceServer::new(admin));
    server
        .health()
        .set_serving::<MaterializationAdminServiceServer<admin::AdminGrpc>>()
        .await;
    let pipeline = tokio::spawn(pipeline::run(
        parts.materializer,
        parts.log,
        config.kafka.topic_prefix.clone(),
        config.batch.clone(),
        shutdown.clone(),
    ));
    server.serve(listener, shutdown).await?;
    pipeline.await??;
    Ok(())
}
