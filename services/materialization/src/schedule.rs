//! Tile corrections on a schedule (`[corrections]`): every `every`, each
//! group with aggregations (online and offline) gets its range due
//! corrected — `lookback` ending where the current tile of its coarsest
//! grain starts, so with daily tiles the previous day, once the day is
//! over. The first replica to find a range due writes its run (a
//! transaction on its absence; `crate::runs`), which every replica then
//! shares in parts.

use std::sync::Arc;

use featurestore_domain::aggregation::Aggregations;
use featurestore_proto::v1::FeatureGroup;
use featurestore_runtime::Shutdown;

use crate::{
    admin::{AdminGrpc, now_micros},
    config::CorrectionSettings,
    runs::{self, NewRun},
};

/// `[from, to)` due at `now` (µs) for `coarsest` grain tiles and a
/// `lookback` (µs).
pub fn due_range(now: i64, coarsest: i64, lookback: i64) -> (i64, i64) {
    let to = now.div_euclid(coarsest) * coarsest;
    (to - lookback, to)
}

/// Runs until `shutdown`.
pub async fn run(admin: AdminGrpc, settings: CorrectionSettings, shutdown: Shutdown) {
    if settings.every.is_zero() {
        return;
    }
    let mut due = tokio::time::interval(settings.every);
    due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lookback = settings.lookback.as_micros() as i64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = due.tick() => {}
        }
        let groups: Vec<Arc<FeatureGroup>> = admin
            .materializer()
            .catalog()
            .snapshot()
            .feature_groups()
            .filter(|g| !g.aggregations.is_empty() && g.online_enabled && g.offline_enabled)
            .cloned()
            .collect();
        for group in groups {
            if let Err(e) = write_due(&admin, &group, lookback).await {
                tracing::warn!(group = %group.name, project = %group.project, error = %e, "scheduling a tile correction");
            }
        }
    }
}

/// Writes the run of `group`'s range due unless a replica did (and drops
/// the group's runs that are over).
async fn write_due(admin: &AdminGrpc, group: &FeatureGroup, lookback: i64) -> Result<(), String> {
    let Some(aggregations) = Aggregations::of(group) else {
        return Ok(());
    };
    let coarsest = aggregations.grains.all().last().copied().unwrap_or(1);
    let (from, to) = due_range(now_micros(), coarsest, lookback);
    // Nothing in the offline table yet, or nothing as old as the range.
    if admin.check_range(group, from).await.is_err() {
        return Ok(());
    }
    let (store, keys) = admin.materializer().progress().store();
    let prefix = keys.correction_runs_prefix(&group.project, &group.name, group.version);
    let name = format!("{:020}", to.max(0));
    let listing = store.list(&prefix).await.map_err(|e| e.to_string())?;
    if listing.kvs.iter().any(|kv| kv.key.ends_with(&name)) {
        return Ok(());
    }
    let new = NewRun {
        group,
        aggregations: &aggregations,
        range: (from, to),
        kind: "scheduled",
        job: "",
    };
    if let Some((_, run)) = runs::write(admin, &new, &name, &runs::over(&listing.kvs)).await? {
        tracing::info!(group = %group.name, project = %group.project, from, to, parts = run.parts.len(), "scheduled tile correction");
        admin.wake_runs();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_due_ends_where_the_current_coarsest_tile_starts() {
        let day = 86_400_000_000;
        let now = 20_000 * day + 3_600_000_000;
        assert_eq!(due_range(now, day, day), (19_999 * day, 20_000 * day));
        assert_eq!(
            due_range(20_000 * day, day, 2 * day),
            (19_998 * day, 20_000 * day)
        );
    }
}
