//! Standalone with Prometheus metrics recorded and served, over a data
//! directory another standalone filled: the same reads with metrics on, in
//! the same run (`bench_serve --metrics`).

use std::path::Path;

use crate::Killed;

/// Starts standalone over `data_dir` serving `/metrics`; its process, its
/// ports and the metrics port.
pub fn spawn_standalone_with_metrics(
    data_dir: &Path,
    make_target: &str,
) -> anyhow::Result<(Killed, [u16; 5], u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let metrics_port = crate::free_port();
    let config = dir.path().join("metrics.toml");
    std::fs::write(
        &config,
        format!("[telemetry]\nmetrics_listen_addr = \"127.0.0.1:{metrics_port}\"\n"),
    )?;
    let (process, ports) = crate::spawn_standalone_with(data_dir, make_target, Some(&config));
    Ok((process, ports, metrics_port, dir))
}
