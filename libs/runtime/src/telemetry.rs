//! Logs (text or JSON) through `tracing`, traces exported over OTLP when
//! an endpoint is configured, and Prometheus metrics when an address is
//! ([`crate::metrics`]). W3C trace context is the propagation format,
//! so a trace can follow a request across services and the Kafka hop.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::{LogFormat, TelemetryConfig};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log level: {0}")]
    Filter(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already set")]
    AlreadyInitialised,
    #[error("metrics: {0}")]
    Metrics(String),
}

/// Flushes and stops trace export when dropped (keep it alive in `main`).
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace export shutdown: {e}");
        }
    }
}

/// Installs the global subscriber for a service.
pub fn init(
    service_name: &str,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter =
        EnvFilter::try_new(&config.log_level).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    // The log level filters logs only: spans for traces are kept at INFO
    // whatever the log level (a service logging warnings still traces).
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
    }];
    let mut guard = TelemetryGuard::default();
    if !config.otlp_endpoint.is_empty() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(&config.otlp_endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        // The decision is taken where a trace enters ([`grpc_request_span`]):
        // spans of traces not sampled are never given to OpenTelemetry, so
        // they cost nothing; those that are, are kept.
        let _ = EVERY.set(every(config.trace_sample_ratio));
        let sampler = opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        ));
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_string())
                    .build(),
            )
            .build();
        let tracer = provider.tracer(service_name.to_string());
        opentelemetry::global::set_tracer_provider(provider.clone());
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
                .boxed(),
        );
        guard.provider = Some(provider);
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    if let Some(addr) = config.metrics_listen_addr {
        crate::metrics::install(addr).map_err(TelemetryError::Metrics)?;
    }
    Ok(guard)
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// With traces exported: one request in this many starts a trace
/// (`telemetry.trace_sample_ratio`, rounded); 0 for none.
static EVERY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn every(ratio: f64) -> u64 {
    if ratio <= 0.0 {
        0
    } else {
        (1.0 / ratio).round().max(1.0) as u64
    }
}

/// Whether a request without a sampled caller starts a trace: one in
/// [`EVERY`].
fn starts_trace() -> bool {
    match EVERY.get() {
        Some(&every) if every > 0 => REQUESTS
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(every),
        _ => false,
    }
}

/// Whether `span` is traced (exported): traces are exported at all, and
/// the span is not one of the DEBUG spans made for traces not sampled,
/// below what the OpenTelemetry layer takes.
pub fn is_traced(span: &tracing::Span) -> bool {
    EVERY.get().is_some()
        && span
            .metadata()
            .is_some_and(|m| *m.level() <= tracing::Level::INFO)
}

/// The span of one gRPC request: a child of the caller's trace when the
/// request carries a sampled `traceparent`, the root of a new trace for
/// one request in `1 / telemetry.trace_sample_ratio`, otherwise not traced
/// (a DEBUG span, for logs only: building OpenTelemetry data for spans
/// that are then dropped cost ~9 µs of CPU per request).
pub fn grpc_request_span<B>(request: &http::Request<B>) -> tracing::Span {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if EVERY.get().is_none() {
        return tracing::info_span!("grpc", rpc.method = %request.uri().path());
    }
    // A caller without trace context (most inference clients) costs no
    // context extraction.
    let parent = request.headers().contains_key("traceparent").then(|| {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        })
    });
    let caller = parent
        .as_ref()
        .map(|parent| parent.span().span_context().clone())
        .filter(|caller| caller.is_valid());
    let traced = match &caller {
        Some(caller) => caller.is_sampled(),
        None => starts_trace(),
    };
    if !traced {
        return tracing::debug_span!("grpc", rpc.method = %request.uri().path());
    }
    let span = tracing::info_span!(
        "grpc",
        rpc.method = %request.uri().path(),
        otel.kind = "server",
    );
    if let Some(parent) = parent {
        let _ = span.set_parent(parent);
    }
    span
}

/// The current span's W3C trace context as message headers (`traceparent`,
/// `tracestate`), to carry a trace across Kafka; empty when not tracing.
pub fn trace_headers() -> Vec<(String, Vec<u8>)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    struct Headers(Vec<(String, Vec<u8>)>);
    impl opentelemetry::propagation::Injector for Headers {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_string(), value.into_bytes()));
        }
    }
    let context = tracing::Span::current().context();
    let mut headers = Headers(Vec::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut headers));
    headers.0
}

/// Reads W3C trace context from a log record's headers.
struct RecordHeaders<'a>(&'a [(String, Vec<u8>)]);

impl opentelemetry::propagation::Extractor for RecordHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Spans a unit of work goes on from: the child of the one context when
/// there is one, linked to each when there are several (a batch of records
/// of many requests), per the OpenTelemetry messaging conventions.
#[derive(Debug, Default, Clone)]
pub struct TraceLinks(Vec<opentelemetry::trace::SpanContext>);

/// Links kept per span (a batch of thousands of records of as many
/// requests keeps the first ones).
const MAX_LINKS: usize = 128;

impl TraceLinks {
    /// The producer contexts in the headers of `records`.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a [(String, Vec<u8>)]>) -> Self {
        use opentelemetry::trace::TraceContextExt;
        let mut links = Self::default();
        for headers in records {
            if headers.is_empty() {
                continue;
            }
            let context = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&RecordHeaders(headers))
            });
            links.push(context.span().span_context().clone());
        }
        links
    }

    /// Adds `span`'s own context.
    pub fn add(&mut self, span: &tracing::Span) {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        self.push(span.context().span().span_context().clone());
    }

    /// Adds the contexts of `other`.
    pub fn extend(&mut self, other: &TraceLinks) {
        for context in &other.0 {
            self.push(context.clone());
        }
    }

    /// Whether there is none: the work is not traced.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, context: opentelemetry::trace::SpanContext) {
        // Only sampled traces go on (others were decided against upstream).
        if context.is_valid()
            && context.is_sampled()
            && self.0.len() < MAX_LINKS
            && !self.0.contains(&context)
        {
            self.0.push(context);
        }
    }

    /// Makes `span` go on from these contexts (see the type).
    pub fn attach(&self, span: &tracing::Span) {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        if let [one] = self.0.as_slice() {
            let _ = span
                .set_parent(opentelemetry::Context::new().with_remote_span_context(one.clone()));
        }
        for context in &self.0 {
            span.add_link(context.clone());
        }
    }
}

/// The span of applying `count` records of `topic` read from the log: a
/// consumer span going on from the records' producer contexts (ingestion
/// writes them into the headers, [`trace_headers`]), so one ingest's trace
/// reaches materialization.
pub fn consumer_span<'a>(
    topic: &str,
    records: impl IntoIterator<Item = &'a [(String, Vec<u8>)]>,
    count: usize,
) -> tracing::Span {
    let links = TraceLinks::from_records(records);
    if links.is_empty() {
        // No sampled trace among the records: not traced.
        return tracing::debug_span!("process", messaging.destination.name = %topic);
    }
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %topic,
        messaging.batch.message_count = count,
    );
    links.attach(&span);
    span
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sampling_ratio_becomes_one_request_in_n() {
        for (ratio, every) in [(0.0, 0), (1.0, 1), (0.1, 10), (0.3, 3), (0.001, 1000)] {
            assert_eq!(super::every(ratio), every, "{ratio}");
        }
    }
}
