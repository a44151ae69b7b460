//! An offline query service started in-process against the test etcd and a
//! Delta root of the caller's choosing.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use arrow_flight::FlightClient;
use featurestore_offline_query::{
    OfflineQueryConfig,
    config::{DatasetSettings, OfflineSettings, QuerySettings},
};
use featurestore_proto::v1::{
    offline_query_service_client::OfflineQueryServiceClient,
    training_dataset_service_client::TrainingDatasetServiceClient,
};
use featurestore_runtime::{AuthConfig, Shutdown};
use tonic::transport::Channel;

pub mod fixtures;

pub struct OfflineQuerySandbox {
    pub addr: SocketAddr,
    /// Where training datasets are written (`_datasets` under the Delta root).
    pub datasets_root: PathBuf,
    shutdown: Shutdown,
}

impl Drop for OfflineQuerySandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl OfflineQuerySandbox {
    pub async fn start(root: &str, offline_root: &Path) -> Self {
        Self::start_with_auth(root, offline_root, AuthConfig::default()).await
    }

    /// [`OfflineQuerySandbox::start`] identifying callers as `auth` says.
    pub async fn start_with_auth(root: &str, offline_root: &Path, auth: AuthConfig) -> Self {
        let datasets_root = offline_root.join("_datasets");
        let mut config = OfflineQueryConfig {
            etcd: crate::etcd_settings(root),
            kafka: crate::log_settings(),
            offline: OfflineSettings {
                root: offline_root.to_string_lossy().into(),
            },
            query: QuerySettings {
                memory_limit_mb: 64,
                spill_dir: offline_root.join("_spill"),
                batch_size: 1024,
                // Tests write entity rows by path under the Delta root.
                entity_roots: vec![offline_root.to_string_lossy().into()],
                ..QuerySettings::default()
            },
            datasets: DatasetSettings {
                root: datasets_root.clone(),
            },
            ..OfflineQueryConfig::default()
        };
        config.server.auth = auth;
        let server = featurestore_offline_query::connect(&config)
            .await
            .expect("offline query");
        server
            .catalog()
            .wait_synced(Duration::from_secs(10))
            .await
            .expect("catalog synced");
        let (addr, shutdown) = crate::spawn_service(|listener, shutdown| async move {
            featurestore_offline_query::serve(&config, server, listener, shutdown).await
        })
        .await;
        Self {
            addr,
            datasets_root,
            shutdown,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn client(&self) -> OfflineQueryServiceClient<Channel> {
        OfflineQueryServiceClient::new(self.channel().await)
    }

    pub async fn datasets(&self) -> TrainingDatasetServiceClient<Channel> {
        TrainingDatasetServiceClient::new(self.channel().await)
    }

    pub async fn flight(&self) -> FlightClient {
        FlightClient::new(self.channel().await)
    }
}
