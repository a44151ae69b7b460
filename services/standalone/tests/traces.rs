//! One trace across the Kafka hop: an ingest carrying a client's trace
//! context is continued by materialization (a consumer span whose parent is
//! the ingestion call's span, as the records' headers say), with its online
//! write and Delta commit beneath, all received by an in-process OTLP
//! collector; a caller's unsampled trace is not exported.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{command, energy_catalog, free_ports, start_command};
use featurestore_proto::v1::ingestion_service_client::IngestionServiceClient;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    trace::v1::{Span, span::SpanKind},
};

/// Keeps every span exported to it.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_and_its_materialization_are_one_trace() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports();
    let mut standalone = command(dir.path(), ports);
    standalone
        .env(
            "FS_STANDALONE_TELEMETRY__OTLP_ENDPOINT",
            format!("http://{otlp}"),
        )
        // Logs at warn: traces do not depend on the log level.
        .env("FS_STANDALONE_TELEMETRY__LOG_LEVEL", "warn");
    let running = start_command(standalone, ports).await;
    energy_catalog(&running).await;

    // The client's own trace: its id and the span the call is made from.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let mut ingestion = IngestionServiceClient::new(running.channel(1).await);
    let started = Instant::now();
    loop {
        let mut request =
            tonic::Request::new(common::daily_rows(0..3, 1_790_000_000_000_000, |k| {
                k as f64
            }));
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{trace_id}-{client_span}-01").parse().unwrap(),
        );
        match ingestion.ingest(request).await {
            Ok(_) => break,
            Err(s) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("ingest not ready yet: {s}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("ingest: {s}"),
        }
    }

    // A caller that did not sample its trace: nothing of it is exported
    // (its spans end before the sampled trace's Delta commit below).
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let mut request = tonic::Request::new(common::daily_rows(3..6, 1_790_000_000_000_000, |k| {
        k as f64
    }));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{unsampled}-b7ad6b7169203331-00")
            .parse()
            .unwrap(),
    );
    ingestion.ingest(request).await.unwrap();

    // Spans are exported in batches (every few seconds): wait for the
    // trace's spans down to the Delta commit.
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let started = Instant::now();
    let trace = loop {
        let trace: Vec<Span> = collector
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| hex(&s.trace_id) == trace_id)
            .cloned()
            .collect();
        if trace.iter().any(|s| s.name == "delta commit") {
            break trace;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the trace never reached the Delta commit: {:?}",
            trace.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !collector
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|s| hex(&s.trace_id) == unsampled),
        "an unsampled caller's trace was exported"
    );
    let named = |name: &str| {
        trace
            .iter()
            .find(|s| s.name == name || s.name.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| {
                panic!(
                    "no {name} span in {:?}",
                    trace.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let ingest = trace
        .iter()
        .find(|s| {
            attribute(s, "rpc.method").as_deref()
                == Some("/featurestore.v1.IngestionService/Ingest")
        })
        .expect("the ingest call's span");
    assert_eq!(
        hex(&ingest.parent_span_id),
        client_span,
        "the call continues the client's span"
    );
    assert_eq!(ingest.kind, SpanKind::Server as i32);

    let process = named("process");
    assert_eq!(process.kind, SpanKind::Consumer as i32);
    assert_eq!(
        process.parent_span_id, ingest.span_id,
        "materialization goes on from the ingest call"
    );
    assert!(
        process.links.iter().any(|l| l.span_id == ingest.span_id),
        "and links it"
    );
    assert_eq!(
        attribute(process, "messaging.system").as_deref(),
        Some("kafka")
    );
    assert_eq!(named("online write").parent_span_id, process.span_id);
    assert_eq!(named("delta commit").parent_span_id, process.span_id);
}
