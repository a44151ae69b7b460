//! `ingestion`: rows into Kafka, validated. Configuration: defaults, then
//! `--config <file.toml>`, then `FS_INGESTION_*` environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_ingestion::IngestionConfig;
use featurestore_runtime::{config, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(version, about = "Feature store ingestion: validated rows into Kafka")]
struct Args {
    /// TOML configuration file (see config/ingestion.example.toml).
    #[arg(long, env = "FS_INGESTION_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "FS_INGESTION_CONFIG")
        .collect();
    let config: IngestionConfig = config::load(args.config.as_deref(), &env, "FS_INGESTION_")?;
    let _telemetry = telemetry::init("ingestion", &config.telemetry)?;
    let shutdown = shutdown::on_signals();
    let ingestor = featurestore_ingestion::connect(&config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_ingestion::serve(&config, ingestor, listener, shutdown).await
}
