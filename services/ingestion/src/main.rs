//! `ingestion`: rows into Kafka, validated. Configuration: defaults, then
//! `--config <file.toml>`, then `FS_INGESTION_*` environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_ingestion::IngestionConfig;
use featurestore_runtime::service;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version = featurestore_domain::build_info::version(), about = "Feature store ingestion: validated rows into Kafka")]
struct Args {
    /// TOML configuration file (see config/ingestion.example.toml).
    #[arg(long, env = "FS_INGESTION_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = service::start::<IngestionConfig>(
        "ingestion",
        "FS_INGESTION_",
        args.config.as_deref(),
        |_| {},
    )?;
    let config = &started.config;
    let ingestor = featurestore_ingestion::connect(config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_ingestion::serve(config, ingestor, listener, started.shutdown.clone()).await
}
