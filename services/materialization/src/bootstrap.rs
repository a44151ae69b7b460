//! Bootstraps of aggregations added in place: their history computed from
//! the event group's offline table while the stream goes on.
//!
//! The registry writes the group's [`AggregationBootstrap`] record
//! (BACKFILLING) in the transaction that adds the aggregations, so serving
//! never sees them without it and answers `FEATURE_STATUS_BACKFILLING`
//! instead of a count of only the events streamed since. A replica claims
//! the record — a compare-and-set that names it the runner until
//! `claimed_until`, renewed while it works — and runs a tile correction of
//! the whole history (`crate::correction`, whose boundary is the log
//! offset: events the offline table holds are folded from it, later ones
//! are the stream's, none counted twice or missed). Then it marks the
//! record READY with the correction's report. A replica killed mid-way
//! stops renewing: once its claim lapses another replica (or the same one,
//! restarted) starts over, and since a correction replaces tiles with what
//! the offline table says, the result is the same. An aggregation added
//! meanwhile rewrites the record: the running replica's next renewal
//! fails, it stops, and the bootstrap starts over with the new definition.

use std::{pin::pin, time::Duration};

use featurestore_domain::{aggregation::Aggregations, names::topic_name};
use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op, Revision};
use featurestore_proto::v1::{
    AggregationBootstrap, DriftReport, FeatureGroup, FeatureGroupRef, ResourceState,
};
use featurestore_runtime::Shutdown;
use prost::Message as _;

use crate::admin::{AdminGrpc, now_micros};

/// How long a claim holds unless renewed, and how often it is renewed.
const CLAIM: Duration = Duration::from_secs(15);
const RENEW: Duration = Duration::from_secs(5);
/// How long a failed or unfinished bootstrap waits before the next run.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How long a run waits for the offline table to hold what the log held
/// when it started.
const WAIT_OFFLINE: Duration = Duration::from_secs(60);
/// Event times of the whole history (wider than any real one; the
/// correction widens them to whole tiles).
const HISTORY: (i64, i64) = (i64::MIN / 4, i64::MAX / 4);

/// Runs until `shutdown`: takes up each bootstrap due, one at a time.
pub async fn run(admin: AdminGrpc, shutdown: Shutdown) {
    let runner = format!(
        "{}/{}",
        admin.materializer().consumer(),
        uuid::Uuid::new_v4().simple()
    );
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
            .filter(|b| b.state() == ResourceState::Backfilling && b.claimed_until_micros <= now)
            .filter_map(|b| b.group.clone())
            .collect();
        for group in due {
            if let Err(e) = run_one(&admin, &runner, &group, &shutdown).await {
                tracing::warn!(group = %group.name, project = %group.project, error = %e, "aggregation bootstrap");
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// The record of `group` in the metadata store, and where it is kept.
struct Record<'a> {
    store: &'a dyn MetadataStore,
    key: String,
    revision: Revision,
    value: AggregationBootstrap,
}

impl Record<'_> {
    /// Writes `value` if the record is still the one read or last written;
    /// `false` when it changed meanwhile.
    async fn put(&mut self) -> Result<bool, MetastoreError> {
        match self
            .store
            .txn(
                vec![Condition::at(&self.key, self.revision)],
                vec![Op::put(&self.key, self.value.encode_to_vec())],
            )
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                Ok(true)
            }
            Err(MetastoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the record up: no runner, not retried before `not_before`.
    fn release(&mut self, not_before: i64, message: String) {
        self.value.runner.clear();
        self.value.claimed_until_micros = not_before;
        self.value.message = message;
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

/// Claims and runs the bootstrap of `group` if it is still due.
async fn run_one(
    admin: &AdminGrpc,
    runner: &str,
    group: &FeatureGroupRef,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let (store, keys) = admin.materializer().progress().store();
    let key = keys.bootstrap(&group.project, &group.name, group.version);
    let Some(kv) = store.get(&key).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let mut record = Record {
        store: store.as_ref(),
        key,
        revision: kv.mod_revision,
        value: AggregationBootstrap::decode(kv.value.as_slice()).map_err(|e| e.to_string())?,
    };
    if record.value.state() != ResourceState::Backfilling
        || record.value.claimed_until_micros > now_micros()
    {
        return Ok(());
    }
    record.value.runner = runner.to_string();
    record.value.claimed_until_micros = now_micros() + CLAIM.as_micros() as i64;
    record.value.attempts += 1;
    record.value.message = "computing the tiles of the whole history from the offline table".into();
    if !record.put().await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    // The group as it was when the record was written (or later).
    let catalog = admin.materializer().catalog();
    catalog
        .wait_for_revision(kv.mod_revision, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let definition = catalog
        .snapshot()
        .feature_group(&group.project, &group.name, group.version)
        .cloned();
    let outcome = match definition
        .as_deref()
        .and_then(|g| Aggregations::of(g).map(|a| (g, a)))
    {
        // Deleted, or no aggregations left: nothing to fill.
        None => Some(Ok(DriftReport::default())),
        Some((definition, aggregations)) => {
            let mut work = pin!(async {
                offline_caught_up(admin, definition).await?;
                admin
                    .correct_as("bootstrap", definition, &aggregations, HISTORY.0, HISTORY.1)
                    .await
            });
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW, RENEW);
            loop {
                tokio::select! {
                    result = &mut work => break Some(result),
                    _ = shutdown.cancelled() => {
                        // Let a restart take it up at once.
                        record.release(0, "interrupted by a shutdown; starts over".into());
                        let _ = record.put().await;
                        break None;
                    }
                    _ = renew.tick() => {
                        record.value.claimed_until_micros = now_micros() + CLAIM.as_micros() as i64;
                        match record.put().await {
                            Ok(true) => {}
                            // Restarted by the registry, taken over after a
                            // lapse, or deleted with its group.
                            Ok(false) => break None,
                            Err(e) => tracing::warn!(error = %e, "renewing an aggregation bootstrap's claim"),
                        }
                    }
                }
            }
        }
    };
    let Some(outcome) = outcome else {
        return Ok(());
    };
    let retry = now_micros() + RETRY_AFTER.as_micros() as i64;
    match outcome {
        Ok(report) if report.tiles_deferred == 0 => {
            record.release(
                0,
                format!(
                    "{} events of the offline table folded, {} of {} tiles replaced",
                    report.events_read, report.tiles_changed, report.tiles_compared
                ),
            );
            record.value.state = ResourceState::Ready as i32;
            record.value.finished_micros = now_micros();
            record.value.drift = Some(report);
        }
        Ok(report) => {
            record.release(
                retry,
                format!(
                    "{} tiles kept receiving events the offline table did not hold yet; starts over",
                    report.tiles_deferred
                ),
            );
            record.value.drift = Some(report);
        }
        Err(e) => record.release(retry, format!("failed, starts over: {e}")),
    }
    // A change meanwhile (an aggregation added) leaves it for the next run.
    record.put().await.map_err(|e| e.to_string())?;
    Ok(())
}
