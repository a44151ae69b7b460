//! What every service binary shares: layered configuration, telemetry, the
//! gRPC server (health, reflection, tower layers) and graceful shutdown.
//!
//! A service `main` is: [`config::load`] → [`telemetry::init`] → build the
//! service from libs → [`server::GrpcServer::serve`] until
//! [`shutdown::on_signals`] fires.

pub mod config;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, ServerConfig, TelemetryConfig, Validate};
pub use server::GrpcServer;
pub use shutdown::Shutdown;
