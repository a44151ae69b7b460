//! Corrections of a time range that the replicas share: [`CorrectionRun`]
//! records under `<root>.correction-runs/`, written by the schedule
//! (`crate::schedule`) or by a `StartBackfill` (`crate::admin`), split into
//! parts ([`crate::correction::parts`]) that every replica takes up
//! (`crate::parts`) — looked for every few seconds, so a part whose
//! replica died runs again once its claim lapses. The replica that
//! finishes the last part keeps the summed report.

use featurestore_domain::aggregation::Aggregations;
use featurestore_metastore::{Condition, MetastoreError, Op};
use featurestore_proto::v1::{CorrectionRun, FeatureGroup, FeatureGroupRef, ResourceState};
use featurestore_runtime::Shutdown;
use prost::Message as _;

use crate::{
    admin::{AdminGrpc, now_micros},
    parts::{self, RENEW, Record, Shared},
};

/// What a new run corrects.
pub struct NewRun<'a> {
    pub group: &'a FeatureGroup,
    pub aggregations: &'a Aggregations,
    pub range: (i64, i64),
    /// `scheduled` or `backfill`.
    pub kind: &'a str,
    /// The `StartBackfill` job it belongs to (empty: none).
    pub job: &'a str,
}

/// Writes the run `name` of `new.group` unless one of that name exists
/// (then `None`), in the transaction that deletes `stale` (runs over).
pub async fn write(
    admin: &AdminGrpc,
    new: &NewRun<'_>,
    name: &str,
    stale: &[String],
) -> Result<Option<(String, CorrectionRun)>, String> {
    let group = new.group;
    let (store, keys) = admin.materializer().progress().store();
    let key = format!(
        "{}{name}",
        keys.correction_runs_prefix(&group.project, &group.name, group.version)
    );
    let n = admin.parts(group, new.aggregations).await?;
    let run = CorrectionRun {
        group: Some(FeatureGroupRef {
            project: group.project.clone(),
            name: group.name.clone(),
            version: group.version,
        }),
        start_time_micros: new.range.0,
        end_time_micros: new.range.1,
        state: ResourceState::Pending as i32,
        requested_micros: now_micros(),
        parts: parts::split(n),
        kind: new.kind.to_string(),
        job: new.job.to_string(),
        ..Default::default()
    };
    let mut ops = vec![Op::put(key.clone(), run.encode_to_vec())];
    ops.extend(stale.iter().map(|k| Op::delete(k.clone())));
    match store.txn(vec![Condition::absent(key.clone())], ops).await {
        Ok(_) => Ok(Some((key, run))),
        Err(MetastoreError::Conflict) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// How long a finished backfill's run is left for the replica that
/// follows it to read (it drops it then).
const FOLLOWED_FOR: i64 = 86_400_000_000;

/// The runs of a group (its runs' listing) that a new run drops: the
/// scheduled ones that are over, and the backfills' over for a day (their
/// replica died before it dropped them).
pub fn over(listing: &[featurestore_metastore::KeyValue]) -> Vec<String> {
    let now = now_micros();
    listing
        .iter()
        .filter(|kv| {
            CorrectionRun::decode(kv.value.as_slice()).is_ok_and(|r| {
                !r.running() && (r.job.is_empty() || r.finished_micros < now - FOLLOWED_FOR)
            })
        })
        .map(|kv| kv.key.clone())
        .collect()
}

/// Runs until `shutdown`: takes up the parts left of every run.
pub async fn run(admin: AdminGrpc, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = admin.runs_woken() => {}
        }
        if let Err(e) = run_left(&admin, &shutdown).await {
            tracing::warn!(error = %e, "shared tile corrections");
        }
    }
}

/// Runs the parts left to claim of every run.
async fn run_left(admin: &AdminGrpc, shutdown: &Shutdown) -> Result<(), String> {
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
        if let Err(e) = run_parts(admin, &record, &run, shutdown).await {
            tracing::warn!(run = %kv.key, error = %e, "shared tile correction");
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    Ok(())
}

/// This replica's share of `run`: its parts, one at a time, while some
/// are left to claim; the last part done keeps the report.
pub async fn run_parts(
    admin: &AdminGrpc,
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
    let kind = format!("{}-part", run.kind);
    let kind = kind.as_str();
    let work = |part| admin.correct_as(kind, definition, aggregations, range, part, true);
    let runner = admin.runner();
    if let Some(mut total) =
        parts::run(record, runner, run.requested_micros, &doing, work, shutdown).await?
    {
        if !run.job.is_empty() {
            total.job_id = run.job.clone();
        }
        admin.keep_report(definition, &total).await?;
    }
    Ok(())
}
