//! An online serving service started in-process against the test etcd and
//! Cassandra (keyspace `fs_e2e`, where the materialization sandbox writes).

use std::{net::SocketAddr, time::Duration};

use featurestore_catalog::EtcdSettings;
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
        let mut config = ServingConfig {
            etcd: EtcdSettings {
                endpoints: vec![crate::etcd_endpoint()],
                root: root.into(),
                request_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
            },
            cassandra: CassandraSettings {
                nodes: vec![crate::materialization::cassandra_node()],
                keyspace: "fs_e2e".into(),
                ..CassandraSettings::default()
            },
            ..ServingConfig::default()
        };
        config.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = featurestore_online_serving::connect(&config)
            .await
            .expect("serving");
        server
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
            let shutdown = shutdown.clone();
            async move { featurestore_online_serving::serve(&config, server, listener, shutdown).await }
        });
        Self { addr, shutdown }
    }

    pub async fn client(&self) -> OnlineServingServiceClient<Channel> {
        OnlineServingServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }
}
