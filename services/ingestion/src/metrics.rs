//! What ingestion tells Prometheus (see `featurestore_runtime::metrics`),
//! per group (`<project>/<group>`): rows accepted (appended to the log)
//! and rejected (a request refused for bad rows refuses all of its rows),
//! and how long appends took.

use std::time::Duration;

use crate::validate::GroupSchema;

/// `featurestore_ingestion_rows_total{group, outcome}`.
pub const ROWS: &str = "featurestore_ingestion_rows_total";
/// `featurestore_ingestion_append_duration_seconds{group}`.
pub const APPEND: &str = "featurestore_ingestion_append_duration_seconds";

fn group_label(schema: &GroupSchema) -> String {
    format!("{}/{}", schema.group.project, schema.group.name)
}

/// `rows` appended in `took` (a replayed answer appends nothing and is not
/// counted).
pub fn appended(schema: &GroupSchema, rows: usize, took: Duration) {
    let group = group_label(schema);
    metrics::counter!(ROWS, "group" => group.clone(), "outcome" => "accepted")
        .increment(rows as u64);
    metrics::histogram!(APPEND, "group" => group).record(took.as_secs_f64());
}

/// A request of `rows` refused for bad rows.
pub fn rejected(schema: &GroupSchema, rows: u64) {
    metrics::counter!(ROWS, "group" => group_label(schema), "outcome" => "rejected")
        .increment(rows);
}
