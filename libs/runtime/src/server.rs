//! The gRPC server every service runs: its own services plus gRPC health
//! and reflection (v1 and v1alpha, so grpcurl works), behind the shared
//! tower layers (a span per request continuing the caller's trace, request
//! timeout, global concurrency limit, load shedding), drained gracefully on
//! shutdown.

use std::{convert::Infallible, sync::Arc, time::Duration};

use futures::FutureExt;

use tokio::net::TcpListener;
use tonic::{
    Status,
    service::{Routes, RoutesBuilder},
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};
use tower::{
    BoxError, ServiceBuilder,
    limit::GlobalConcurrencyLimitLayer,
    load_shed::{LoadShedLayer, error::Overloaded},
    util::{MapErrLayer, option_layer},
};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::{
    ServerConfig,
    auth::Authenticator,
    authz::{AuthzLayer, ProjectDirectory},
    gate::GateLayer,
    metrics::RpcMetricsLayer,
    rate_limit::RateLimits,
    shutdown::Shutdown,
};

/// How often token key files are re-read.
const KEY_RELOAD: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Auth(String),
}

/// Binds a service's listen address, with an error that names it (a port
/// already taken is the common case).
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Builds and runs a service's gRPC server.
pub struct GrpcServer {
    config: ServerConfig,
    health: HealthReporter,
    /// The health service again, for the plain health listener.
    health_service: HealthServer<HealthService>,
    routes: RoutesBuilder,
    descriptor_sets: Vec<&'static [u8]>,
    /// Services advertised by reflection (only those actually served).
    service_names: Vec<&'static str>,
    /// Where project roles come from (needed when `[server.authz]` is on).
    projects: Option<Arc<dyn ProjectDirectory>>,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    pub fn new(config: ServerConfig) -> Self {
        let health = HealthReporter::new();
        let health_service = HealthServer::new(HealthService::from_health_reporter(health.clone()));
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service.clone());
        Self {
            config,
            health,
            health_service,
            routes,
            descriptor_sets: vec![
                featurestore_proto::v1::FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
            ],
            projects: None,
            service_names: vec![
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ],
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Reads project roles from `projects` (the service's catalog) when
    /// `[server.authz]` is on.
    pub fn authorize_with(&mut self, projects: Arc<dyn ProjectDirectory>) -> &mut Self {
        self.projects = Some(projects);
        self
    }

    /// The health reporter, for services that report their own status.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Adds a gRPC service (a generated `*Server`).
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves on `listener` until `shutdown` is cancelled, then stops
    /// accepting, reports NOT_SERVING and lets in-flight requests finish for
    /// up to `shutdown_grace`.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> Result<(), ServerError> {
        let reflection = || {
            let builder = self
                .descriptor_sets
                .iter()
                .fold(tonic_reflection::server::Builder::configure(), |b, set| {
                    b.register_encoded_file_descriptor_set(set)
                });
            self.service_names
                .iter()
                .fold(builder, |b, name| b.with_service_name(*name))
        };
        let v1 = reflection()
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        self.routes.add_service(v1).add_service(v1alpha);
        let routes: Routes = self.routes.routes();
        let local_addr = listener.local_addr().ok();
        let auth = Arc::new(
            Authenticator::load(&self.config.auth)
                .await
                .map_err(ServerError::Auth)?,
        );
        crate::auth::spawn_refresh(&auth, KEY_RELOAD);
        let authz = AuthzLayer::new(&self.config.authz, self.projects.clone())
            .map_err(ServerError::Auth)?;
        let layers = ServiceBuilder::new()
            .layer(RpcMetricsLayer)
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(
                        crate::telemetry::grpc_request_span
                            as fn(&http::Request<tonic::body::Body>) -> tracing::Span,
                    )
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                    .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
            )
            .layer(GateLayer(auth))
            .layer(option_layer(
                RateLimits::new(&self.config.rate_limit).map(GateLayer),
            ))
            .layer(authz)
            .layer(MapErrLayer::new(
                overload_to_status as fn(BoxError) -> BoxError,
            ))
            .layer(option_layer(self.config.load_shed.then(LoadShedLayer::new)))
            .layer(MapErrLayer::new(infallible as fn(Infallible) -> BoxError))
            .layer(GlobalConcurrencyLimitLayer::new(
                self.config.concurrency_limit,
            ))
            .into_inner();
        let health = self.health.clone();
        let tls = self.config.tls.enabled();
        if !tls && local_addr.is_some_and(|a| !a.ip().is_loopback()) {
            tracing::warn!(addr = ?local_addr, "serving plain text beyond loopback: set [server.tls] to encrypt");
        }
        health.set_service_status("", ServingStatus::Serving).await;
        tracing::info!(addr = ?local_addr, tls, mutual = self.config.tls.client_ca_file.is_some(), "serving grpc");
        let drained = shutdown.clone();
        let builder = Server::builder()
            .timeout(self.config.request_timeout)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .layer(layers)
            .add_routes(routes);
        let stopped = async move {
            drained.cancelled().await;
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
        };
        let server = if tls {
            let incoming =
                crate::tls::incoming(listener, &self.config.tls).map_err(ServerError::Tls)?;
            builder
                .serve_with_incoming_shutdown(incoming, stopped)
                .boxed()
        } else {
            // The builder's `tcp_nodelay` is ignored for an own listener:
            // without it, Nagle's algorithm holds small responses back for up
            // to 40 ms.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            builder
                .serve_with_incoming_shutdown(incoming, stopped)
                .boxed()
        };
        // Probes keep getting answers (NOT_SERVING while draining) until the
        // main server has stopped.
        let health_only = match self.config.health_listen_addr {
            Some(addr) => {
                let listener = bind(addr).await?;
                tracing::info!(addr = ?listener.local_addr().ok(), "serving grpc health in plain text");
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                let server = Server::builder()
                    .add_service(self.health_service.clone())
                    .serve_with_incoming(incoming);
                Some(AbortOnDrop(tokio::spawn(server)))
            }
            None => None,
        };
        let grace = self.config.shutdown_grace;
        tokio::select! {
            result = server => result?,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "requests still running after the grace period; stopping anyway");
            }
        }
        tracing::info!("grpc server stopped");
        drop(health_only);
        Ok(())
    }
}

/// A task aborted when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Load shedding answers UNAVAILABLE (retryable) rather than UNKNOWN.
fn overload_to_status(err: BoxError) -> BoxError {
    if err.is::<Overloaded>() {
        Box::new(Status::unavailable(
            "server overloaded: too many requests in flight; retry with backoff",
        ))
    } else {
        err
    }
}

fn infallible(never: Infallible) -> BoxError {
    match never {}
}
