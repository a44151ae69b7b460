//! Bootstraps of aggregations added in place: their history computed from
//! the event group's offline table while the stream goes on.
//!
//! The registry writes the group's [`AggregationBootstrap`] record
//! (BACKFILLING) in the transaction that adds the aggregations, so serving
//! never sees them without it and answers `FEATURE_STATUS_BACKFILLING`
//! instead of a count of only the events streamed since. The first replica
//! to take it up splits it into parts ([`crate::correction::parts`]: key-hash
//! shares, as many as the memory budget needs and, for a large history,
//! up to one per partition) that the replicas share (`crate::parts`): each
//! part a tile correction of the whole history for its keys
//! (`crate::correction`, whose boundary is the log offset: events the
//! offline table holds are folded from it, later ones are the stream's,
//! none counted twice or missed) — of the lifetime tiles only when every
//! aggregation added is a lifetime one. Once every part is done the record is
//! READY with their reports summed. A part whose replica was killed runs
//! again, and since a correction replaces tiles with what the offline
//! table says, the result is the same. An aggregation added meanwhile
//! rewrites the record without its parts: the running replicas' next
//! renewal fails, they stop, and the bootstrap starts over with the new
//! definition.

use std::time::Duration;

use featurestore_domain::names::topic_name;
use featurestore_proto::v1::{AggregationBootstrap, DriftReport, FeatureGroup, FeatureGroupRef};
use featurestore_runtime::Shutdown;

use crate::{
    admin::{AdminGrpc, now_micros},
    parts::{self, RENEW, Record, Shared},
};

/// How long a run waits for the offline table to hold what the log held
/// when it started.
const WAIT_OFFLINE: Duration = Duration::from_secs(60);
/// Event times of the whole history (wider than any real one; the
/// correction widens them to whole tiles).
const HISTORY: (i64, i64) = (i64::MIN / 4, i64::MAX / 4);

/// Runs until `shutdown`: takes up each bootstrap with work due, one part
/// at a time.
pub async fn run(admin: AdminGrpc, shutdown: Shutdown) {
    let mut changes = admin.materializer().catalog().subscribe();
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            Ok(()) = changes.changed() => {}
        }
        let now = now_micros();
        let due: Vec<FeatureGroupRef> = admin
            .materializer()
            .catalog()
            .snapshot()
            .bootstraps()
            .filter(|b| b.running())
            .filter(|b| b.parts.is_empty() || parts::claimable(&b.parts, now).is_some())
            .filter_map(|b| b.group.clone())
            .collect();
        for group in due {
            if let Err(e) = run_due(&admin, &group, &shutdown).await {
                tracing::warn!(group = %group.name, project = %group.project, error = %e, "aggregation bootstrap");
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// Waits until the offline table of `group` holds every record its log
/// held when called. The correction folds only what the table holds and
/// visits the keys it finds there, so every event the stream folded
/// before it knew the new aggregations — all before the log's end now,
/// as this replica sees the group with them — must be in the table first.
async fn offline_caught_up(admin: &AdminGrpc, group: &FeatureGroup) -> Result<(), String> {
    let topic = topic_name(&group.project, &group.name, group.version);
    let ends = admin
        .log()
        .end_offsets(&topic)
        .await
        .map_err(|e| format!("{topic}: {e}"))?;
    let deadline = tokio::time::Instant::now() + WAIT_OFFLINE;
    loop {
        let status = admin
            .status_of(group)
            .await
            .map_err(|s| s.message().to_string())?;
        // Behind: short of the end read, and records left (a partition
        // whose last offset is a transaction marker never reaches it).
        let behind: Vec<String> = status
            .partitions
            .iter()
            .filter(|p| {
                let end = usize::try_from(p.partition)
                    .ok()
                    .and_then(|i| ends.get(i))
                    .copied()
                    .unwrap_or(0);
                p.committed_offset < end && p.lag > 0
            })
            .map(|p| format!("{} ({} records)", p.partition, p.lag))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the offline table is still behind the log after {WAIT_OFFLINE:?} in partitions {}",
                behind.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs parts of the bootstrap of `group` while some are left to claim.
async fn run_due(
    admin: &AdminGrpc,
    group: &FeatureGroupRef,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let (store, keys) = admin.materializer().progress().store();
    let record = Record::<AggregationBootstrap>::new(
        store.as_ref(),
        keys.bootstrap(&group.project, &group.name, group.version),
    );
    let Some((revision, stored)) = record.read().await? else {
        return Ok(());
    };
    if !stored.running() {
        return Ok(());
    }
    let requested = stored.requested_micros;
    // The group as it was when the record was written (or later).
    admin
        .materializer()
        .catalog()
        .wait_for_revision(revision, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let Some((definition, aggregations)) = admin.aggregated(group) else {
        // Deleted, or no aggregations left: nothing to fill.
        record
            .change(|r| {
                let due = r.requested_micros == requested && r.running();
                if due {
                    r.message = "no aggregation left to fill".into();
                    r.finish(DriftReport::default());
                }
                due
            })
            .await?;
        return Ok(());
    };
    let definition = definition.as_ref();
    if stored.parts.is_empty() {
        // Split by the size of the whole history.
        offline_caught_up(admin, definition).await?;
        let n = admin.parts(definition, &aggregations).await?;
        record
            .change(|r| {
                let first = r.requested_micros == requested && r.parts.is_empty();
                if first {
                    r.parts = parts::split(n);
                }
                first
            })
            .await?;
    }
    let doing = "computing the tiles of the whole history from the offline table";
    // Lifetime aggregations live in the lifetime tiles alone: adding only
    // those leaves every grain tile as it is.
    let grain_tiles = stored
        .aggregations
        .iter()
        .any(|name| aggregations.get(name).is_none_or(|f| f.window.is_some()));
    let aggregations = &aggregations;
    let work = |part| async move {
        offline_caught_up(admin, definition).await?;
        admin
            .correct_as(
                "bootstrap",
                definition,
                aggregations,
                HISTORY,
                part,
                grain_tiles,
            )
            .await
    };
    let runner = admin.runner();
    if let Some(total) = parts::run(&record, runner, requested, doing, work, shutdown).await? {
        admin.keep_report(definition, &total).await?;
    }
    Ok(())
}
