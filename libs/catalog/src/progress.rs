//! Materialisation progress as readers see it: the materializer publishes,
//! per group version and partition, the offsets applied online and committed
//! to Delta and the newest event times (`PartitionProgress` under
//! [`Keyspace::progress_prefix`]); a [`ProgressCache`] follows that prefix
//! with a watch, so serving and the offline query learn it without a round
//! trip per request, and requests that must include given writes
//! (`AFTER_WRITE`) wait on it event-driven: a waiter is woken by each
//! published change and checks its own offsets, it never polls storage.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use featurestore_domain::{FeatureGroupId, names::topic_name, token::Written};
use featurestore_eventlog::{EventLogError, LogEnds};
use featurestore_metastore::{Listing, MetadataStore, WatchEvent};
use featurestore_proto::v1::{FeatureGroupRef, GroupFreshness, PartitionProgress};
use prost::Message as _;
use tokio::{sync::watch, task::JoinHandle, time::Instant};

use crate::{
    follow::{Mirror, follow},
    keyspace::Keyspace,
};

/// Where rows must have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Applied to the online store.
    Online,
    /// Committed to the Delta table.
    Offline,
}

impl Sink {
    fn offset(self, p: &PartitionProgress) -> i64 {
        match self {
            Sink::Online => p.online_offset,
            Sink::Offline => p.offline_offset,
        }
    }

    fn watermark(self, p: &PartitionProgress) -> i64 {
        match self {
            Sink::Online => p.online_watermark_micros,
            Sink::Offline => p.offline_watermark_micros,
        }
    }
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sink::Online => "online",
            Sink::Offline => "offline",
        })
    }
}

/// Every group version's published progress at one moment.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    groups: HashMap<FeatureGroupId, BTreeMap<i32, PartitionProgress>>,
    synced: bool,
}

/// A group version that has not reached the offsets asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    pub group: FeatureGroupId,
    pub sink: Sink,
    /// `(partition, reached, wanted)` of the partitions behind.
    pub partitions: Vec<(i32, i64, i64)>,
    pub watermark_micros: i64,
    /// `AT_LEAST`: the event time asked for (the partitions behind are
    /// neither past it nor caught up with the log's end at the request).
    pub at_least_micros: Option<i64>,
}

impl Behind {
    /// Offsets still to come over the partitions behind (records, and
    /// Kafka's transaction markers, which take offsets too).
    pub fn lag(&self) -> i64 {
        self.partitions.iter().map(|(_, r, w)| (w - r).max(0)).sum()
    }
}

impl fmt::Display for Behind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "group {} {}: {} offset(s) behind (",
            self.group,
            self.sink,
            self.lag()
        )?;
        for (i, (partition, reached, wanted)) in self.partitions.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "partition {partition} at offset {reached} of {wanted}")?;
        }
        write!(f, "), watermark {} µs", self.watermark_micros)?;
        if let Some(t) = self.at_least_micros {
            write!(f, ", waiting for event time {t} µs")?;
        }
        Ok(())
    }
}

impl Progress {
    /// The group version's partitions that have published progress.
    pub fn group(&self, id: &FeatureGroupId) -> Option<&BTreeMap<i32, PartitionProgress>> {
        self.groups.get(id)
    }

    /// Whether the first listing has been read.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The group's watermark in `sink`: the smallest newest-event time over
    /// the partitions that have received rows (0 when none has). A
    /// partition that never received a row does not hold it back.
    pub fn watermark(&self, id: &FeatureGroupId, sink: Sink) -> i64 {
        self.groups
            .get(id)
            .into_iter()
            .flat_map(|ps| ps.values())
            .filter(|p| sink.offset(p) > 0)
            .map(|p| sink.watermark(p))
            .min()
            .unwrap_or(0)
    }

    /// What an answer read at this progress can say of its freshness.
    pub fn freshness(&self, id: &FeatureGroupId, sink: Sink) -> GroupFreshness {
        GroupFreshness {
            group: Some(FeatureGroupRef {
                project: id.project.clone(),
                name: id.name.clone(),
                version: id.version,
            }),
            watermark_micros: self.watermark(id, sink),
            applied_offsets: self
                .groups
                .get(id)
                .into_iter()
                .flat_map(|ps| ps.iter().map(|(p, progress)| (*p, sink.offset(progress))))
                .collect(),
        }
    }

