//! Corrections the materialization replicas share. A record in the
//! metadata store (a bootstrap, `crate::bootstrap`, or a scheduled
//! correction, `crate::schedule`) splits one into parts — key-hash shares
//! ([`Bucket`]) — that replicas claim one at a time: a compare-and-set
//! naming the replica the part's runner until `claimed_until`, renewed
//! while it works. A write that loses to another replica's is applied
//! again to the newer record. A part done keeps its report in the record;
//! the replica that finishes the last part closes the record with their
//! sum. A replica killed mid-way stops renewing: once its claim lapses
//! another replica (or the same one, restarted) runs that part again, and
//! the parts done stay done. A record rewritten meanwhile (a new
//! generation) stops the runners at their next renewal.

use std::{marker::PhantomData, pin::pin, time::Duration};

use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op};
use featurestore_proto::v1::{
    AggregationBootstrap, CorrectionPart, CorrectionRun, DriftReport, ResourceState,
};
use featurestore_runtime::Shutdown;

use crate::{
    admin::now_micros,
    correction::{self, Bucket},
};

/// How long a claim holds unless renewed, and how often it is renewed.
pub const CLAIM: Duration = Duration::from_secs(15);
pub const RENEW: Duration = Duration::from_secs(5);
/// How long a failed or unfinished part waits before the next run.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Writes of a record that lose to another replica's before one wins.
const CONFLICTS: usize = 50;

/// A record of a correction shared in parts.
pub trait Shared: prost::Message + Default {
    /// What tells this run from a later one written over it.
    fn generation(&self) -> i64;
    /// Whether parts are left to run.
    fn running(&self) -> bool;
    fn parts(&self) -> &[CorrectionPart];
    fn parts_mut(&mut self) -> &mut Vec<CorrectionPart>;
    /// Part runs started, in all.
    fn attempts_mut(&mut self) -> &mut u32;
    fn message_mut(&mut self) -> &mut String;
    /// Every part done: the run is over, `total` their sum.
    fn finish(&mut self, total: DriftReport);
}

/// [`Shared`] for a record with the fields `requested_micros` (its
/// generation), `state` (`$running` while parts are left, then READY),
/// `parts`, `attempts`, `message`, `finished_micros` and `drift`.
macro_rules! shared {
    ($record:ty, $running:expr) => {
        impl Shared for $record {
            fn generation(&self) -> i64 {
                self.requested_micros
            }

            fn running(&self) -> bool {
                self.state() == $running
            }

            fn parts(&self) -> &[CorrectionPart] {
                &self.parts
            }

            fn parts_mut(&mut self) -> &mut Vec<CorrectionPart> {
                &mut self.parts
            }

            fn attempts_mut(&mut self) -> &mut u32 {
                &mut self.attempts
            }

            fn message_mut(&mut self) -> &mut String {
                &mut self.message
            }

            fn finish(&mut self, total: DriftReport) {
                self.state = ResourceState::Ready as i32;
                self.finished_micros = now_micros();
                self.drift = Some(total);
            }
        }
    };
}

shared!(AggregationBootstrap, ResourceState::Backfilling);
shared!(CorrectionRun, ResourceState::Pending);

/// A part of `parts` no replica holds (claim lapsed) that is not done.
pub fn claimable(parts: &[CorrectionPart], now: i64) -> Option<usize> {
    parts
        .iter()
        .position(|p| !p.done && p.claimed_until_micros <= now)
}

/// `n` parts, none claimed.
pub fn split(n: u32) -> Vec<CorrectionPart> {
    (0..n)
        .map(|index| CorrectionPart {
            index,
            ..Default::default()
        })
        .collect()
}

/// A record in the metadata store, changed by compare-and-set against the
/// other replicas' writes.
pub struct Record<'a, T> {
    store: &'a dyn MetadataStore,
    key: String,
    kind: PhantomData<T>,
}

impl<'a, T: Shared> Record<'a, T> {
    pub fn new(store: &'a dyn MetadataStore, key: String) -> Self {
        Self {
            store,
            key,
            kind: PhantomData,
        }
    }

    /// The record and its revision (`None`: there is none).
    pub async fn read(&self) -> Result<Option<(i64, T)>, String> {
        let Some(kv) = self.store.get(&self.key).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let value = T::decode(kv.value.as_slice()).map_err(|e| format!("{}: {e}", self.key))?;
        Ok(Some((kv.mod_revision, value)))
    }

