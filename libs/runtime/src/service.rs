//! What every service binary does before assembling its service: load the
//! configuration (defaults, then the `--config` file, then `<PREFIX>*`
//! environment variables other than `<PREFIX>CONFIG`, which names the file),
//! start telemetry, and arm the shutdown token on SIGTERM / SIGINT.

use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Shutdown, TelemetryConfig, Validate, config, shutdown,
    telemetry::{self, TelemetryGuard},
};

/// A service's configuration, as [`start`] loads it.
pub trait ServiceConfig: Serialize + DeserializeOwned + Default + Validate {
    fn telemetry(&self) -> &TelemetryConfig;
}

/// A started service process: its configuration and shutdown token; the
/// telemetry exporters are flushed when it is dropped.
#[derive(Debug)]
pub struct Started<C> {
    pub config: C,
    pub shutdown: Shutdown,
    _telemetry: TelemetryGuard,
}

/// Loads `C` (see the module docs) for the service `name`, lets `adjust`
/// apply command-line overrides, then starts telemetry and signal handling.
/// Must run inside the Tokio runtime.
pub fn start<C: ServiceConfig>(
    name: &str,
    env_prefix: &str,
    file: Option<&Path>,
    adjust: impl FnOnce(&mut C),
) -> anyhow::Result<Started<C>> {
    start_loaded(name, load(env_prefix, file, adjust)?)
}

/// Loads `C` (see the module docs) and lets `adjust` apply command-line
/// overrides; needs no runtime, so a binary can size its runtime from it.
pub fn load<C: ServiceConfig>(
    env_prefix: &str,
    file: Option<&Path>,
    adjust: impl FnOnce(&mut C),
) -> anyhow::Result<C> {
    let file_variable = format!("{env_prefix}CONFIG");
    let env = std::env::vars()
        .filter(|(k, _)| *k != file_variable)
        .collect();
    let mut config: C = config::load(file, &env, env_prefix)?;
    adjust(&mut config);
    Ok(config)
}

/// Starts telemetry and signal handling for a [`load`]ed configuration.
/// Must run inside the Tokio runtime.
pub fn start_loaded<C: ServiceConfig>(name: &str, config: C) -> anyhow::Result<Started<C>> {
    let telemetry = telemetry::init(name, config.telemetry())?;
    crate::build_info::announce(name);
    Ok(Started {
        config,
        shutdown: shutdown::on_signals(),
        _telemetry: telemetry,
    })
}