    /// The groups of `written` that have not reached its offsets in `sink`.
    pub fn behind(&self, written: &Written, sink: Sink) -> Vec<Behind> {
        let mut behind = Vec::new();
        for (id, ends) in written {
            let published = self.groups.get(id);
            let partitions: Vec<(i32, i64, i64)> = ends
                .iter()
                .filter_map(|(partition, wanted)| {
                    let reached = published
                        .and_then(|ps| ps.get(partition))
                        .map_or(0, |p| sink.offset(p));
                    (reached < *wanted).then_some((*partition, reached, *wanted))
                })
                .collect();
            if !partitions.is_empty() {
                behind.push(Behind {
                    group: id.clone(),
                    sink,
                    partitions,
                    watermark_micros: self.watermark(id, sink),
                    at_least_micros: None,
                });
            }
        }
        behind
    }

    /// Whether every partition the group has published has its watermark
    /// in `sink` at or past `t` (and at least one has published).
    pub fn past(&self, id: &FeatureGroupId, sink: Sink, t: i64) -> bool {
        self.groups
            .get(id)
            .is_some_and(|ps| ps.values().all(|p| sink.watermark(p) >= t))
    }

    /// `AT_LEAST(t)` for one group: its partitions (the log's `ends` at the
    /// request) that have neither applied a row with event time ≥ `t` nor
    /// everything before their end; `None` when there are none.
    pub fn behind_at_least(
        &self,
        id: &FeatureGroupId,
        sink: Sink,
        ends: &[i64],
        t: i64,
    ) -> Option<Behind> {
        let published = self.groups.get(id);
        let partitions: Vec<(i32, i64, i64)> = ends
            .iter()
            .enumerate()
            .filter_map(|(partition, end)| {
                let partition = partition as i32;
                let progress = published.and_then(|ps| ps.get(&partition));
                let reached = progress.map_or(0, |p| sink.offset(p));
                let watermark = progress.map_or(0, |p| sink.watermark(p));
                (reached < *end && watermark < t).then_some((partition, reached, *end))
            })
            .collect();
        (!partitions.is_empty()).then(|| Behind {
            group: id.clone(),
            sink,
            partitions,
            watermark_micros: self.watermark(id, sink),
            at_least_micros: Some(t),
        })
    }

    fn apply(&mut self, keys: &Keyspace, event: &WatchEvent) {
        let Some((project, group, version, partition)) = keys.parse_progress(event.key()) else {
            return;
        };
        let id = FeatureGroupId {
            project: project.into(),
            name: group.into(),
            version,
        };
        match event {
            WatchEvent::Put(kv) => match PartitionProgress::decode(kv.value.as_slice()) {
                Ok(progress) => {
                    self.groups
                        .entry(id)
                        .or_default()
                        .insert(partition, progress);
                }
                Err(e) => tracing::warn!(key = kv.key, error = %e, "progress does not decode"),
            },
            WatchEvent::Delete { .. } => {
                if let Some(ps) = self.groups.get_mut(&id) {
                    ps.remove(&partition);
                    if ps.is_empty() {
                        self.groups.remove(&id);
                    }
                }
            }
        }
    }
}

/// Keeps a current [`Progress`]. Dropping it stops the background task.
pub struct ProgressCache {
    current: Arc<ArcSwap<Progress>>,
    changes: watch::Receiver<u64>,
    task: JoinHandle<()>,
    log: Arc<dyn LogEnds>,
    /// Per group version, the largest end offsets seen (they only grow) and
    /// when the look-up that last raised them started.
    ends: Mutex<HashMap<FeatureGroupId, (Vec<i64>, Instant)>>,
    /// One look-up at a time: requests that queue behind it use its answer.
    asking: tokio::sync::Mutex<()>,
}

impl fmt::Debug for ProgressCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressCache").finish_non_exhaustive()
    }
}

