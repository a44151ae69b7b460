//! Bootstraps of aggregations added in place: their history computed from
//! the event group's offline table while the stream goes on.
//!
//! The registry writes the group's [`AggregationBootstrap`] record
//! (BACKFILLING) in the transaction that adds the aggregations, so serving
//! never sees them without it and answers `FEATURE_STATUS_BACKFILLING`
//! instead of a count of only the events streamed since. The first replica
//! to take it up splits it into parts ([`crate::correction::parts`]: key-hash
//! shares, as many as the memory budget needs and, for a large history,
//! up to one per partition). Each replica claims one part at a time — a
//! compare-and-set that names it the part's runner until `claimed_until`,
//! renewed while it works — and runs a tile correction of the whole
//! history for the part's keys (`crate::correction`, whose boundary is the
//! log offset: events the offline table holds are folded from it, later
//! ones are the stream's, none counted twice or missed). A part done keeps
//! its report; the replica that finishes the last one marks the record
//! READY with their sum. A replica killed mid-way stops renewing: once its
//! claim lapses another replica (or the same one, restarted) runs that
//! part again — the parts done stay done — and since a correction replaces
//! tiles with what the offline table says, the result is the same. An
//! aggregation added meanwhile rewrites the record without its parts: the
//! running replicas' next renewal fails, they stop, and the bootstrap
//! starts over with the new definition.

use std::{pin::pin, time::Duration};

use featurestore_domain::{aggregation::Aggregations, names::topic_name};
use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op};
use featurestore_proto::v1::{
    AggregationBootstrap, CorrectionPart, DriftReport, FeatureGroup, FeatureGroupRef, ResourceState,
};
use featurestore_runtime::Shutdown;
use prost::Message as _;

use crate::{
    admin::{AdminGrpc, now_micros},
    correction::{self, Bucket},
};

/// How long a claim holds unless renewed, and how often it is renewed.
const CLAIM: Duration = Duration::from_secs(15);
const RENEW: Duration = Duration::from_secs(5);
/// How long a failed or unfinished part waits before the next run.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How long a run waits for the offline table to hold what the log held
/// when it started.
const WAIT_OFFLINE: Duration = Duration::from_secs(60);
/// Event times of the whole history (wider than any real one; the
/// correction widens them to whole tiles).
const HISTORY: (i64, i64) = (i64::MIN / 4, i64::MAX / 4);
/// Writes of the record that lose to another replica's before one wins.
const CONFLICTS: usize = 50;

/// Runs until `shutdown`: takes up each bootstrap with work due, one part
/// at a time.
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
            .filter(|b| b.state() == ResourceState::Backfilling)
            .filter(|b| b.parts.is_empty() || claimable(b, now).is_some())
            .filter_map(|b| b.group.clone())
            .collect();
        for group in due {
            if let Err(e) = run_due(&admin, &runner, &group, &shutdown).await {
                tracing::warn!(group = %group.name, project = %group.project, error = %e, "aggregation bootstrap");
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// A part of `record` no replica holds (claim lapsed) that is not done.
fn claimable(record: &AggregationBootstrap, now: i64) -> Option<usize> {
    record
        .parts
        .iter()
        .position(|p| !p.done && p.claimed_until_micros <= now)
}

/// The record of a group in the metadata store, changed by
/// compare-and-set against the other replicas' writes.
struct Record<'a> {
    store: &'a dyn MetadataStore,
    key: String,
}

impl Record<'_> {
    async fn read(&self) -> Result<Option<(i64, AggregationBootstrap)>, String> {
        let Some(kv) = self.store.get(&self.key).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let value = AggregationBootstrap::decode(kv.value.as_slice()).map_err(|e| e.to_string())?;
        Ok(Some((kv.mod_revision, value)))
    }

    /// Applies `change` to the record as stored and writes it, again on
    /// the newer record when another replica wrote first; `change` answers
    /// `false` to leave it alone. The record written, or `None` (gone, or
    /// left alone).
    async fn change(
        &self,
        mut change: impl FnMut(&mut AggregationBootstrap) -> bool,
    ) -> Result<Option<AggregationBootstrap>, String> {
        for _ in 0..CONFLICTS {
            let Some((revision, mut value)) = self.read().await? else {
                return Ok(None);
            };
            if !change(&mut value) {
                return Ok(None);
            }
            match self
                .store
                .txn(
                    vec![Condition::at(&self.key, revision)],
                    vec![Op::put(&self.key, value.encode_to_vec())],
                )
                .await
            {
                Ok(_) => return Ok(Some(value)),
                Err(MetastoreError::Conflict) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "{}: kept changing under {CONFLICTS} writes",
            self.key
        ))
    }
}

