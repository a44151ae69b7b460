//! What materialization tells Prometheus (see `featurestore_runtime::metrics`),
//! per group (`<project>/<group>`) and sink (`online`, `offline`): rows
//! applied, events folded into tiles and tile writes, Delta commit time,
//! what tile corrections compared and changed,
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
/// `featurestore_materialization_catalog_wait_records_total`: records held
/// because their group version is not in the catalog yet (counted again
/// on each retry).
pub const CATALOG_WAIT: &str = "featurestore_materialization_catalog_wait_records_total";
/// `featurestore_materialization_watermark_seconds{group, partition, sink}`.
pub const WATERMARK: &str = "featurestore_materialization_watermark_seconds";

/// `featurestore_materialization_correction_tiles_total{group, outcome}`:
/// tiles a correction compared (`compared`) and replaced (`changed`).
pub const CORRECTION_TILES: &str = "featurestore_materialization_correction_tiles_total";
/// `featurestore_materialization_correction_drift_ratio{group}`: the largest
/// relative difference the group's last correction found (0: none).
pub const CORRECTION_DRIFT: &str = "featurestore_materialization_correction_drift_ratio";

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

/// A finished correction of `group`'s tiles.
pub fn corrected(group: &FeatureGroupId, report: &featurestore_proto::v1::DriftReport) {
    let label = group_label(group);
    metrics::counter!(CORRECTION_TILES, "group" => label.clone(), "outcome" => "compared")
        .increment(report.tiles_compared);
    metrics::counter!(CORRECTION_TILES, "group" => label.clone(), "outcome" => "changed")
        .increment(report.tiles_changed);
    metrics::gauge!(CORRECTION_DRIFT, "group" => label).set(report.max_rel_diff);
}

/// `records` held waiting for the catalog.
pub fn catalog_wait(records: usize) {
    metrics::counter!(CATALOG_WAIT).increment(records as u64);
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

/// `featurestore_materialization_lag_records{group, sink}`: records in the
/// log not yet applied to the sink.
pub const LAG_RECORDS: &str = "featurestore_materialization_lag_records";
/// `featurestore_materialization_lag_seconds{group, sink}`: how far the
/// sink's watermark trails now while records wait (0 when caught up).
pub const LAG_SECONDS: &str = "featurestore_materialization_lag_seconds";
/// `featurestore_materialization_partition_lag_records{group, partition}`:
/// records of the partition not yet committed.
pub const PARTITION_LAG: &str = "featurestore_materialization_partition_lag_records";

/// How often the lag is read (log ends, consumer positions, progress).
const LAG_EVERY: Duration = Duration::from_secs(10);

/// Exports every group's lag (the numbers of `GetMaterializationStatus`)
/// every [`LAG_EVERY`] until `shutdown`, when metrics are recorded.
pub async fn export_lag(
    admin: crate::admin::AdminGrpc,
    catalog: std::sync::Arc<featurestore_catalog::CatalogCache>,
    shutdown: featurestore_runtime::Shutdown,
) {
    if !featurestore_runtime::metrics::enabled() {
        return;
    }
    loop {
        let groups: Vec<_> = catalog.snapshot().feature_groups().cloned().collect();
        for group in groups {
            let status = match admin.status_of(&group).await {
                Ok(status) => status,
                Err(e) => {
                    tracing::debug!(group = %group.name, error = %e, "lag not read");
                    continue;
                }
            };
            let label = format!("{}/{}", group.project, group.name);
            for (online, enabled, records, seconds) in [
                (
                    true,
                    group.online_enabled,
                    status.online_lag_records,
                    status.online_lag_seconds,
                ),
                (
                    false,
                    group.offline_enabled,
                    status.offline_lag_records,
                    status.offline_lag_seconds,
                ),
            ] {
                if enabled {
                    metrics::gauge!(LAG_RECORDS, "group" => label.clone(), "sink" => sink(online))
                        .set(records as f64);
                    metrics::gauge!(LAG_SECONDS, "group" => label.clone(), "sink" => sink(online))
                        .set(seconds as f64);
                }
            }
            for p in &status.partitions {
                metrics::gauge!(
                    PARTITION_LAG,
                    "group" => label.clone(),
                    "partition" => p.partition.to_string(),
                )
                .set(p.lag as f64);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LAG_EVERY) => {}
        }
    }
}
