//! What the offline query service tells Prometheus (see
//! `featurestore_runtime::metrics`): rows and Arrow bytes streamed to
//! clients over Flight `DoGet` (historical features, group reads, training
//! datasets). Query time is the `DoGet` call's
//! `rpc_server_call_duration_seconds`, which ends with the stream. And the
//! span of a historical query's planning.

use arrow_array::RecordBatch;
use featurestore_proto::v1::{
    GetHistoricalFeaturesRequest, consistency::Level, get_historical_features_request::Features,
};

/// `featurestore_offline_rows_total`.
pub const ROWS: &str = "featurestore_offline_rows_total";
/// `featurestore_offline_bytes_total`: Arrow memory of the batches streamed.
pub const BYTES: &str = "featurestore_offline_bytes_total";

/// `featurestore_offline_spill_bytes`: what the queries' spill files take
/// on disk (sorts larger than `query.memory_limit_bytes`), as of the
/// latest batch streamed.
pub const SPILL: &str = "featurestore_offline_spill_bytes";

/// One batch on its way to a client, while spills take `spill_bytes`.
pub fn streamed(batch: &RecordBatch, spill_bytes: u64) {
    metrics::counter!(ROWS).increment(batch.num_rows() as u64);
    metrics::counter!(BYTES).increment(batch.get_array_memory_size() as u64);
    metrics::gauge!(SPILL).set(spill_bytes as f64);
}

/// The span planning a `GetHistoricalFeatures`, naming the view (or
/// `(features)`), and the consistency level, when the request is traced.
pub fn historical_span(request: &GetHistoricalFeaturesRequest) -> tracing::Span {
    if !featurestore_runtime::telemetry::is_traced(&tracing::Span::current()) {
        return tracing::Span::none();
    }
    let view = match &request.features {
        Some(Features::View(view)) => format!("{}/{}", request.project, view.name),
        _ => format!("{}/(features)", request.project),
    };
    let level = request.consistency.as_ref().map_or("NONE", |c| {
        Level::try_from(c.level).map_or("UNSPECIFIED", |l| {
            l.as_str_name().trim_start_matches("LEVEL_")
        })
    });
    tracing::info_span!(
        "plan historical features",
        featurestore.view = %view,
        featurestore.consistency = level,
    )
}
