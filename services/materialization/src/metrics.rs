//! What materialization tells Prometheus (see `featurestore_runtime::metrics`),
//! per group (`<project>/<group>`) and sink (`online`, `offline`): rows
//! applied, events folded into tiles and tile writes, Delta commit time,
//! and the watermark per partition — the newest event time applied, as
//! Unix seconds, so `time() - featurestore_materialization_watermark_seconds`
//! is the group's freshness where events keep arriving.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use featurestore_domain::FeatureGroupId;

/// `featurestore_materialization_rows_total{group, sink}`.
pub const ROWS: &str = "featurestore_materialization_rows_total";
/// `featurestore_materialization_events_folded_total{group}`.
pub const EVENTS_FOLDED: &str = "featurestore_materialization_events_folded_total";
/// `featurestore_materialization_tile_writes_total{group}`.
pub const TILE_WRITES: &str = "featurestore_materialization_tile_writes_total";
/// `featurestore_materialization_delta_commit_duration_seconds{group}`.
pub const DELTA_COMMIT: &str = "featurestore_materialization_delta_commit_duration_seconds";
/// `featurestore_materialization_watermark_seconds{group, partition, sink}`.
pub const WATERMARK: &str = "featurestore_materialization_watermark_seconds";

fn group_label(group: &FeatureGroupId) -> String {
    format!("{}/{}", group.project, group.name)
}

fn sink(online: bool) -> &'static str {
    if online { "online" } else { "offline" }
}

pub fn rows(group: &FeatureGroupId, online: bool, rows: usize) {
    if rows > 0 {
        metrics::counter!(ROWS, "group" => group_label(group), "sink" => sink(online))
            .increment(rows as u64);
    }
}

pub fn folded(group: &FeatureGroupId, events: u64, tile_writes: u64) {
    let label = group_label(group);
    metrics::counter!(EVENTS_FOLDED, "group" => label.clone()).increment(events);
    metrics::counter!(TILE_WRITES, "group" => label).increment(tile_writes);
}

pub fn delta_commit(group: &FeatureGroupId, took: Duration) {
    metrics::histogram!(DELTA_COMMIT, "group" => group_label(group)).record(took.as_secs_f64());
}

/// The watermarks exported so far: a gauge only moves forward (a late
/// event applied after newer ones does not make a group look older).
#[derive(Debug, Default)]
pub struct Watermarks(Mutex<HashMap<(FeatureGroupId, i32, bool), i64>>);

impl Watermarks {
    pub fn advance(&self, group: &FeatureGroupId, partition: i32, online: bool, micros: i64) {
        if micros <= 0 {
            return;
        }
        let mut exported = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = exported
            .entry((group.clone(), partition, online))
            .or_insert(i64::MIN);
        if micros <= *slot {
            return;
        }
        *slot = micros;
        metrics::gauge!(
            WATERMARK,
            "group" => group_label(group),
            "partition" => partition.to_string(),
            "sink" => sink(online),
        )
        .set(micros as f64 / 1e6);
    }
}