    /// Applies `change` to the record as stored and writes it, again on
    /// the newer record when another replica wrote first; `change` answers
    /// `false` to leave it alone. The record written, or `None` (gone, or
    /// left alone).
    pub async fn change(
        &self,
        mut change: impl FnMut(&mut T) -> bool,
    ) -> Result<Option<T>, String> {
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

/// A part this replica holds, of the run `generation`.
#[derive(Debug, Clone, Copy)]
struct Held {
    generation: i64,
    index: usize,
}

impl Held {
    /// The part in `record`, if this replica still holds it.
    fn in_<'r, T: Shared>(
        &self,
        record: &'r mut T,
        runner: &str,
    ) -> Option<&'r mut CorrectionPart> {
        if record.generation() != self.generation || !record.running() {
            return None;
        }
        record
            .parts_mut()
            .get_mut(self.index)
            .filter(|p| p.runner == runner && !p.done)
    }
}

/// Runs parts of the run `generation` of `record` while some are left to
/// claim, `work` correcting each (`doing` says what, for the record's
/// message). The sum of the parts' reports when this replica finished the
/// last one.
pub async fn run<T: Shared, W: Future<Output = Result<DriftReport, String>>>(
    record: &Record<'_, T>,
    runner: &str,
    generation: i64,
    doing: &str,
    work: impl Fn(Bucket) -> W,
    shutdown: &Shutdown,
) -> Result<Option<DriftReport>, String> {
    while !shutdown.is_cancelled() {
        let mut claimed = None;
        record
            .change(|r| {
                claimed = None;
                if r.generation() != generation || !r.running() {
                    return false;
                }
                let Some(index) = claimable(r.parts(), now_micros()) else {
                    return false;
                };
                let of = r.parts().len();
                let done = r.parts().iter().filter(|p| p.done).count();
                let part = &mut r.parts_mut()[index];
                part.runner = runner.to_string();
                part.claimed_until_micros = now_micros() + CLAIM.as_micros() as i64;
                part.attempts += 1;
                *r.attempts_mut() += 1;
                *r.message_mut() = format!("{doing} ({done} of {of} parts done)");
                claimed = Some((index, of));
                true
            })
            .await?;
        let Some((index, of)) = claimed else {
            return Ok(None);
        };
        let held = Held { generation, index };
        let part = Bucket {
            index: index as u32,
            of: of as u32,
        };
        if let Some(total) = run_part(record, runner, held, work(part), shutdown).await? {
            return Ok(Some(total));
        }
    }
    Ok(None)
}

/// Runs the part held, renewing the claim, and records how it ended; the
/// sum of the parts' reports when it was the last.
async fn run_part<T: Shared>(
    record: &Record<'_, T>,
    runner: &str,
    held: Held,
    work: impl Future<Output = Result<DriftReport, String>>,
    shutdown: &Shutdown,
) -> Result<Option<DriftReport>, String> {
    let mut work = pin!(work);
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW, RENEW);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = shutdown.cancelled() => {
                // Let a restart take it up at once.
                release(record, runner, held, 0, "interrupted by a shutdown".into()).await?;
                return Ok(None);
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
                    // Rewritten, taken over after a lapse, or deleted.
                    Ok(None) => return Ok(None),
                    Err(e) => tracing::warn!(error = %e, "renewing the claim of a correction's part"),
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
            release(record, runner, held, retry, message).await?;
            return Ok(None);
        }
        Err(e) => {
            let message = format!("failed, runs again: {e}");
            release(record, runner, held, retry, message).await?;
            return Ok(None);
        }
    };
    let mut finished = None;
    let written = record
        .change(|r| {
            finished = None;
            let Some(p) = held.in_(r, runner) else {
                return false;
            };
            p.done = true;
            p.runner.clear();
            p.claimed_until_micros = 0;
            p.message.clear();
            p.drift = Some(report.clone());
            if r.parts().iter().all(|p| p.done) {
                let reports: Vec<&DriftReport> =
                    r.parts().iter().filter_map(|p| p.drift.as_ref()).collect();
                let mut total = correction::sum(&reports);
                total.job_id = reports
                    .iter()
                    .map(|d| d.job_id.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                *r.message_mut() = format!(
                    "{} events of the offline table folded, {} of {} tiles replaced, in {} parts",
                    total.events_read,
                    total.tiles_changed,
                    total.tiles_compared,
                    r.parts().len()
                );
                finished = Some(total.clone());
                r.finish(total);
            }
            true
        })
        .await?;
    Ok(written.and(finished))
}

