//! [`RedbLog`]: the embedded event log of standalone mode, one redb file.
//!
//! Records live in one B-tree keyed by (topic, partition, offset); an
//! append is one write transaction, synced before it returns, so an
//! acknowledged record survives a crash or restart. Consumer groups commit
//! their positions in the same file. A subscription reads from its
//! positions and sleeps on a change signal until something is appended.
//!
//! A consumer group is meant to have one member at a time (standalone mode
//! runs one materializer); two members of one group would each read every
//! partition — at-least-once, as the [`EventLog`] contract allows.
//!
//! Retention: a commit deletes the records of its partitions that every
//! consumer group with a committed position has processed (the offline
//! store keeps the history). A group that has never committed does not hold
//! records back; it starts at the oldest record kept. The last record of a
//! partition is always kept: the end offsets are recomputed from it on
//! open, so offsets are never reused after a restart.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use async_trait::async_trait;
use tokio::sync::watch;

use crate::{
    EventLog, EventLogError, LogEnds, Message, Offset, Partition, Position, Record, Result,
    Subscription, Topics,
};

/// topic → partition count.
const TOPICS: TableDefinition<&str, u32> = TableDefinition::new("topics");
/// (topic, partition, offset) → an encoded record.
const RECORDS: TableDefinition<(&str, u32, u64), &[u8]> = TableDefinition::new("records");
/// (group, topic, partition) → the next offset to process.
const COMMITS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("commits");

/// The embedded event log. Cloning shares the same file.
#[derive(Clone)]
pub struct RedbLog {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// topic → the next offset of each partition. Appends hold this lock
    /// through their write transaction, so offsets are handed out in order.
    ends: Mutex<BTreeMap<String, Vec<Offset>>>,
    /// Bumped after every append and topic change; subscriptions wait on it.
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for RedbLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLog").finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> EventLogError {
    EventLogError::Unavailable(format!("embedded event log: {e}"))
}

impl RedbLog {
    /// The page cache an embedded event log is opened with by default (redb's
    /// own default is 1 GiB): readers mostly read what was just appended.
    pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

    /// Opens (or creates) the log at `path` with a page cache of
    /// [`Self::DEFAULT_CACHE_BYTES`]. A file that is not a valid redb database is
    /// an error and left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, Self::DEFAULT_CACHE_BYTES)
    }

    /// The same, caching at most `cache_bytes` of pages read and written.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| {
                EventLogError::Internal(format!("cannot open event log {}: {e}", path.display()))
            })?;
        let write = db.begin_write().map_err(storage)?;
        write.open_table(TOPICS).map_err(storage)?;
        write.open_table(RECORDS).map_err(storage)?;
        write.open_table(COMMITS).map_err(storage)?;
        write.commit().map_err(storage)?;
        let ends = load_ends(&db)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                ends: Mutex::new(ends),
                changed: watch::Sender::new(0),
            }),
        })
    }
}

/// Every topic's end offsets: one past the last stored record.
fn load_ends(db: &Database) -> Result<BTreeMap<String, Vec<Offset>>> {
    let read = db.begin_read().map_err(storage)?;
    let topics = read.open_table(TOPICS).map_err(storage)?;
    let records = read.open_table(RECORDS).map_err(storage)?;
    let mut ends = BTreeMap::new();
    for entry in topics.iter().map_err(storage)? {
        let (topic, count) = entry.map_err(storage)?;
        let topic = topic.value().to_string();
        let mut offsets = Vec::with_capacity(count.value() as usize);
        for partition in 0..count.value() {
            let last = records
                .range((topic.as_str(), partition, 0)..=(topic.as_str(), partition, u64::MAX))
                .map_err(storage)?
                .next_back()
                .transpose()
                .map_err(storage)?
                .map(|(key, _)| key.value().2 as Offset + 1);
            offsets.push(last.unwrap_or(0));
        }
        ends.insert(topic, offsets);
    }
    Ok(ends)
}

