//! Standalone with Prometheus metrics recorded and served and traces
//! exported (at the default sampling ratio) to an OTLP receiver in the
//! benchmark, over a data directory another standalone filled: the same
//! reads observed, in the same run (`bench_serve --metrics`).

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};

/// An OTLP trace receiver that counts the spans it is sent.
#[derive(Clone, Default)]
pub struct SpanCounter(Arc<AtomicU64>);

impl SpanCounter {
    pub fn spans(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[tonic::async_trait]
impl TraceService for SpanCounter {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Starts a [`SpanCounter`] on a loopback port.
pub async fn otlp_receiver() -> anyhow::Result<(SocketAddr, SpanCounter)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counter = SpanCounter::default();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(counter.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    Ok((addr, counter))
}

use crate::Killed;

/// Starts standalone over `data_dir` serving `/metrics` and exporting
/// traces to `otlp`; its process, its ports and the metrics port.
pub fn spawn_standalone_with_metrics(
    data_dir: &Path,
    make_target: &str,
    otlp: SocketAddr,
) -> anyhow::Result<(Killed, [u16; 5], u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let metrics_port = crate::free_port();
    let config = dir.path().join("metrics.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\nmetrics_listen_addr = \"127.0.0.1:{metrics_port}\"\notlp_endpoint = \"http://{otlp}\"\n"
        ),
    )?;
    let (process, ports) = crate::spawn_standalone_with(data_dir, make_target, Some(&config));
    Ok((process, ports, metrics_port, dir))
}
