//! `materialization`: Kafka → online store + offline store. Configuration:
//! defaults, then `--config <file.toml>`, then `FS_MATERIALIZATION_*`
//! environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_materialization::MaterializationConfig;
use featurestore_runtime::{config, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Feature store materialization: Kafka to the online and offline stores"
)]
struct Args {
    /// TOML configuration file (see config/materialization.example.toml).
    #[arg(long, env = "FS_MATERIALIZATION_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "FS_MATERIALIZATION_CONFIG")
        .collect();
    let config: MaterializationConfig =
        config::load(args.config.as_deref(), &env, "FS_MATERIALIZATION_")?;
    let _telemetry = telemetry::init("materialization", &config.telemetry)?;
    let shutdown = shutdown::on_signals();
    let parts = featurestore_materialization::connect(&config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_materialization::serve(&config, parts, listener, shutdown).await
}