impl Inner {
    fn ends(&self) -> MutexGuard<'_, BTreeMap<String, Vec<Offset>>> {
        // Mutations of the map happen only after their write committed.
        self.ends.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        if topic.is_empty() || partitions == 0 {
            return Err(EventLogError::Invalid(format!(
                "topic {topic:?} with {partitions} partitions"
            )));
        }
        let mut ends = self.ends();
        let current = ends.get(topic).map_or(0, |p| p.len() as u32);
        if current >= partitions {
            return Ok(());
        }
        let write = self.db.begin_write().map_err(storage)?;
        write
            .open_table(TOPICS)
            .map_err(storage)?
            .insert(topic, partitions)
            .map_err(storage)?;
        write.commit().map_err(storage)?;
        ends.entry(topic.to_string())
            .or_default()
            .resize(partitions as usize, 0);
        drop(ends);
        self.notify();
        Ok(())
    }

    fn append(&self, topic: &str, records: &[Record]) -> Result<Vec<Offset>> {
        let mut ends = self.ends();
        let Some(current) = ends.get(topic) else {
            return Err(EventLogError::UnknownTopic(topic.to_string()));
        };
        let mut next = current.clone();
        let mut offsets = Vec::with_capacity(records.len());
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut table = write.open_table(RECORDS).map_err(storage)?;
            let mut buf = Vec::new();
            for record in records {
                let slot = usize::try_from(record.partition)
                    .ok()
                    .and_then(|p| next.get_mut(p))
                    .ok_or_else(|| {
                        EventLogError::Invalid(format!(
                            "partition {} of topic {topic:?}, which has {}",
                            record.partition,
                            current.len()
                        ))
                    })?;
                buf.clear();
                encode(record, &mut buf);
                table
                    .insert(
                        (topic, record.partition as u32, *slot as u64),
                        buf.as_slice(),
                    )
                    .map_err(storage)?;
                offsets.push(*slot);
                *slot += 1;
            }
        }
        // Synced (redb's default durability) before it is acknowledged.
        write.commit().map_err(storage)?;
        ends.insert(topic.to_string(), next);
        drop(ends);
        self.notify();
        Ok(offsets)
    }

    /// Up to `max` messages after `positions` from the partitions `topics`
    /// selects, starting the round at partition number `start` so that no
    /// partition starves. Partitions seen for the first time start at the
    /// group's committed position.
    fn read(
        &self,
        group: &str,
        topics: &Topics,
        positions: &mut HashMap<(String, Partition), Offset>,
        max: usize,
        start: usize,
    ) -> Result<Vec<Message>> {
        let partitions: Vec<(String, Partition, Offset)> = self
            .ends()
            .iter()
            .filter(|(topic, _)| match topics {
                Topics::Named(names) => names.iter().any(|n| n == *topic),
                Topics::Prefix(prefix) => topic.starts_with(prefix.as_str()),
            })
            .flat_map(|(topic, ends)| {
                ends.iter()
                    .enumerate()
                    .map(|(p, end)| (topic.clone(), p as Partition, *end))
            })
            .collect();
        let read = self.db.begin_read().map_err(storage)?;
        let records = read.open_table(RECORDS).map_err(storage)?;
        let commits = read.open_table(COMMITS).map_err(storage)?;
        let mut out = Vec::new();
        let n = partitions.len();
        for i in 0..n {
            let (topic, partition, end) = &partitions[(start + i) % n];
            let position = match positions.entry((topic.clone(), *partition)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    commits
                        .get((group, topic.as_str(), *partition as u32))
                        .map_err(storage)?
                        .map_or(0, |v| v.value() as Offset),
                ),
            };
            if *position >= *end || out.len() >= max {
                continue;
            }
            let range = (topic.as_str(), *partition as u32, *position as u64)
                ..(topic.as_str(), *partition as u32, *end as u64);
            for entry in records.range(range).map_err(storage)?.take(max - out.len()) {
                let (k, v) = entry.map_err(storage)?;
                let offset = k.value().2 as Offset;
                out.push(decode(topic, *partition, offset, v.value())?);
                *position = offset + 1;
            }
        }
        Ok(out)
    }

    /// Records `group`'s positions and, in the same transaction, deletes
    /// the records of those partitions that every group has processed.
    fn commit(&self, group: &str, positions: &[Position]) -> Result<()> {
        // Taken before the write transaction: appends hold `ends` while they
        // wait for theirs (the other order deadlocks). Older ends only keep
        // more records.
        let ends = self.ends().clone();
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut commits = write.open_table(COMMITS).map_err(storage)?;
            for p in positions {
                commits
                    .insert(
                        (group, p.topic.as_str(), p.partition as u32),
                        p.next_offset.max(0) as u64,
                    )
                    .map_err(storage)?;
            }
            // The lowest committed position of every group, per partition
            // committed now.
            let mut floor: HashMap<(&str, u32), u64> = positions
                .iter()
                .map(|p| ((p.topic.as_str(), p.partition as u32), u64::MAX))
                .collect();
            for entry in commits.iter().map_err(storage)? {
                let (key, next) = entry.map_err(storage)?;
                let (_, topic, partition) = key.value();
                if let Some((_, low)) = floor
                    .iter_mut()
                    .find(|((t, p), _)| *t == topic && *p == partition)
                {
                    *low = (*low).min(next.value());
                }
            }
            let mut records = write.open_table(RECORDS).map_err(storage)?;
            for ((topic, partition), below) in floor {
                let last = ends
                    .get(topic)
                    .and_then(|e| e.get(partition as usize))
                    .map_or(0, |end| (*end - 1).max(0) as u64);
                let below = below.min(last);
                records
                    .retain_in((topic, partition, 0)..(topic, partition, below), |_, _| {
                        false
                    })
                    .map_err(storage)?;
            }
        }
        write.commit().map_err(storage)
    }
}

