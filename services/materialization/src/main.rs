//! `materialization`: Kafka → online store + offline store. Configuration:
//! defaults, then `--config <file.toml>`, then `FS_MATERIALIZATION_*`
//! environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_materialization::MaterializationConfig;
use featurestore_runtime::service;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version = featurestore_domain::build_info::version(),
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
    let started = service::start::<MaterializationConfig>(
        "materialization",
        "FS_MATERIALIZATION_",
        args.config.as_deref(),
        |_| {},
    )?;
    let config = &started.config;
    let parts = featurestore_materialization::connect(config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_materialization::serve(config, parts, listener, started.shutdown.clone()).await
}
