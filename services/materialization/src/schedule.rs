//! Tile corrections on a schedule (`[corrections]`): every `every`, each
//! group with aggregations (online and offline) gets its range due
//! corrected — `lookback` ending where the current tile of its coarsest
//! grain starts, so with daily tiles the previous day, once the day is
//! over. Replicas share the work through claims in the metadata store: the
//! first to create a range's claim (a transaction on its absence) runs it,
//! the others skip it. A claimed range whose replica dies mid-way is not
//! taken up again by the schedule (run it with `StartBackfill`).

use std::sync::Arc;

use featurestore_domain::aggregation::Aggregations;
use featurestore_metastore::{Condition, MetastoreError, Op};
use featurestore_proto::v1::FeatureGroup;
use featurestore_runtime::Shutdown;

use crate::{admin::AdminGrpc, config::CorrectionSettings};

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
    let mut tick = tokio::time::interval(settings.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lookback = settings.lookback.as_micros() as i64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
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
            if let Err(e) = correct_due(&admin, &group, lookback).await {
                tracing::warn!(group = %group.name, project = %group.project, error = %e, "scheduled tile correction failed");
            }
        }
    }
}

async fn correct_due(admin: &AdminGrpc, group: &FeatureGroup, lookback: i64) -> Result<(), String> {
    let Some(aggregations) = Aggregations::of(group) else {
        return Ok(());
    };
    let coarsest = aggregations.grains.all().last().copied().unwrap_or(1);
    let now = crate::admin::now_micros();
    let (from, to) = due_range(now, coarsest, lookback);
    // Nothing in the offline table yet, or nothing as old as the range.
    if admin.check_range(group, from).await.is_err() {
        return Ok(());
    }
    if !claim(admin, group, to)
        .await
        .map_err(|e| format!("claiming [{from}, {to}): {e}"))?
    {
        return Ok(());
    }
    tracing::info!(group = %group.name, project = %group.project, from, to, "scheduled tile correction");
    admin
        .correct_as(
            "scheduled",
            group,
            &aggregations,
            (from, to),
            crate::correction::Bucket::ALL,
        )
        .await
        .map(drop)
}

/// Whether this replica takes the range ending at `to` (and drops the
/// group's older claims).
async fn claim(admin: &AdminGrpc, group: &FeatureGroup, to: i64) -> Result<bool, MetastoreError> {
    let (store, keys) = admin.materializer().progress().store();
    let prefix = keys.correction_claims_prefix(&group.project, &group.name, group.version);
    let key = format!("{prefix}{:020}", to.max(0));
    let listing = store.list(&prefix).await?;
    if listing.kvs.iter().any(|kv| kv.key == key) {
        return Ok(false);
    }
    let mut ops = vec![Op::put(
        key.clone(),
        admin.materializer().consumer().as_bytes().to_vec(),
    )];
    ops.extend(
        listing
            .kvs
            .iter()
            .filter(|kv| kv.key < key)
            .map(|kv| Op::delete(kv.key.clone())),
    );
    match store.txn(vec![Condition::absent(key)], ops).await {
        Ok(_) => Ok(true),
        Err(MetastoreError::Conflict) => Ok(false),
        Err(e) => Err(e),
    }
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