/// Gives the part held up: no runner, not run again before `not_before`.
async fn release<T: Shared>(
    record: &Record<'_, T>,
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use featurestore_metastore::memory::MemoryStore;
    use prost::Message as _;

    use super::*;

    const KEY: &str = "run";

    /// A run of three parts as `parts` leaves them, stored.
    async fn stored(store: &MemoryStore, parts: Vec<CorrectionPart>) {
        let run = CorrectionRun {
            state: ResourceState::Pending as i32,
            requested_micros: 1,
            parts,
            ..Default::default()
        };
        store
            .txn(vec![], vec![Op::put(KEY, run.encode_to_vec())])
            .await
            .unwrap();
    }

    fn report(events: u64) -> DriftReport {
        DriftReport {
            events_read: events,
            tiles_compared: events,
            lifetime_compared: true,
            job_id: format!("job-{events}"),
            ..Default::default()
        }
    }

    /// Runs what is left of the stored run as replica `me`: the parts it
    /// ran, and the total if it finished the run.
    async fn run_left(store: &MemoryStore) -> (Vec<u32>, Option<DriftReport>, CorrectionRun) {
        let record = Record::<CorrectionRun>::new(store, KEY.into());
        let ran = Mutex::new(Vec::new());
        let work = |part: Bucket| {
            ran.lock().unwrap().push(part.index);
            assert_eq!(part.of, 3);
            async move { Ok(report(10 + u64::from(part.index))) }
        };
        let total = run(&record, "me", 1, "correcting", work, &Shutdown::new())
            .await
            .unwrap();
        let (_, after) = record.read().await.unwrap().unwrap();
        (ran.into_inner().unwrap(), total, after)
    }

    /// A replica killed mid-part: once its claim lapses another runs that
    /// part again and the parts left; the part done is not run again.
    #[tokio::test]
    async fn a_run_resumes_with_the_parts_left() {
        let store = MemoryStore::new();
        let mut parts = split(3);
        parts[0].done = true;
        parts[0].attempts = 1;
        parts[0].drift = Some(report(5));
        parts[1].runner = "dead".into();
        parts[1].attempts = 1;
        parts[1].claimed_until_micros = now_micros() - 1;
        stored(&store, parts).await;
        let (ran, total, after) = run_left(&store).await;
        assert_eq!(ran, [1, 2]);
        let total = total.expect("the last part done closes the run");
        assert_eq!((total.events_read, total.tiles_compared), (5 + 11 + 12, 28));
        assert!(total.lifetime_compared);
        assert_eq!(total.job_id, "job-5+job-11+job-12");
        assert_eq!(after.state(), ResourceState::Ready);
        assert_eq!(after.drift, Some(total));
        let attempts: Vec<u32> = after.parts.iter().map(|p| p.attempts).collect();
        assert_eq!(attempts, [1, 2, 1]);
        assert_eq!(after.attempts, 2);
        assert!(after.parts.iter().all(|p| p.done && p.runner.is_empty()));
    }

    /// A part another replica holds is left to it: the run stays open.
    #[tokio::test]
    async fn a_part_held_by_a_live_replica_is_left_to_it() {
        let store = MemoryStore::new();
        let mut parts = split(3);
        parts[1].runner = "alive".into();
        parts[1].claimed_until_micros = now_micros() + 60_000_000;
        stored(&store, parts).await;
        let (ran, total, after) = run_left(&store).await;
        assert_eq!(ran, [0, 2]);
        assert_eq!(total, None);
        assert_eq!(after.state(), ResourceState::Pending);
        assert_eq!(after.parts[1].runner, "alive");
        assert_eq!(after.message, "correcting (1 of 3 parts done)");
    }

    /// A part that fails is released until later, with the reason.
    #[tokio::test]
    async fn a_part_that_fails_is_released_for_later() {
        let store = MemoryStore::new();
        stored(&store, split(1)).await;
        let record = Record::<CorrectionRun>::new(&store, KEY.into());
        let work = |_| async { Err::<DriftReport, _>("the offline table is gone".to_string()) };
        let before = now_micros();
        let total = run(&record, "me", 1, "correcting", work, &Shutdown::new())
            .await
            .unwrap();
        assert_eq!(total, None);
        let (_, after) = record.read().await.unwrap().unwrap();
        let part = &after.parts[0];
        assert!(part.runner.is_empty() && !part.done, "{part:?}");
        assert!(part.claimed_until_micros >= before + RETRY_AFTER.as_micros() as i64);
        assert_eq!(
            part.message,
            "failed, runs again: the offline table is gone"
        );
        assert_eq!(after.state(), ResourceState::Pending);
    }
}
