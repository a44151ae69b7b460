//! `standalone`: the whole feature store in one process (see the crate
//! docs). Configuration: defaults, then `--config <file.toml>`, then
//! `FS_STANDALONE_*` environment variables, then `--data-dir`.

use std::path::PathBuf;

use clap::Parser;
use featurestore_runtime::{config, shutdown, telemetry};
use featurestore_standalone::StandaloneConfig;

#[derive(Debug, Parser)]
#[command(
    version,
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain, on one line, without a backtrace: start-up
            // errors (data directory, ports) are meant for people.
            eprintln!("standalone: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = std::env::vars()
        .filter(|(k, _)| k != "FS_STANDALONE_CONFIG")
        .collect();
    let mut config: StandaloneConfig =
        config::load(args.config.as_deref(), &env, "FS_STANDALONE_")?;
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    let _telemetry = telemetry::init("standalone", &config.telemetry)?;
    let shutdown = shutdown::on_signals();
    let standalone = featurestore_standalone::start(&config, shutdown).await?;
    standalone.wait().await
}
