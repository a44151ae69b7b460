//! Standalone mode: the five services in one process, on their usual ports,
//! over embedded backends in one data directory — the feature store on a
//! laptop, without etcd, Kafka or Cassandra.
//!
//! | distributed | standalone |
//! |---|---|
//! | etcd | [`MemoryStore`] journaled to `metadata.redb` |
//! | Kafka | [`RedbLog`] (`eventlog.redb`) |
//! | Cassandra | [`RedbOnlineStore`] (`online.redb`) |
//! | Delta on object storage | Delta under `offline/` |
//!
//! Each service is assembled from its own crate exactly as in distributed
//! mode; they share one metadata store and one watched catalog cache.

pub mod config;
pub mod data_dir;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use featurestore_catalog::{CatalogCache, DEFAULT_ROOT, Keyspace};
use featurestore_eventlog::{EventLog, RedbLog};
use featurestore_ingestion::{IngestionConfig, Ingestor};
use featurestore_materialization::{MaterializationConfig, Materializer};
use featurestore_metastore::{MemoryStore, MetadataStore};
use featurestore_offline_query::OfflineQueryConfig;
use featurestore_offlinestore::DeltaStore;
use featurestore_online_serving::ServingConfig;
use featurestore_onlinestore::{OnlineStore, RedbOnlineStore};
use featurestore_registry::{Registry, RegistryConfig};
use featurestore_runtime::Shutdown;
use tokio::{net::TcpListener, task::JoinSet};

pub use config::StandaloneConfig;
pub use data_dir::{DataDir, DataDirError};

/// The addresses the services actually listen on (port 0 in the
/// configuration picks a free one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub registry: SocketAddr,
    pub ingestion: SocketAddr,
    pub serving: SocketAddr,
    pub offline: SocketAddr,
    pub materialization: SocketAddr,
}

/// A running standalone feature store.
#[derive(Debug)]
pub struct Standalone {
    pub addrs: Addrs,
    services: JoinSet<anyhow::Result<()>>,
    shutdown: Shutdown,
    /// Locked until every service has stopped.
    _data_dir: DataDir,
}

