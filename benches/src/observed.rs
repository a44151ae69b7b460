//! Standalone with Prometheus metrics recorded and served, over a data
//! directory another standalone filled: the same reads with metrics on, in
//! the same run (`bench_serve --metrics`).

use std::{
    io::{Read, Write},
    path::Path,
};

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

/// The body of `GET /metrics` at `port`.
pub fn scrape(port: u16) -> anyhow::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    anyhow::ensure!(
        response.starts_with("HTTP/1.1 200"),
        "GET /metrics: {}",
        response.lines().next().unwrap_or_default()
    );
    Ok(response)
}
