//! Publishing materialisation progress: per group version and partition,
//! the offset after the last record applied online and committed to Delta
//! and the newest event times (`PartitionProgress`), in the metadata store
//! under `<root>.progress/…`, where serving and the offline query follow it
//! with a watch (`featurestore_catalog::ProgressCache`).
//!
//! The pipeline records progress as sinks accept batches; a task publishes
//! what changed at most every `batch.progress_interval`, one transaction per
//! chunk of keys. Progress only moves forward: each write is a
//! compare-and-set on the key's revision of a value merged (field by field,
//! the larger) with the stored one, so a restarted materializer replaying
//! from older offsets, or two replicas during a partition hand-over, never
//! move it back. The fold counters of aggregated groups are the exception:
//! what is recorded is an increment, added to the stored count. History is compacted behind itself (`progress_keep_revisions`)
//! so frequent publishing does not grow the store without bound.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use featurestore_catalog::Keyspace;
use featurestore_domain::FeatureGroupId;
use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op, Revision};
use featurestore_proto::v1::PartitionProgress;
use featurestore_runtime::Shutdown;
use prost::Message as _;
use tokio::sync::Notify;

/// Keys per transaction (etcd allows 128 operations by default).
const CHUNK: usize = 50;

type Slot = (FeatureGroupId, i32);

/// Field by field, the larger; `updated_micros` of the newer; the fold
/// counters (increments) added.
pub fn merge(into: &mut PartitionProgress, from: &PartitionProgress) {
    into.events_folded += from.events_folded;
    into.tile_writes += from.tile_writes;
    into.online_offset = into.online_offset.max(from.online_offset);
    into.offline_offset = into.offline_offset.max(from.offline_offset);
    into.online_watermark_micros = into
        .online_watermark_micros
        .max(from.online_watermark_micros);
    into.offline_watermark_micros = into
        .offline_watermark_micros
        .max(from.offline_watermark_micros);
    into.updated_micros = into.updated_micros.max(from.updated_micros);
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Progress recorded by the pipeline and published by [`ProgressPublisher::run`].
pub struct ProgressPublisher {
    store: Arc<dyn MetadataStore>,
    keys: Keyspace,
    pending: Mutex<HashMap<Slot, PartitionProgress>>,
    changed: Notify,
    watermarks: crate::metrics::Watermarks,
}

impl std::fmt::Debug for ProgressPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressPublisher").finish_non_exhaustive()
    }
}

impl ProgressPublisher {
    pub fn new(store: Arc<dyn MetadataStore>, keys: Keyspace) -> Self {
        Self {
            store,
            keys,
            pending: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            watermarks: crate::metrics::Watermarks::default(),
        }
    }

    /// The metadata store progress is published in, and its keys.
    pub fn store(&self) -> (&Arc<dyn MetadataStore>, &Keyspace) {
        (&self.store, &self.keys)
    }

    /// Records that the partition's records before `next_offset` are applied
    /// online (`online`) or committed to Delta, the newest of their event
    /// times being `newest_event_micros`.
    pub fn record(
        &self,
        group: FeatureGroupId,
        partition: i32,
        next_offset: i64,
        newest_event_micros: i64,
        online: bool,
    ) {
        let mut progress = PartitionProgress {
            updated_micros: now_micros(),
            ..Default::default()
        };
        self.watermarks
            .advance(&group, partition, online, newest_event_micros);
        if online {
            progress.online_offset = next_offset;
            progress.online_watermark_micros = newest_event_micros;
        } else {
            progress.offline_offset = next_offset;
            progress.offline_watermark_micros = newest_event_micros;
        }
        merge(
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((group, partition))
                .or_default(),
            &progress,
        );
        self.changed.notify_one();
    }

    /// Records that a batch folded `events` new events of the partition into
    /// tiles with `tile_writes` writes.
    pub fn record_folds(
        &self,
        group: FeatureGroupId,
        partition: i32,
        events: u64,
        tile_writes: u64,
    ) {
        if events == 0 && tile_writes == 0 {
            return;
        }
        let folds = PartitionProgress {
            updated_micros: now_micros(),
            events_folded: events,
            tile_writes,
            ..Default::default()
        };
        merge(
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry((group, partition))
                .or_default(),
            &folds,
        );
        self.changed.notify_one();
    }

    /// The published progress of a group version's partitions (read from
    /// the store: for status, not for hot paths).
    pub async fn published(
        &self,
        group: &FeatureGroupId,
    ) -> Result<std::collections::BTreeMap<i32, PartitionProgress>, MetastoreError> {
        let prefix = self
            .keys
            .progress_group_prefix(&group.project, &group.name, group.version);
        let listing = self.store.list(&prefix).await?;
        Ok(listing
            .kvs
            .iter()
            .filter_map(|kv| {
                let (_, _, _, partition) = self.keys.parse_progress(&kv.key)?;
                let progress = PartitionProgress::decode(kv.value.as_slice()).ok()?;
                Some((partition, progress))
            })
            .collect())
    }