/// A part this replica holds: of the bootstrap requested at `requested`.
#[derive(Debug, Clone, Copy)]
struct Held {
    requested: i64,
    index: usize,
}

impl Held {
    /// The part in `record`, if this replica still holds it.
    fn in_<'r>(
        &self,
        record: &'r mut AggregationBootstrap,
        runner: &str,
    ) -> Option<&'r mut CorrectionPart> {
        if record.requested_micros != self.requested || record.state() != ResourceState::Backfilling
        {
            return None;
        }
        record
            .parts
            .get_mut(self.index)
            .filter(|p| p.runner == runner && !p.done)
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
    runner: &str,
    group: &FeatureGroupRef,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let (store, keys) = admin.materializer().progress().store();
    let record = Record {
        store: store.as_ref(),
        key: keys.bootstrap(&group.project, &group.name, group.version),
    };
    let Some((revision, stored)) = record.read().await? else {
        return Ok(());
    };
    if stored.state() != ResourceState::Backfilling {
        return Ok(());
    }
    let requested = stored.requested_micros;
    // The group as it was when the record was written (or later).
    let catalog = admin.materializer().catalog();
    catalog
        .wait_for_revision(revision, Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let definition = catalog
        .snapshot()
        .feature_group(&group.project, &group.name, group.version)
        .cloned();
    let Some((definition, aggregations)) = definition
        .as_deref()
        .and_then(|g| Aggregations::of(g).map(|a| (g, a)))
    else {
        // Deleted, or no aggregations left: nothing to fill.
        record
            .change(|r| {
                let due =
                    r.requested_micros == requested && r.state() == ResourceState::Backfilling;
                if due {
                    r.state = ResourceState::Ready as i32;
                    r.finished_micros = now_micros();
                    r.message = "no aggregation left to fill".into();
                }
                due
            })
            .await?;
        return Ok(());
    };
    if stored.parts.is_empty() {
        // Split by the size of the whole history.
        offline_caught_up(admin, definition).await?;
        let n = admin.parts(definition, &aggregations).await?;
        record
            .change(|r| {
                let first = r.requested_micros == requested && r.parts.is_empty();
                if first {
                    r.parts = (0..n)
                        .map(|index| CorrectionPart {
                            index,
                            ..Default::default()
                        })
                        .collect();
                }
                first
            })
            .await?;
    }
    while !shutdown.is_cancelled() {
        // Claim a part no one holds.
        let mut claimed = None;
        record
            .change(|r| {
                claimed = None;
                if r.requested_micros != requested || r.state() != ResourceState::Backfilling {
                    return false;
                }
                let Some(index) = claimable(r, now_micros()) else {
                    return false;
                };
                let of = r.parts.len();
                let part = &mut r.parts[index];
                part.runner = runner.to_string();
                part.claimed_until_micros = now_micros() + CLAIM.as_micros() as i64;
                part.attempts += 1;
                r.attempts += 1;
                r.message = format!(
                    "computing the tiles of the whole history from the offline table ({} of {of} parts done)",
                    r.parts.iter().filter(|p| p.done).count()
                );
                claimed = Some((index, of));
                true
            })
            .await?;
        let Some((index, of)) = claimed else {
            return Ok(());
        };
        let held = Held { requested, index };
        let part = Bucket {
            index: index as u32,
            of: of as u32,
        };
        run_part(
            admin,
            &record,
            runner,
            held,
            definition,
            &aggregations,
            part,
            shutdown,
        )
        .await?;
    }
    Ok(())
}

