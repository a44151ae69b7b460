//! `registry`: the catalog service. Configuration: defaults, then
//! `--config <file.toml>`, then `FS_REGISTRY_*` environment variables.

use std::path::PathBuf;

use clap::Parser;
use featurestore_registry::RegistryConfig;
use featurestore_runtime::service;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version = featurestore_domain::build_info::version(),
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
    let started = service::start::<RegistryConfig>(
        "registry",
        "FS_REGISTRY_",
        args.config.as_deref(),
        |_| {},
    )?;
    let config = &started.config;
    let registry = featurestore_registry::connect(config).await?;
    let listener = featurestore_runtime::server::bind(config.server.listen_addr).await?;
    featurestore_registry::serve(config, registry, listener, started.shutdown.clone()).await
}
