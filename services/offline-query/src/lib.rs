//! The offline query service: point-in-time-correct training data from the
//! Delta tables. `OfflineQueryService` plans a query (checks it, pins the
//! Delta versions it reads) and returns a ticket; Arrow Flight `DoGet` on the
//! same port streams the result, so `pyarrow.flight` clients read it
//! directly. Tickets carry the whole pinned query, signed (`tickets`): any
//! replica sharing the ticket key can serve them, and a client cannot write
//! its own. Entity rows by location are read only under configured roots
//! (`entity_roots`).
//! `TrainingDatasetService` materialises queries as named, versioned
//! datasets (Parquet or Delta) whose records live in the metadata store.

pub mod caller;
pub mod config;
pub mod datasets;
pub mod entity_roots;
pub mod error;
mod flight;
mod grpc;
pub mod metrics;
pub mod query;
pub mod tickets;

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use featurestore_catalog::{CatalogCache, Keyspace};
use featurestore_metastore::MetadataStore;
use featurestore_offlinestore::DeltaStore;
use featurestore_proto::v1::{
    offline_query_service_server::OfflineQueryServiceServer,
    training_dataset_service_server::TrainingDatasetServiceServer,
};
use featurestore_query_engine::{OfflineQuery, QueryConfig};
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::OfflineQueryConfig;
pub use datasets::Datasets;
pub use flight::OfflineFlight;
pub use grpc::OfflineGrpc;
pub use query::Server;

use crate::{entity_roots::EntityRoots, tickets::Tickets};

/// Connects to etcd and Kafka (where partitions end) and opens the offline
/// store as configured.
#[cfg(feature = "distributed")]
pub async fn connect(config: &OfflineQueryConfig) -> anyhow::Result<Arc<Server>> {
    let store: Arc<dyn MetadataStore> =
        Arc::new(featurestore_metastore::EtcdStore::connect(&config.etcd.client_config()).await?);
    let keys = Keyspace::new(&config.etcd.root);
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));
    let offline = Arc::new(DeltaStore::new(&config.offline.root)?);
    let log = Arc::new(featurestore_eventlog::KafkaEnds::new(
        &config.kafka.client_config(),
    )?);
    build(config, store, keys, catalog, offline, log)
}

/// Builds the service over given backends (standalone mode shares one
/// metadata store and catalog cache between services).
pub fn build(
    config: &OfflineQueryConfig,
    store: Arc<dyn MetadataStore>,
    keys: Keyspace,
    catalog: Arc<CatalogCache>,
    offline: Arc<DeltaStore>,
    log: Arc<dyn featurestore_eventlog::LogEnds>,
) -> anyhow::Result<Arc<Server>> {
    let progress = Arc::new(featurestore_catalog::ProgressCache::spawn(
        store.clone(),
        keys.clone(),
        log,
    ));
    let datasets = Datasets::new(store, keys, &config.datasets.root)?;
    let engine = OfflineQuery::new(
        offline,
        QueryConfig {
            memory_limit_bytes: config.query.memory_limit_mb << 20,
            spill_dir: config.query.spill_dir.clone(),
            batch_size: config.query.batch_size,
            in_memory_join: config.query.in_memory_join,
        },
    )?;
    let roots = EntityRoots::new(&config.query.entity_roots).map_err(anyhow::Error::msg)?;
    let tickets = match &config.query.ticket_key_file {
        Some(file) => {
            Tickets::from_file(file, config.query.ticket_ttl).map_err(anyhow::Error::msg)?
        }
        None => {
            tracing::warn!(
                "no query.ticket_key_file: Flight tickets are signed with a key of this process \
                 and work only on this replica until it restarts"
            );
            Tickets::random(config.query.ticket_ttl)
        }
    };
    Ok(Arc::new(Server::new(
        catalog,
        progress,
        config.consistency.clone(),
        engine,
        datasets,
        roots,
        tickets,
    )))
}

/// Serves the control API and Flight until `shutdown`.
pub async fn serve(
    config: &OfflineQueryConfig,
    server: Arc<Server>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut grpc = GrpcServer::new(config.server.clone());
    let catalog = server.catalog().clone();
    grpc.authorize_with(Arc::new(move |name: &str| catalog.project(name)));
    let max = config.server.max_message_bytes;
    grpc.add_service(
        OfflineQueryServiceServer::new(OfflineGrpc::new(server.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    grpc.add_service(
        TrainingDatasetServiceServer::new(OfflineGrpc::new(server.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    grpc.add_service(
        FlightServiceServer::new(OfflineFlight::new(server))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    grpc.health()
        .set_serving::<OfflineQueryServiceServer<OfflineGrpc>>()
        .await;
    grpc.serve(listener, shutdown).await?;
    Ok(())
}
