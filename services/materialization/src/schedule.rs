//! Tile corrections on a schedule (`[corrections]`): every `every`, each
//! group with aggregations (online and offline) gets its range due
//! corrected — `lookback` ending where the current tile of its coarsest
//! grain starts, so with daily tiles the previous day, once the day is
//! over. The first replica to find a range due writes its [`CorrectionRun`]
//! (a transaction on its absence), split into parts
//! ([`crate::correction::parts`]); the replicas share the parts
//! (`crate::parts`), and a part whose replica dies mid-way runs again once
//! its claim lapses. The last part done closes the run and keeps the
//! report.

use std::sync::Arc;

use featurestore_domain::aggregation::Aggregations;
use featurestore_metastore::{Condition, MetastoreError, Op};
use featurestore_proto::v1::{CorrectionRun, FeatureGroup, FeatureGroupRef, ResourceState};
use featurestore_runtime::Shutdown;
use prost::Message as _;

use crate::{
    admin::{AdminGrpc, now_micros},
    config::CorrectionSettings,
    parts::{self, RENEW, Record, Shared},
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
    let runner = format!(
        "{}/{}",
        admin.materializer().consumer(),
        uuid::Uuid::new_v4().simple()
    );
    let mut due = tokio::time::interval(settings.every);
    due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Parts of runs written by others, or left by a replica that died.
    let mut left = tokio::time::interval(RENEW.min(settings.every));
    left.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lookback = settings.lookback.as_micros() as i64;
    loop {
        let write = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = due.tick() => true,
            _ = left.tick() => false,
        };
        if write {
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
        if let Err(e) = run_left(&admin, &runner, &shutdown).await {
            tracing::warn!(error = %e, "scheduled tile correction");
        }
    }
}

/// Writes the run of `group`'s range due unless a replica did (and drops
/// the group's older runs that are over).
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
    let key = format!("{prefix}{:020}", to.max(0));
    let listing = store.list(&prefix).await.map_err(|e| e.to_string())?;
    if listing.kvs.iter().any(|kv| kv.key == key) {
        return Ok(());
    }
    let n = admin.parts(group, &aggregations).await?;
    let run = CorrectionRun {
        group: Some(FeatureGroupRef {
            project: group.project.clone(),
            name: group.name.clone(),
            version: group.version,
        }),
        start_time_micros: from,
        end_time_micros: to,
        state: ResourceState::Pending as i32,
        requested_micros: now_micros(),
        parts: parts::split(n),
        ..Default::default()
    };
    let mut ops = vec![Op::put(key.clone(), run.encode_to_vec())];
    ops.extend(
        listing
            .kvs
            .iter()
            .filter(|kv| kv.key < key)
            .filter(|kv| CorrectionRun::decode(kv.value.as_slice()).is_ok_and(|r| !r.running()))
            .map(|kv| Op::delete(kv.key.clone())),
    );
    match store.txn(vec![Condition::absent(key)], ops).await {
        Ok(_) => {
            tracing::info!(group = %group.name, project = %group.project, from, to, parts = n, "scheduled tile correction");
            Ok(())
        }
        Err(MetastoreError::Conflict) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs the parts left to claim of every scheduled correction.
async fn run_left(admin: &AdminGrpc, runner: &str, shutdown: &Shutdown) -> Result<(), String> {
    let (store, keys) = admin.materializer().progress().store();
    let listing = store
        .list(&keys.correction_runs())
        .await
        .map_err(|e| e.to_string())?;
    let now = now_micros();
    for kv in listing.kvs {
        let Ok(run) = CorrectionRun::decode(kv.value.as_slice()) else {
            continue;
        };
        if !run.running() || parts::claimable(&run.parts, now).is_none() {
            continue;
        }
        let record = Record::<CorrectionRun>::new(store.as_ref(), kv.key.clone());
        if let Err(e) = run_parts(admin, runner, &record, &run, shutdown).await {
            tracing::warn!(run = %kv.key, error = %e, "scheduled tile correction");
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    Ok(())
}

/// This replica's share of `run`.
async fn run_parts(
    admin: &AdminGrpc,
    runner: &str,
    record: &Record<'_, CorrectionRun>,
    run: &CorrectionRun,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let group = run.group.clone().unwrap_or_default();
    // Not known to this replica's catalog yet, or deleted: left alone.
    let Some((definition, aggregations)) = admin.aggregated(&group) else {
        return Ok(());
    };
    let definition = definition.as_ref();
    let range = (run.start_time_micros, run.end_time_micros);
    let doing = format!("correcting the tiles of [{}, {})", range.0, range.1);
    let aggregations = &aggregations;
    let work = |part| admin.correct_as("scheduled", definition, aggregations, range, part);
    if let Some(total) =
        parts::run(record, runner, run.requested_micros, &doing, work, shutdown).await?
    {
        admin.keep_report(definition, &total).await?;
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
