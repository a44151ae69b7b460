//! `offline-query`: point-in-time-correct training data. Configuration:
//! defaults, then `--config <file.toml>`, then `FS_OFFLINE_*` environment
//! variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_offline_query::OfflineQueryConfig;
use featurestore_runtime::{config, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Feature store offline query: point-in-time joins over the Delta tables, results over Arrow Flight"
)]
struct Args {
    /// TOML configuration file (see config/offline-query.example.toml).
    #[arg(long, env = "FS_OFFLINE_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "FS_OFFLINE_CONFIG")
        .collect();
    let config: OfflineQueryConfig = config::load(args.config.as_deref(), &env, "FS_OFFLINE_")?;
    let _telemetry = telemetry::init("offline-query", &config.telemetry)?;
    let shutdown = shutdown::on_signals();
    let server = featurestore_offline_query::connect(&config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_offline_query::serve(&config, server, listener, shutdown).await
}