/// Runs blocking redb work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EventLogError::Internal(format!("embedded event log task: {e}")))?
}

#[async_trait]
impl LogEnds for RedbLog {
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>> {
        self.inner
            .ends()
            .get(topic)
            .cloned()
            .ok_or_else(|| EventLogError::UnknownTopic(topic.to_string()))
    }
}

#[async_trait]
impl EventLog for RedbLog {
    async fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        blocking(move || inner.ensure_topic(&topic, partitions)).await
    }

    async fn partition_count(&self, topic: &str) -> Result<Option<u32>> {
        Ok(self.inner.ends().get(topic).map(|p| p.len() as u32))
    }

    async fn append(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Offset>> {
        let inner = self.inner.clone();
        let topic = topic.to_string();
        blocking(move || inner.append(&topic, &records)).await
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Option<Offset>>> {
        let partitions = self.end_offsets(topic).await?.len() as u32;
        let inner = self.inner.clone();
        let (group, topic) = (group.to_string(), topic.to_string());
        blocking(move || {
            let read = inner.db.begin_read().map_err(storage)?;
            let commits = match read.open_table(COMMITS) {
                Ok(table) => table,
                Err(::redb::TableError::TableDoesNotExist(_)) => {
                    return Ok(vec![None; partitions as usize]);
                }
                Err(e) => return Err(storage(e)),
            };
            (0..partitions)
                .map(|p| {
                    Ok(commits
                        .get((group.as_str(), topic.as_str(), p))
                        .map_err(storage)?
                        .map(|next| next.value() as Offset))
                })
                .collect()
        })
        .await
    }

    async fn subscribe(&self, group: &str, topics: Topics) -> Result<Box<dyn Subscription>> {
        Ok(Box::new(RedbSubscription {
            inner: self.inner.clone(),
            changes: self.inner.changed.subscribe(),
            group: group.to_string(),
            topics,
            positions: HashMap::new(),
            round: 0,
        }))
    }
}

struct RedbSubscription {
    inner: Arc<Inner>,
    changes: watch::Receiver<u64>,
    group: String,
    topics: Topics,
    /// The next offset to deliver per partition.
    positions: HashMap<(String, Partition), Offset>,
    round: usize,
}

#[async_trait]
impl Subscription for RedbSubscription {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Marked seen before reading: an append after the read wakes the wait below.
            self.changes.borrow_and_update();
            let inner = self.inner.clone();
            let group = self.group.clone();
            let topics = self.topics.clone();
            // A copy: a call dropped midway (cancelled by a select) leaves the
            // positions as they were, so nothing is skipped or redelivered.
            let mut positions = self.positions.clone();
            let start = self.round;
            let (messages, positions) = blocking(move || {
                let messages = inner.read(&group, &topics, &mut positions, max, start);
                Ok((messages, positions))
            })
            .await?;
            self.positions = positions;
            self.round = self.round.wrapping_add(1);
            let messages = messages?;
            if !messages.is_empty() || max == 0 {
                return Ok(messages);
            }
            match tokio::time::timeout_at(deadline, self.changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(Vec::new()),
            }
        }
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<()> {
        let inner = self.inner.clone();
        let group = self.group.clone();
        let positions = positions.to_vec();
        blocking(move || inner.commit(&group, &positions)).await
    }

    fn positions(&self) -> Vec<Position> {
        self.positions
            .iter()
            .map(|((topic, partition), next_offset)| Position {
                topic: topic.clone(),
                partition: *partition,
                next_offset: *next_offset,
            })
            .collect()
    }
}

/// `len ‖ key ‖ len ‖ payload ‖ header count ‖ (len ‖ name ‖ len ‖ value)*`,
/// lengths as 4-byte little-endian.
fn encode(record: &Record, out: &mut Vec<u8>) {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    put(out, &record.key);
    put(out, &record.payload);
    out.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for (name, value) in &record.headers {
        put(out, name.as_bytes());
        put(out, value);
    }
}

fn decode(topic: &str, partition: Partition, offset: Offset, bytes: &[u8]) -> Result<Message> {
    let corrupt = || {
        EventLogError::Internal(format!(
            "embedded event log: corrupt record {topic}/{partition}@{offset}"
        ))
    };
    let mut cursor = Cursor(bytes);
    let key = cursor.field().ok_or_else(corrupt)?;
    let payload = cursor.field().ok_or_else(corrupt)?;
    let count = cursor.u32().ok_or_else(corrupt)?;
    let mut headers = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let name = cursor.field().ok_or_else(corrupt)?;
        let value = cursor.field().ok_or_else(corrupt)?;
        headers.push((String::from_utf8(name).map_err(|_| corrupt())?, value));
    }
    Ok(Message {
        topic: topic.to_string(),
        partition,
        offset,
        key,
        payload,
        headers,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn field(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
}
