//! `offline-query`: point-in-time-correct training data. Configuration:
//! defaults, then `--config <file.toml>`, then `FS_OFFLINE_*` environment
//! variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_offline_query::OfflineQueryConfig;
use featurestore_runtime::service;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version = featurestore_domain::build_info::version(),
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
    let started = service::start::<OfflineQueryConfig>(
        "offline-query",
        "FS_OFFLINE_",
        args.config.as_deref(),
        |_| {},
    )?;
    let config = &started.config;
    let server = featurestore_offline_query::connect(config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_offline_query::serve(config, server, listener, started.shutdown.clone()).await
}