    /// Publishes recorded progress until `shutdown` (and once more then).
    pub async fn run(self: Arc<Self>, interval: Duration, keep_revisions: u64, shutdown: Shutdown) {
        let mut known: HashMap<String, (Revision, PartitionProgress)> = HashMap::new();
        let mut compacted: Revision = 0;
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = self.changed.notified() => false,
            };
            match self.flush(&mut known).await {
                Ok(Some(revision)) if keep_revisions > 0 => {
                    let keep = keep_revisions as i64;
                    if revision - compacted >= 2 * keep {
                        match self.store.compact(revision - keep).await {
                            Ok(()) => compacted = revision - keep,
                            // Another replica compacted further already.
                            Err(e) => tracing::debug!(error = %e, "progress compaction skipped"),
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "publishing progress failed; retrying");
                    self.changed.notify_one();
                }
            }
            if stopping {
                return;
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Publishes what was recorded since the last call; returns the newest
    /// revision written. What could not be written stays recorded.
    async fn flush(
        &self,
        known: &mut HashMap<String, (Revision, PartitionProgress)>,
    ) -> Result<Option<Revision>, MetastoreError> {
        let pending: Vec<(Slot, PartitionProgress)> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        let mut newest = None;
        let mut chunks = pending.chunks(CHUNK);
        while let Some(chunk) = chunks.next() {
            match self.write(chunk, known).await {
                Ok(revision) => newest = newest.max(revision),
                Err(e) => {
                    // Keep this chunk and the rest for the next attempt.
                    let mut slots = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    for (slot, progress) in std::iter::once(chunk).chain(chunks).flatten() {
                        merge(slots.entry(slot.clone()).or_default(), progress);
                    }
                    return Err(e);
                }
            }
        }
        Ok(newest)
    }

    async fn write(
        &self,
        chunk: &[(Slot, PartitionProgress)],
        known: &mut HashMap<String, (Revision, PartitionProgress)>,
    ) -> Result<Option<Revision>, MetastoreError> {
        loop {
            let mut conditions = Vec::with_capacity(chunk.len());
            let mut ops = Vec::with_capacity(chunk.len());
            let mut written = Vec::with_capacity(chunk.len());
            for ((group, partition), progress) in chunk {
                let key =
                    self.keys
                        .progress(&group.project, &group.name, group.version, *partition);
                if !known.contains_key(&key) {
                    let stored = match self.store.get(&key).await? {
                        Some(kv) => (
                            kv.mod_revision,
                            PartitionProgress::decode(kv.value.as_slice()).unwrap_or_default(),
                        ),
                        None => (0, PartitionProgress::default()),
                    };
                    known.insert(key.clone(), stored);
                }
                let (revision, stored) = &known[&key];
                let mut merged = *stored;
                merge(&mut merged, progress);
                let unchanged = PartitionProgress {
                    updated_micros: stored.updated_micros,
                    ..merged
                } == *stored;
                if unchanged {
                    continue;
                }
                conditions.push(Condition::at(key.clone(), *revision));
                ops.push(Op::put(key.clone(), merged.encode_to_vec()));
                written.push((key, merged));
            }
            if ops.is_empty() {
                return Ok(None);
            }
            match self.store.txn(conditions, ops).await {
                Ok(revision) => {
                    for (key, merged) in written {
                        known.insert(key, (revision, merged));
                    }
                    return Ok(Some(revision));
                }
                Err(MetastoreError::Conflict) => {
                    // Another writer moved a key: read them again and merge.
                    for (key, _) in written {
                        known.remove(&key);
                    }
                }
                Err(e) => {
                    for (key, _) in written {
                        known.remove(&key);
                    }
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_take_the_larger_and_fold_counts_add() {
        let mut stored = PartitionProgress {
            online_offset: 10,
            online_watermark_micros: 500,
            events_folded: 7,
            tile_writes: 20,
            ..Default::default()
        };
        // A replay from an older offset after a restart folded 2 new events.
        merge(
            &mut stored,
            &PartitionProgress {
                online_offset: 8,
                online_watermark_micros: 400,
                events_folded: 2,
                tile_writes: 3,
                ..Default::default()
            },
        );
        assert_eq!(stored.online_offset, 10);
        assert_eq!(stored.online_watermark_micros, 500);
        assert_eq!((stored.events_folded, stored.tile_writes), (9, 23));
    }
}
