//! The online serving service: `GetFeatureVector(s)` for inference, read
//! from the online store with one concurrent read per feature group,
//! planned once per feature selection (plans outlive catalog changes to
//! groups they do not read).

pub mod aggregates;
pub mod config;
pub mod error;
mod grpc;
pub mod metrics;
pub mod plan;
pub mod plans;
pub mod serve;

use std::sync::Arc;

use featurestore_proto::v1::online_serving_service_server::OnlineServingServiceServer;
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::ServingConfig;
pub use grpc::ServingGrpc;
pub use serve::Server;

/// Connects to etcd, Cassandra and Kafka (where partitions end) as
/// configured.
#[cfg(feature = "distributed")]
pub async fn connect(config: &ServingConfig) -> anyhow::Result<Arc<Server>> {
    use featurestore_catalog::{CatalogCache, Keyspace, ProgressCache};
    use featurestore_metastore::MetadataStore;
    use featurestore_onlinestore::OnlineStore;
    let store: Arc<dyn MetadataStore> =
        Arc::new(featurestore_metastore::EtcdStore::connect(&config.etcd.client_config()).await?);
    let keys = Keyspace::new(&config.etcd.root);
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));
    let log = Arc::new(featurestore_eventlog::KafkaEnds::new(
        &config.kafka.client_config(),
    )?);
    let progress = Arc::new(ProgressCache::spawn(store, keys, log));
    let online: Arc<dyn OnlineStore> = Arc::new(
        featurestore_onlinestore::CassandraStore::connect(config.cassandra.client_config()).await?,
    );
    Ok(Arc::new(Server::new(
        catalog,
        progress,
        online,
        config.max_keys_per_request,
        config.consistency.clone(),
    )))
}

/// Serves until `shutdown`.
pub async fn serve(
    config: &ServingConfig,
    server: Arc<Server>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut grpc = GrpcServer::new(config.server.clone());
    let catalog = server.catalog().clone();
    grpc.authorize_with(Arc::new(move |name: &str| catalog.project(name)));
    let max = config.server.max_message_bytes;
    grpc.add_service(
        OnlineServingServiceServer::new(ServingGrpc::new(server))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    grpc.health()
        .set_serving::<OnlineServingServiceServer<ServingGrpc>>()
        .await;
    grpc.serve(listener, shutdown).await?;
    Ok(())
}
