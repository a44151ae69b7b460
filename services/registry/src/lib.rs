//! The registry service: the only writer of the catalog (projects,
//! entities, feature groups, feature views) in the metadata store (etcd).
//! Other services read the catalog through their own watched cache.

pub mod config;
pub mod error;
mod grpc;
pub mod metrics;
mod registry;
mod store;
mod watch;

use std::sync::Arc;

use featurestore_proto::v1::registry_service_server::RegistryServiceServer;
use featurestore_runtime::{GrpcServer, Shutdown};
use tokio::net::TcpListener;

pub use config::RegistryConfig;
pub use error::RegistryError;
pub use grpc::RegistryGrpc;
pub use registry::{FeatureQuery, GroupFilter, Registry};

/// Builds the registry over etcd as configured.
#[cfg(feature = "distributed")]
pub async fn connect(config: &RegistryConfig) -> anyhow::Result<Registry> {
    use featurestore_catalog::Keyspace;
    use featurestore_metastore::MetadataStore;
    let store: Arc<dyn MetadataStore> =
        Arc::new(featurestore_metastore::EtcdStore::connect(&config.etcd.client_config()).await?);
    Ok(Registry::new(
        store,
        Keyspace::new(&config.etcd.root),
        config.default_partitions,
    ))
}

/// Serves `registry` on `listener` until `shutdown`.
pub async fn serve(
    config: &RegistryConfig,
    registry: Registry,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut server = GrpcServer::new(config.server.clone());
    let catalog = featurestore_catalog::CatalogCache::spawn(
        registry.metadata_store(),
        registry.keyspace().clone(),
    );
    server.authorize_with(Arc::new(move |name: &str| catalog.project(name)));
    let max = config.server.max_message_bytes;
    server.add_service(
        RegistryServiceServer::new(RegistryGrpc::new(registry, shutdown.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    server
        .health()
        .set_serving::<RegistryServiceServer<RegistryGrpc>>()
        .await;
    server.serve(listener, shutdown).await?;
    Ok(())
}
