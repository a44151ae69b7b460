//! `standalone`: the whole feature store in one process (see the crate
//! docs). Configuration: defaults, then `--config <file.toml>`, then
//! `FS_STANDALONE_*` environment variables, then `--data-dir`.

use std::path::PathBuf;

use clap::Parser;
use featurestore_runtime::service;
use featurestore_standalone::StandaloneConfig;

/// mimalloc (ARCHITECTURE.md, "Memory"): less CPU per allocation and far
/// less memory kept than glibc's allocator under these services' load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version = featurestore_domain::build_info::version(),
    about = "Feature store, standalone: all five services in one process over embedded storage"
)]
struct Args {
    /// TOML configuration file (see config/standalone.example.toml).
    #[arg(long, env = "FS_STANDALONE_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (created when missing); overrides the configuration.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain, on one line, without a backtrace: start-up
            // errors (data directory, ports) are meant for people.
            eprintln!("standalone: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = service::load(
        "FS_STANDALONE_",
        args.config.as_deref(),
        |config: &mut StandaloneConfig| {
            if let Some(data_dir) = args.data_dir.clone() {
                config.data_dir = data_dir;
            }
        },
    )?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(config.runtime.blocking_threads)
        .build()?
        .block_on(async {
            let started = service::start_loaded("standalone", config)?;
            let standalone =
                featurestore_standalone::start(&started.config, started.shutdown.clone()).await?;
            standalone.wait().await
        })
}