/// Checks and locks the data directory, binds every port, opens the
/// embedded backends and starts the five services. Fails before anything
/// is served, and before anything in the directory is written, when the
/// directory is foreign, damaged or in use, or a port is taken; a corrupt
/// store file is refused by its own open (its siblings may have been
/// opened and recovered, never changed in content).
pub async fn start(config: &StandaloneConfig, shutdown: Shutdown) -> anyhow::Result<Standalone> {
    let mut data_dir = DataDir::open(&config.data_dir)?;
    let listeners = bind(config).await?;
    data_dir.claim()?;
    let store: Arc<dyn MetadataStore> = Arc::new(
        MemoryStore::open(&data_dir.metadata())
            .with_context(|| format!("data directory {}", data_dir.path().display()))?,
    );
    let log: Arc<dyn EventLog> = Arc::new(
        RedbLog::open_with_cache(
            &data_dir.event_log(),
            config.storage.event_log_cache_mb << 20,
        )
        .with_context(|| format!("data directory {}", data_dir.path().display()))?,
    );
    // Serving and the offline query ask the log where partitions end.
    let ends: Arc<dyn featurestore_eventlog::LogEnds> = log.clone();
    let online: Arc<dyn OnlineStore> = Arc::new(
        RedbOnlineStore::open_with_cache(&data_dir.online(), config.storage.online_cache_mb << 20)
            .with_context(|| format!("data directory {}", data_dir.path().display()))?,
    );
    let offline = Arc::new(DeltaStore::new(&data_dir.offline().to_string_lossy())?);
    data_dir.mark()?;
    let keys = Keyspace::new(DEFAULT_ROOT);
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));

    let [
        registry_l,
        ingestion_l,
        serving_l,
        offline_l,
        materialization_l,
    ] = listeners;
    let addrs = Addrs {
        registry: registry_l.local_addr()?,
        ingestion: ingestion_l.local_addr()?,
        serving: serving_l.local_addr()?,
        offline: offline_l.local_addr()?,
        materialization: materialization_l.local_addr()?,
    };
    let mut services = JoinSet::new();

    let mut registry_config = RegistryConfig::default();
    config.secure(&mut registry_config.server);
    let registry = Registry::new(
        store.clone(),
        keys.clone(),
        registry_config.default_partitions,
    );
    let down = shutdown.clone();
    services.spawn(async move {
        featurestore_registry::serve(&registry_config, registry, registry_l, down).await
    });

    let mut ingestion_config = IngestionConfig::default();
    config.secure(&mut ingestion_config.server);
    let idempotency = featurestore_ingestion::idempotency::Idempotency::new(
        store.clone(),
        &keys,
        &ingestion_config.idempotency,
        ingestion_config.kafka.append_timeout,
    );
    let ingestor = Arc::new(Ingestor::new(
        catalog.clone(),
        store.clone(),
        log.clone(),
        ingestion_config.limits.clone(),
        idempotency,
    ));
    let down = shutdown.clone();
    services.spawn(async move {
        featurestore_ingestion::serve(&ingestion_config, ingestor, ingestion_l, down).await
    });

    let mut materialization_config = MaterializationConfig {
        corrections: config.corrections.clone(),
        ..MaterializationConfig::default()
    };
    config.secure(&mut materialization_config.server);
    let parts = featurestore_materialization::Parts {
        materializer: Arc::new(Materializer::new(
            catalog.clone(),
            store.clone(),
            keys.clone(),
            online.clone(),
            offline.clone(),
            materialization_config.kafka.group_id.clone(),
        )),
        log,
        alone: true,
    };
    let down = shutdown.clone();
    services.spawn(async move {
        featurestore_materialization::serve(&materialization_config, parts, materialization_l, down)
            .await
    });

    let mut serving_config = ServingConfig::default();
    config.secure(&mut serving_config.server);
    let serving = Arc::new(featurestore_online_serving::Server::new(
        catalog.clone(),
        Arc::new(featurestore_catalog::ProgressCache::spawn(
            store.clone(),
            keys.clone(),
            ends.clone(),
        )),
        online,
        serving_config.max_keys_per_request,
        serving_config.consistency.clone(),
    ));
    let down = shutdown.clone();
    services.spawn(async move {
        featurestore_online_serving::serve(&serving_config, serving, serving_l, down).await
    });

    let mut offline_config = OfflineQueryConfig::default();
    config.secure(&mut offline_config.server);
    offline_config.datasets.root = data_dir.datasets();
    offline_config.query = config.query.clone();
    let offline_server =
        featurestore_offline_query::build(&offline_config, store, keys, catalog, offline, ends)?;
    let down = shutdown.clone();
    services.spawn(async move {
        featurestore_offline_query::serve(&offline_config, offline_server, offline_l, down).await
    });

    tracing::info!(
        data_dir = %data_dir.path().display(),
        registry = %addrs.registry,
        ingestion = %addrs.ingestion,
        serving = %addrs.serving,
        offline = %addrs.offline,
        materialization = %addrs.materialization,
        "standalone feature store running"
    );
    Ok(Standalone {
        addrs,
        services,
        shutdown,
        _data_dir: data_dir,
    })
}

/// Binds every service's address before anything else starts, so a taken
/// port is reported by name.
async fn bind(config: &StandaloneConfig) -> anyhow::Result<[TcpListener; 5]> {
    let mut listeners = Vec::with_capacity(5);
    for (key, service, addr) in config.listen.named() {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} for the {service} service (is another feature store \
                 running? choose another listen.{key} or FS_STANDALONE_LISTEN__{})",
                key.to_uppercase()
            )
        })?;
        listeners.push(listener);
    }
    listeners
        .try_into()
        .map_err(|_| anyhow::anyhow!("five listeners"))
}

impl Standalone {
    /// Runs until shutdown is requested or a service fails (which stops the
    /// others); the data directory is unlocked when every service stopped.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(result) = self.services.join_next().await {
            let result = result.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = result
                && first_error.is_none()
            {
                tracing::error!(error = %e, "a service failed; stopping the others");
                self.shutdown.cancel();
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Requests shutdown and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}
