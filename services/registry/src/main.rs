//! `registry`: the catalog service. Configuration: defaults, then
//! `--config <file.toml>`, then `FS_REGISTRY_*` environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_registry::RegistryConfig;
use featurestore_runtime::{config, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Feature store registry: the catalog service over etcd"
)]
struct Args {
    /// TOML configuration file (see config/registry.example.toml).
    #[arg(long, env = "FS_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "FS_REGISTRY_CONFIG")
        .collect();
    let config: RegistryConfig = config::load(args.config.as_deref(), &env, "FS_REGISTRY_")?;
    let _telemetry = telemetry::init("registry", &config.telemetry)?;
    let shutdown = shutdown::on_signals();
    let registry = featurestore_registry::connect(&config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_registry::serve(&config, registry, listener, shutdown).await
}
