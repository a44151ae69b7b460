//! A registry started in-process against the test etcd, under its own key
//! root so tests run side by side.

use std::{net::SocketAddr, time::Duration};

use featurestore_proto::v1::registry_service_client::RegistryServiceClient;
use featurestore_registry::{RegistryConfig, config::EtcdSettings};
use featurestore_runtime::{ServerConfig, Shutdown};
use tonic::transport::Channel;

/// A running registry. Dropping it shuts the server down.
pub struct RegistrySandbox {
    pub addr: SocketAddr,
    pub config: RegistryConfig,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for RegistrySandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RegistrySandbox {
    /// Starts a registry with a fresh catalog root.
    pub async fn start() -> Self {
        Self::start_at_root(&format!("/fs-test/{}", crate::unique_name("registry"))).await
    }

    /// Starts a registry over an existing catalog root (a second registry
    /// replica, or another client of the same catalog).
    pub async fn start_at_root(root: &str) -> Self {
        Self::start_with(root, |_| {}).await
    }

    /// [`RegistrySandbox::start_at_root`] with its server settings
    /// (identities, roles) changed by `server`.
    pub async fn start_with(root: &str, server: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = RegistryConfig {
            etcd: EtcdSettings {
                endpoints: vec![crate::etcd_endpoint()],
                root: root.into(),
                request_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
            },
            ..RegistryConfig::default()
        };
        config.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.request_timeout = Duration::from_secs(5);
        config.server.shutdown_grace = Duration::from_secs(2);
        server(&mut config.server);
        let registry = featurestore_registry::connect(&config)
            .await
            .expect("registry");
        let listener = featurestore_runtime::server::bind(config.server.listen_addr)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = Shutdown::new();
        let task = tokio::spawn({
            let config = config.clone();
            let shutdown = shutdown.clone();
            async move { featurestore_registry::serve(&config, registry, listener, shutdown).await }
        });
        Self {
            addr,
            config,
            shutdown,
            task,
        }
    }

    pub fn root(&self) -> &str {
        &self.config.etcd.root
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .expect("connect to registry")
    }

    pub async fn client(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.channel().await)
    }

    /// Registers a project named `<prefix>_<unique>` with a `customer` entity
    /// (join key `customer_id: int64`); returns the project name.
    pub async fn create_customer_project(&self, prefix: &str) -> String {
        use featurestore_domain::fixtures::entity;
        use featurestore_proto::v1::{
            CreateEntityRequest, CreateProjectRequest, Project, ScalarType,
        };
        let mut client = self.client().await;
        let project = crate::unique_name(prefix);
        client
            .create_project(CreateProjectRequest {
                project: Some(Project {
                    name: project.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("create project");
        client
            .create_entity(CreateEntityRequest {
                entity: Some(entity(
                    &project,
                    "customer",
                    &[("customer_id", ScalarType::Int64)],
                )),
            })
            .await
            .expect("create entity");
        project
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        task.await?
    }
}
