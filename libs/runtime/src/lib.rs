//! What every service binary shares: layered configuration, telemetry, the
//! gRPC server (health, reflection, tower layers) and graceful shutdown.
//!
//! A service `main` is: [`service::start`] (configuration, telemetry,
//! signals) → build the service from libs → [`server::GrpcServer::serve`]
//! until the shutdown token fires.

pub mod auth;
pub mod authz;
pub mod build_info;
pub mod config;
pub mod gate;
pub mod metrics;
pub mod rate_limit;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use auth::{AuthConfig, Principal};
pub use authz::AuthzConfig;
pub use config::{ConfigError, ServerConfig, TelemetryConfig, Validate};
pub use rate_limit::RateLimitConfig;
pub use server::GrpcServer;
pub use service::{ServiceConfig, Started};
pub use shutdown::Shutdown;
pub use tls::TlsConfig;