/// Runs the part held, renewing the claim, and records how it ended.
#[allow(clippy::too_many_arguments)]
async fn run_part(
    admin: &AdminGrpc,
    record: &Record<'_>,
    runner: &str,
    held: Held,
    definition: &FeatureGroup,
    aggregations: &Aggregations,
    part: Bucket,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let mut work = pin!(async {
        offline_caught_up(admin, definition).await?;
        admin
            .correct_as("bootstrap", definition, aggregations, HISTORY, part)
            .await
    });
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW, RENEW);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = shutdown.cancelled() => {
                // Let a restart take it up at once.
                release(record, runner, held, 0, "interrupted by a shutdown".into()).await?;
                return Ok(());
            }
            _ = renew.tick() => {
                let renewed = record.change(|r| match held.in_(r, runner) {
                    Some(p) => {
                        p.claimed_until_micros = now_micros() + CLAIM.as_micros() as i64;
                        true
                    }
                    None => false,
                }).await;
                match renewed {
                    Ok(Some(_)) => {}
                    // Restarted by the registry, taken over after a lapse,
                    // or deleted with its group.
                    Ok(None) => return Ok(()),
                    Err(e) => tracing::warn!(error = %e, "renewing an aggregation bootstrap's claim"),
                }
            }
        }
    };
    let retry = now_micros() + RETRY_AFTER.as_micros() as i64;
    let report = match outcome {
        Ok(report) if report.tiles_deferred == 0 => report,
        Ok(report) => {
            let message = format!(
                "{} tiles kept receiving events the offline table did not hold yet; runs again",
                report.tiles_deferred
            );
            return release(record, runner, held, retry, message).await;
        }
        Err(e) => {
            return release(
                record,
                runner,
                held,
                retry,
                format!("failed, runs again: {e}"),
            )
            .await;
        }
    };
    let written = record
        .change(|r| {
            let Some(p) = held.in_(r, runner) else {
                return false;
            };
            p.done = true;
            p.runner.clear();
            p.claimed_until_micros = 0;
            p.message.clear();
            p.drift = Some(report.clone());
            if r.parts.iter().all(|p| p.done) {
                let reports: Vec<&DriftReport> =
                    r.parts.iter().filter_map(|p| p.drift.as_ref()).collect();
                let mut total = correction::sum(&reports);
                total.job_id = reports
                    .iter()
                    .map(|d| d.job_id.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                r.message = format!(
                    "{} events of the offline table folded, {} of {} tiles replaced, in {} parts",
                    total.events_read,
                    total.tiles_changed,
                    total.tiles_compared,
                    r.parts.len()
                );
                r.drift = Some(total);
                r.state = ResourceState::Ready as i32;
                r.finished_micros = now_micros();
            }
            true
        })
        .await?;
    if let Some(total) = written
        .filter(|r| r.state() == ResourceState::Ready)
        .and_then(|r| r.drift)
    {
        admin.keep_report(definition, &total).await?;
    }
    Ok(())
}

/// Gives the part held up: no runner, not run again before `not_before`.
async fn release(
    record: &Record<'_>,
    runner: &str,
    held: Held,
    not_before: i64,
    message: String,
) -> Result<(), String> {
    record
        .change(|r| match held.in_(r, runner) {
            Some(p) => {
                p.runner.clear();
                p.claimed_until_micros = not_before;
                p.message = message.clone();
                true
            }
            None => false,
        })
        .await
        .map(drop)
}
