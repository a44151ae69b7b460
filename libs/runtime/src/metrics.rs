//! Prometheus metrics: one process-wide recorder (the `metrics` facade,
//! rendered by `metrics-exporter-prometheus`) scraped at `GET /metrics` on
//! `telemetry.metrics_listen_addr`, and the layer every gRPC server times
//! its calls with. Without an address nothing is recorded: the `metrics`
//! macros find no recorder and do nothing.
//!
//! Names follow the OpenTelemetry semantic conventions as Prometheus
//! writes them (dots to underscores, the unit as a suffix):
//! `rpc_server_call_duration_seconds{rpc_system, rpc_service, rpc_method,
//! rpc_grpc_status_code}`. Labels never hold entity keys or values: only
//! methods, codes, views, groups, partitions and statuses, so the number
//! of series stays bounded by the catalog.

use std::{
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tower::BoxError;

/// Upper bounds of every latency histogram (`*_seconds`): 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds of every size histogram (`*_rows`, `*_vectors`).
pub const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 1e5, 1e6,
];

/// The call duration histogram of every gRPC server.
pub const RPC_SERVER_CALL_DURATION: &str = "rpc_server_call_duration_seconds";

static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process records metrics (work done only to export a
/// metric can be skipped otherwise).
pub fn enabled() -> bool {
    INSTALLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the process's recorder and serves it at `addr` (any path
/// answers; scrape `/metrics`). Must run inside the Tokio runtime, once per
/// process.
pub fn install(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_rows".into()), SIZE_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_vectors".into()), SIZE_BUCKETS))
        .and_then(PrometheusBuilder::install)
        .map_err(|e| format!("telemetry.metrics_listen_addr {addr}: {e}"))?;
    INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(%addr, "serving prometheus metrics");
    Ok(())
}

/// The numeric gRPC codes as label values.
const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];
const CANCELLED: usize = 1;
const UNKNOWN: usize = 2;

/// The code of a `grpc-status` value (UNKNOWN for none or a bad one).
fn code_of(value: Option<&http::HeaderValue>) -> usize {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|code| *code < CODES.len())
        .unwrap_or(UNKNOWN)
}

/// The call-duration series of one method, one per status code, each
/// registered with the recorder on its first call: a call then costs no
/// label allocation and no look-up in the recorder.
struct MethodSeries {
    service: String,
    method: String,
    by_code: [std::sync::OnceLock<::metrics::Histogram>; 17],
}

impl MethodSeries {
    fn new(service: &str, method: &str) -> Self {
        Self {
            service: service.to_string(),
            method: method.to_string(),
            by_code: Default::default(),
        }
    }

    fn histogram(&self, code: usize) -> &::metrics::Histogram {
        self.by_code[code].get_or_init(|| {
            ::metrics::histogram!(
                RPC_SERVER_CALL_DURATION,
                "rpc_system" => "grpc",
                "rpc_service" => self.service.clone(),
                "rpc_method" => self.method.clone(),
                "rpc_grpc_status_code" => CODES[code],
            )
        })
    }

    /// The series of the method at `path`. Only paths this process answers
    /// get their own (a client may send anything): any other shares
    /// "unknown", so clients cannot grow the number of series or this map.
    fn of(path: &str) -> std::sync::Arc<MethodSeries> {
        use std::{
            collections::HashMap,
            sync::{Arc, LazyLock, RwLock},
        };
        static KNOWN: LazyLock<RwLock<HashMap<String, Arc<MethodSeries>>>> =
            LazyLock::new(Default::default);
        static UNKNOWN_PATH: LazyLock<Arc<MethodSeries>> =
            LazyLock::new(|| Arc::new(MethodSeries::new("unknown", "unknown")));
        if let Some(series) = KNOWN.read().expect("not poisoned").get(path) {
            return series.clone();
        }
        let known = crate::authz::rules::action_of(path).is_some() || crate::auth::open_path(path);
        match path.trim_start_matches('/').split_once('/') {
            Some((service, method)) if known => KNOWN
                .write()
                .expect("not poisoned")
                .entry(path.to_string())
                .or_insert_with(|| Arc::new(MethodSeries::new(service, method)))
                .clone(),
            _ => UNKNOWN_PATH.clone(),
        }
    }
}

/// One call being timed.
struct Call {
    series: std::sync::Arc<MethodSeries>,
    start: Instant,
}

impl Call {
    fn new(path: &str) -> Self {
        Self {
            series: MethodSeries::of(path),
            start: Instant::now(),
        }
    }

    fn record(self, code: usize) {
        self.series
            .histogram(code)
            .record(self.start.elapsed().as_secs_f64());
    }
}

/// Times every call from its request to its status (the response headers
/// of an error, the trailers of a success, however long the stream) as
/// [`RPC_SERVER_CALL_DURATION`]; a response dropped before its end (the
/// client went away) counts as CANCELLED.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>, Error = BoxError>,
{
    type Response = http::Response<MeteredBody<ResBody>>;
    type Error = BoxError;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        MeteredFuture {
            // Nothing to time when nothing records.
            call: enabled().then(|| Call::new(request.uri().path())),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of a timed call.
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, ResBody> std::future::Future for MeteredFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<ResBody>, BoxError>>,
{
    type Output = Result<http::Response<MeteredBody<ResBody>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // A status in the headers ends the call ("trailers only").
                let call = match (call, response.headers().get("grpc-status")) {
                    (Some(call), Some(code)) => {
                        call.record(code_of(Some(code)));
                        None
                    }
                    (call, _) => call,
                };
                Ok(response.map(|inner| MeteredBody { inner, call }))
            }
            Err(error) => {
                if let Some(call) = call {
                    let code = error
                        .downcast_ref::<tonic::Status>()
                        .map_or(UNKNOWN, |s| s.code() as usize);
                    call.record(code);
                }
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its call's timing at the trailers.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }

    impl<B> PinnedDrop for MeteredBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.record(CANCELLED);
            }
        }
    }
}

impl<B: http_body::Body> http_body::Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = this.call.take()
                {
                    call.record(code_of(trailers.get("grpc-status")));
                }
            }
            // A body that fails or ends without a status.
            Some(Err(_)) | None => {
                if let Some(call) = this.call.take() {
                    call.record(UNKNOWN);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_status_header_and_unknown_paths_share_one_label() {
        assert_eq!(code_of(Some(&http::HeaderValue::from_static("5"))), 5);
        assert_eq!(
            code_of(Some(&http::HeaderValue::from_static("99"))),
            UNKNOWN
        );
        assert_eq!(code_of(None), UNKNOWN);
        let call = Call::new("/featurestore.v1.OnlineServingService/GetFeatureVector");
        assert_eq!(
            (call.series.service.as_str(), call.series.method.as_str()),
            ("featurestore.v1.OnlineServingService", "GetFeatureVector")
        );
        let call = Call::new("/grpc.health.v1.Health/Check");
        assert_eq!(call.series.method, "Check");
        for path in [
            "/x.Y/Z",
            "/featurestore.v1.OnlineServingService/Nope",
            "/",
            "",
        ] {
            let call = Call::new(path);
            assert_eq!(
                (call.series.service.as_str(), call.series.method.as_str()),
                ("unknown", "unknown"),
                "{path}"
            );
        }
    }
}