impl Drop for ProgressCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProgressCache {
    /// Starts following the progress under `keyspace`; `log` says where
    /// partitions end (asked only by waits that need it).
    pub fn spawn(store: Arc<dyn MetadataStore>, keyspace: Keyspace, log: Arc<dyn LogEnds>) -> Self {
        let current = Arc::new(ArcSwap::from_pointee(Progress::default()));
        let (tx, changes) = watch::channel(0);
        let mut mirror = ProgressMirror {
            keys: keyspace,
            current: current.clone(),
            changes: tx,
        };
        let task = tokio::spawn(async move {
            let prefix = mirror.keys.progress_prefix();
            follow(&*store, &prefix, "progress", &mut mirror).await;
        });
        Self {
            current,
            changes,
            task,
            log,
            ends: Mutex::new(HashMap::new()),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    /// Where the group version's partitions end in the log, as read by a
    /// look-up that started at or after `since` (so every record
    /// acknowledged before `since` lies before the ends returned). Look-ups
    /// are single-flight: a crowd of waiters costs one round trip, not one
    /// each. The ends are merged into the largest seen.
    pub async fn log_ends(
        &self,
        id: &FeatureGroupId,
        since: Instant,
    ) -> Result<Vec<i64>, EventLogError> {
        let _turn = self.asking.lock().await;
        if let Some((ends, asked)) = self.ends_entry(id)
            && asked >= since
        {
            return Ok(ends);
        }
        let asked = Instant::now();
        let topic = topic_name(&id.project, &id.name, id.version);
        let now = self.log.end_offsets(&topic).await?;
        let mut known = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        let (merged, at) = known
            .entry(id.clone())
            .or_insert_with(|| (Vec::new(), asked));
        if merged.len() < now.len() {
            merged.resize(now.len(), 0);
        }
        for (m, n) in merged.iter_mut().zip(&now) {
            *m = (*m).max(*n);
        }
        *at = asked;
        Ok(merged.clone())
    }

    /// The largest ends seen of the group version, without a round trip.
    pub fn known_ends(&self, id: &FeatureGroupId) -> Option<Vec<i64>> {
        self.ends_entry(id).map(|(ends, _)| ends)
    }

    fn ends_entry(&self, id: &FeatureGroupId) -> Option<(Vec<i64>, Instant)> {
        self.ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Waits until `done` holds for the progress (checked at once and on
    /// each published change), at most `max_wait`; returns the progress it
    /// held at, or the last one seen.
    pub async fn wait_until(
        &self,
        max_wait: Duration,
        done: impl Fn(&Progress) -> bool,
    ) -> Result<Arc<Progress>, Arc<Progress>> {
        let now = self.snapshot();
        if now.synced && done(&now) {
            return Ok(now);
        }
        let mut changes = self.changes.clone();
        let _ = tokio::time::timeout(
            max_wait,
            changes.wait_for(|_| {
                let now = self.current.load();
                now.synced && done(&now)
            }),
        )
        .await;
        let now = self.snapshot();
        if now.synced && done(&now) {
            Ok(now)
        } else {
            Err(now)
        }
    }

    /// The latest progress (lock-free).
    pub fn snapshot(&self) -> Arc<Progress> {
        self.current.load_full()
    }

    /// Waits until every group of `written` reached its offsets in `sink`,
    /// at most `max_wait`; returns the progress that satisfied it, or the
    /// groups still behind when the wait ran out.
    pub async fn wait(
        &self,
        written: &Written,
        sink: Sink,
        max_wait: Duration,
    ) -> Result<Arc<Progress>, (Arc<Progress>, Vec<Behind>)> {
        self.wait_until(max_wait, |p| p.behind(written, sink).is_empty())
            .await
            .map_err(|now| {
                let behind = now.behind(written, sink);
                (now, behind)
            })
    }
}

/// Published progress as a [`Mirror`] of the progress prefix. Progress
/// only moves forward, so the last copy stays valid while re-listing.
struct ProgressMirror {
    keys: Keyspace,
    current: Arc<ArcSwap<Progress>>,
    changes: watch::Sender<u64>,
}

impl Mirror for ProgressMirror {
    type Copy = Progress;

    fn build(&mut self, listing: &Listing) -> Progress {
        let mut progress = Progress {
            synced: true,
            ..Progress::default()
        };
        for kv in &listing.kvs {
            progress.apply(&self.keys, &WatchEvent::Put(kv.clone()));
        }
        progress
    }

    fn apply(&mut self, progress: &mut Progress, event: &WatchEvent) {
        progress.apply(&self.keys, event);
    }

    fn publish(&mut self, progress: &Progress) {
        self.current.store(Arc::new(progress.clone()));
        self.changes.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> FeatureGroupId {
        FeatureGroupId {
            project: "p".into(),
            name: "g".into(),
            version: 1,
        }
    }

    /// Online progress per partition: `(partition, offset, watermark)`.
    fn progress(partitions: &[(i32, i64, i64)]) -> Progress {
        let mut groups = HashMap::new();
        groups.insert(
            id(),
            partitions
                .iter()
                .map(|(p, offset, watermark)| {
                    (
                        *p,
                        PartitionProgress {
                            online_offset: *offset,
                            online_watermark_micros: *watermark,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        );
        Progress {
            groups,
            synced: true,
        }
    }

    #[test]
    fn a_partition_past_the_time_or_caught_up_does_not_hold_at_least_back() {
        // Partition 0 is past t; 1 is behind in time but applied all the
        // log had at the request (idle); 2 never received anything.
        let now = progress(&[(0, 5, 100), (1, 3, 20)]);
        assert_eq!(
            now.behind_at_least(&id(), Sink::Online, &[9, 3, 0], 50),
            None
        );
        // Partition 1 has rows not yet applied and an older watermark.
        let behind = now
            .behind_at_least(&id(), Sink::Online, &[9, 4, 0], 50)
            .expect("behind");
        assert_eq!(behind.partitions, vec![(1, 3, 4)]);
        assert!(behind.to_string().contains("waiting for event time 50"));
        // A partition that never published holds it back once it has rows.
        let behind = now
            .behind_at_least(&id(), Sink::Online, &[9, 3, 2], 50)
            .expect("behind");
        assert_eq!(behind.partitions, vec![(2, 0, 2)]);
    }

    #[test]
    fn past_needs_every_published_partition_at_the_time() {
        let now = progress(&[(0, 5, 100), (1, 3, 20)]);
        assert!(now.past(&id(), Sink::Online, 20));
        assert!(!now.past(&id(), Sink::Online, 21));
        assert!(!now.past(&id(), Sink::Offline, 1), "nothing offline");
        assert!(!Progress::default().past(&id(), Sink::Online, 1));
    }

    #[test]
    fn the_watermark_ignores_partitions_that_never_received_rows() {
        let now = progress(&[(0, 5, 100), (1, 0, 0), (2, 3, 20)]);
        assert_eq!(now.watermark(&id(), Sink::Online), 20);
        let written: Written = [(id(), [(0, 6), (2, 3)].into())].into();
        let behind = now.behind(&written, Sink::Online);
        assert_eq!(behind[0].partitions, vec![(0, 5, 6)]);
    }

    /// The log ends a test sets.
    struct Ends(Mutex<Vec<i64>>);

    #[async_trait::async_trait]
    impl LogEnds for Ends {
        async fn end_offsets(&self, _topic: &str) -> Result<Vec<i64>, EventLogError> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    async fn publish(
        store: &dyn MetadataStore,
        keys: &Keyspace,
        partition: i32,
        offset: i64,
        t: i64,
    ) {
        use featurestore_metastore::Op;
        let value = PartitionProgress {
            online_offset: offset,
            online_watermark_micros: t,
            ..Default::default()
        };
        store
            .txn(
                vec![],
                vec![Op::put(
                    keys.progress("p", "g", 1, partition),
                    value.encode_to_vec(),
                )],
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn waits_end_when_published_progress_reaches_them() {
        use std::collections::BTreeSet;

        use featurestore_metastore::MemoryStore;
        use featurestore_proto::v1::{Consistency, consistency::Level};

        use crate::consistency::ConsistencySettings;

        let store = Arc::new(MemoryStore::new());
        let keys = Keyspace::new("/t");
        let ends = Arc::new(Ends(Mutex::new(vec![5, 0])));
        let cache = ProgressCache::spawn(store.clone(), keys.clone(), ends.clone());
        publish(&*store, &keys, 0, 3, 100).await;

        // AFTER_WRITE-style wait: ends when partition 0 reaches offset 5.
        let written: Written = [(id(), [(0, 5)].into())].into();
        let waiting = cache.wait(&written, Sink::Online, Duration::from_secs(5));
        let (reached, ()) = tokio::join!(waiting, publish(&*store, &keys, 0, 5, 120));
        assert!(reached.is_ok());

        // AT_LEAST(200): partition 0 is caught up with the log (5 of 5) and
        // partition 1 never received a row: nothing to wait for.
        let settings = ConsistencySettings::default();
        let groups = BTreeSet::from([id()]);
        let at_least = |wait: u32| {
            let c = Consistency {
                level: Level::AtLeast as i32,
                at_least_micros: 200,
                max_wait_millis: wait,
                ..Consistency::default()
            };
            let (cache, groups, settings) = (&cache, &groups, &settings);
            async move {
                cache
                    .settle("c", Some(&c), groups, Sink::Online, settings)
                    .await
            }
        };
        at_least(1_000).await.unwrap();
        // A row acknowledged in partition 1 but not applied holds it back.
        *ends.0.lock().unwrap() = vec![5, 2];
        let err = at_least(100).await.unwrap_err();
        assert!(
            err.to_string().contains("partition 1 at offset 0 of 2"),
            "{err}"
        );
        // Applied: settled.
        publish(&*store, &keys, 1, 2, 90).await;
        at_least(1_000).await.unwrap();
    }
}
