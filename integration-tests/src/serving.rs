//! An online serving service started in-process against the test etcd and
//! Cassandra (keyspace `fs_e2e`, where the materialization sandbox writes).

use std::{net::SocketAddr, time::Duration};

use featurestore_online_serving::{ServingConfig, config::CassandraSettings};
use featurestore_proto::v1::online_serving_service_client::OnlineServingServiceClient;
use featurestore_runtime::Shutdown;
use tonic::transport::Channel;

pub struct ServingSandbox {
    pub addr: SocketAddr,
    shutdown: Shutdown,
}

impl Drop for ServingSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl ServingSandbox {
    pub async fn start(root: &str) -> Self {
        let config = ServingConfig {
            etcd: crate::etcd_settings(root),
            kafka: crate::log_settings(),
            cassandra: CassandraSettings {
                nodes: vec![crate::materialization::cassandra_node()],
                keyspace: "fs_e2e".into(),
                ..CassandraSettings::default()
            },
            ..ServingConfig::default()
        };
        let server = featurestore_online_serving::connect(&config)
            .await
            .expect("serving");
        server
            .catalog()
            .wait_synced(Duration::from_secs(10))
            .await
            .expect("catalog synced");
        let (addr, shutdown) = crate::spawn_service(|listener, shutdown| async move {
            featurestore_online_serving::serve(&config, server, listener, shutdown).await
        })
        .await;
        Self { addr, shutdown }
    }

    pub async fn client(&self) -> OnlineServingServiceClient<Channel> {
        OnlineServingServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }
}
