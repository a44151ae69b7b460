//! `online-serving`: feature vectors for inference. Configuration: defaults,
//! then `--config <file.toml>`, then `FS_SERVING_*` environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_online_serving::ServingConfig;
use featurestore_runtime::service;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version = featurestore_domain::build_info::version(),
    about = "Feature store online serving: GetFeatureVector for inference"
)]
struct Args {
    /// TOML configuration file (see config/online-serving.example.toml).
    #[arg(long, env = "FS_SERVING_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = service::start::<ServingConfig>(
        "online-serving",
        "FS_SERVING_",
        args.config.as_deref(),
        |_| {},
    )?;
    let config = &started.config;
    let server = featurestore_online_serving::connect(config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_online_serving::serve(config, server, listener, started.shutdown.clone()).await
}
