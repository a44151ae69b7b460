//! What serving tells Prometheus (see `featurestore_runtime::metrics`), per
//! view (`<project>/<view>`; `<project>/(features)` for a list of
//! features): vectors per request, the time its store reads took, and how
//! many features were answered with each status. A plan holds its view's
//! series ([`ViewMetrics`]), so a request pays neither the label's
//! allocation nor the recorder's look-up.

use std::{sync::OnceLock, time::Duration};

use featurestore_proto::v1::{FeatureSelector, FeatureStatus, FeatureVector, feature_selector};

/// `featurestore_serving_batch_vectors{view}`: vectors per request.
pub const BATCH: &str = "featurestore_serving_batch_vectors";
/// `featurestore_serving_store_read_duration_seconds{view}`.
pub const STORE_READ: &str = "featurestore_serving_store_read_duration_seconds";
/// `featurestore_serving_feature_status_total{view, status}`.
pub const STATUSES: &str = "featurestore_serving_feature_status_total";

/// The `view` label of a request.
pub fn view_label(project: &str, selector: &FeatureSelector) -> String {
    match &selector.selector {
        Some(feature_selector::Selector::View(view)) => format!("{project}/{}", view.name),
        _ => format!("{project}/(features)"),
    }
}

/// Statuses counted: every `FeatureStatus` value.
const STATUS_COUNT: usize = 7;

/// The series of one view, registered with the recorder when first used
/// (a status never answered has no series).
pub struct ViewMetrics {
    view: String,
    batch: OnceLock<metrics::Histogram>,
    store_read: OnceLock<metrics::Histogram>,
    statuses: [OnceLock<metrics::Counter>; STATUS_COUNT],
}

impl std::fmt::Debug for ViewMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewMetrics")
            .field("view", &self.view)
            .finish()
    }
}

impl ViewMetrics {
    pub fn new(view: String) -> Self {
        Self {
            view,
            batch: OnceLock::new(),
            store_read: OnceLock::new(),
            statuses: Default::default(),
        }
    }

    /// Records one answered request.
    pub fn record(&self, vectors: &[FeatureVector], store_read: Duration) {
        self.batch
            .get_or_init(|| metrics::histogram!(BATCH, "view" => self.view.clone()))
            .record(vectors.len() as f64);
        self.store_read
            .get_or_init(|| metrics::histogram!(STORE_READ, "view" => self.view.clone()))
            .record(store_read.as_secs_f64());
        let mut counts = [0u64; STATUS_COUNT];
        for status in vectors.iter().flat_map(|v| &v.statuses) {
            if let Some(count) = usize::try_from(*status)
                .ok()
                .and_then(|s| counts.get_mut(s))
            {
                *count += 1;
            }
        }
        for (status, count) in counts.into_iter().enumerate() {
            if count == 0 {
                continue;
            }
            self.statuses[status]
                .get_or_init(|| {
                    let label = FeatureStatus::try_from(status as i32).map_or("UNSPECIFIED", |s| {
                        s.as_str_name().trim_start_matches("FEATURE_STATUS_")
                    });
                    metrics::counter!(STATUSES, "view" => self.view.clone(), "status" => label)
                })
                .increment(count);
        }
    }
}
