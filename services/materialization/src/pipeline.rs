//! The materialization pipeline: Kafka batch → online upserts + Delta
//! append → offset commit. A batch is retried (with backoff, without
//! committing) until both sinks accepted it, so an outage of Cassandra or of
//! the Delta storage stalls the pipeline and it catches up afterwards; since
//! both sinks are idempotent (event-time timestamps online, transaction ids
//! offline) a replayed batch changes nothing.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use featurestore_catalog::{CatalogCache, Keyspace};
use featurestore_domain::aggregation::Aggregations;
use featurestore_domain::{FeatureGroupId, names::TOPIC_PREFIX};
use featurestore_eventlog::{EventLog, Message, Position, Topics};
use featurestore_metastore::MetadataStore;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineStoreError, OfflineTable};
use featurestore_onlinestore::{OnlineRow, OnlineStore, OnlineStoreError, OnlineTable, TileTable};
use featurestore_proto::v1::{
    FeatureGroup, FeatureRowRecord, HeldTopic, PipelineStatus, Value, value::Kind,
};
use featurestore_runtime::{Shutdown, telemetry::TraceLinks};
use prost::Message as _;
use tracing::Instrument;

use crate::{config::BatchSettings, held::Held, progress::ProgressPublisher, tiles::TileEvent};

#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    #[error(transparent)]
    Online(#[from] OnlineStoreError),
    #[error(transparent)]
    Offline(#[from] OfflineStoreError),
    /// Committing the applied positions to the event log.
    #[error("offset commit: {0}")]
    Commit(#[from] featurestore_eventlog::EventLogError),
}

/// Per partition: the offset after the last record applied and the newest
/// event time among them.
type Reached = BTreeMap<i32, (i64, i64)>;

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub records: usize,
    pub online_rows: usize,
    /// Events folded into aggregation tiles, and the tiles written.
    pub events_folded: usize,
    pub tiles_written: usize,
    pub offline_appended: usize,
    pub offline_skipped: usize,
    /// Records skipped and committed: of deleted group versions, foreign
    /// topics or undecodable payloads (each counted in [`PipelineStatus`]).
    pub dropped: usize,
    /// Records of topics whose group version could not be resolved (the
    /// metadata store did not answer): not processed, their positions not
    /// advanced; the caller holds and retries them.
    pub unresolved: Vec<Unresolved>,
    pub positions: Vec<Position>,
}

/// A topic's records that wait for the catalog, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub topic: String,
    pub messages: Vec<Message>,
    pub reason: String,
}

/// What the metadata says of a topic.
#[derive(Debug)]
pub enum Resolution {
    Group(Arc<FeatureGroup>),
    /// The store of record has no such group version (deleted).
    Deleted,
    /// Not a group version's topic name.
    Foreign,
    /// The store could not be asked; try again later.
    Unknown(String),
}

#[derive(Debug, Default)]
struct Skipped {
    deleted: u64,
    foreign: u64,
    undecodable: u64,
}

/// Pipeline-wide counts of skipped records, and the held topics.
#[derive(Debug, Default)]
pub struct PipelineCounters {
    dropped_deleted_group: AtomicU64,
    undecodable: AtomicU64,
    foreign_topic: AtomicU64,
    held: Arc<Mutex<Vec<HeldTopic>>>,
    failed_attempts: AtomicU64,
    /// The last failure and when (µs since epoch).
    last_error: Mutex<(String, i64)>,
}

pub struct Materializer {
    catalog: Arc<CatalogCache>,
    store: Arc<dyn MetadataStore>,
    keys: Keyspace,
    online: Arc<dyn OnlineStore>,
    offline: Arc<DeltaStore>,
    consumer: String,
    /// Tables known to exist with this many feature columns and
    /// aggregations.
    ensured: Mutex<HashSet<(String, u32, usize, usize)>>,
    counters: PipelineCounters,
    progress: Arc<ProgressPublisher>,
}

impl std::fmt::Debug for Materializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materializer")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// `fs.<project>.<group>.v<version>` → its parts (versions start at 1).
pub fn parse_topic(topic: &str) -> Option<(&str, &str, u32)> {
    let rest = topic.strip_prefix(TOPIC_PREFIX)?;
    let mut parts = rest.split('.');
    let (project, group, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let version: u32 = version.strip_prefix('v')?.parse().ok()?;
    (version > 0).then_some((project, group, version))
}

pub(crate) fn group_id(group: &FeatureGroup) -> FeatureGroupId {
    FeatureGroupId {
        project: group.project.clone(),
        name: group.name.clone(),
        version: group.version,
    }
}

fn null() -> Value {
    Value {
        kind: Some(Kind::NullValue(0)),
    }
}

impl Materializer {
    /// `keys` is the layout the catalog cache follows in `store`.
    pub fn new(
        catalog: Arc<CatalogCache>,
        store: Arc<dyn MetadataStore>,
        keys: Keyspace,
        online: Arc<dyn OnlineStore>,
        offline: Arc<DeltaStore>,
        consumer: String,
    ) -> Self {
        Self {
            catalog,
            progress: Arc::new(ProgressPublisher::new(store.clone(), keys.clone())),
            store,
            keys,
            online,
            offline,
            consumer,
            ensured: Mutex::new(HashSet::new()),
            counters: PipelineCounters::default(),
        }
    }

    /// Counts a failed attempt (retried without committing).
    pub fn record_failure(&self, error: &MaterializeError) {
        let c = &self.counters;
        c.failed_attempts.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or_default();
        *c.last_error.lock().unwrap_or_else(|e| e.into_inner()) = (error.to_string(), now);
    }

    /// Held topics, skipped-record counts and failed attempts.
    pub fn pipeline_status(&self) -> PipelineStatus {
        let c = &self.counters;
        let (last_error, last_error_micros) = c
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        PipelineStatus {
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            last_error,
            last_error_micros,
            held: c.held.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            records_dropped_deleted_group: c.dropped_deleted_group.load(Ordering::Relaxed),
            records_undecodable: c.undecodable.load(Ordering::Relaxed),
            records_foreign_topic: c.foreign_topic.load(Ordering::Relaxed),
            consumer: self.consumer.clone(),
        }
    }

    /// A held-records buffer publishing to this materializer's status.
    pub fn held_buffer(&self, max_retry_delay: Duration) -> Held {
        Held::new(max_retry_delay, self.counters.held.clone())
    }

    /// Where applied offsets and watermarks are recorded and published.
    pub fn progress(&self) -> &Arc<ProgressPublisher> {
        &self.progress
    }

    pub fn catalog(&self) -> &Arc<CatalogCache> {
        &self.catalog
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    pub fn online(&self) -> &Arc<dyn OnlineStore> {
        &self.online
    }

    pub fn offline(&self) -> &Arc<DeltaStore> {
        &self.offline
    }

    /// Whether this process has ensured the group version's tables.
    pub fn tables_ensured(&self, group: &FeatureGroup) -> bool {
        let key = (
            format!("{}/{}", group.project, group.name),
            group.version,
            group.features.len(),
            group.aggregations.len(),
        );
        self.ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
    }

    /// Creates (or widens) the online and offline tables of a group version.
    pub async fn ensure_tables(&self, group: &FeatureGroup) -> Result<(), MaterializeError> {
        let key = (
            format!("{}/{}", group.project, group.name),
            group.version,
            group.features.len(),
            group.aggregations.len(),
        );
        if self
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        if group.online_enabled {
            self.online
                .ensure_table(&OnlineTable::for_group(group))
                .await?;
            if !group.aggregations.is_empty() {
                self.online
                    .ensure_tiles(&TileTable::for_group(group))
                    .await?;
            }
        }
        if group.offline_enabled {
            self.offline
                .ensure_table(&OfflineTable::for_group(group))
                .await?;
        }
        self.ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// Tables follow the catalog: ensures every group version's tables.
    pub async fn reconcile_tables(&self) -> Result<usize, MaterializeError> {
        let snapshot = self.catalog.snapshot();
        let mut n = 0;
        for group in snapshot.feature_groups() {
            self.ensure_tables(group).await?;
            n += 1;
        }
        Ok(n)
    }

    /// The group version a topic carries: from the catalog cache, or, when
    /// the cache does not know it (registered a moment ago, or the cache is
    /// cut off from the store), from the store of record itself. Only the
    /// store's answer "no such key" makes a topic's records droppable.
    pub async fn resolve(&self, topic: &str) -> Resolution {
        let Some((project, name, version)) = parse_topic(topic) else {
            return Resolution::Foreign;
        };
        if let Some(g) = self
            .catalog
            .snapshot()
            .feature_group(project, name, version)
        {
            return Resolution::Group(g.clone());
        }
        match self
            .store
            .get(&self.keys.group(project, name, version))
            .await
        {
            Ok(Some(kv)) => match FeatureGroup::decode(kv.value.as_slice()) {
                Ok(group) => Resolution::Group(Arc::new(group)),
                Err(e) => Resolution::Unknown(format!("stored group does not decode: {e}")),
            },
            Ok(None) => Resolution::Deleted,
            Err(e) => Resolution::Unknown(format!("metadata store: {e}")),
        }
    }

    /// Step 1 of a batch: upserts the online rows now and queues the offline
    /// rows and consumed positions in `pending` (only once the whole batch
    /// is online: a failed batch is retried whole and queues nothing twice).
    pub async fn write_online(
        &self,
        messages: &[Message],
        pending: &mut PendingOffline,
    ) -> Result<BatchOutcome, MaterializeError> {
        let mut outcome = BatchOutcome {
            records: messages.len(),
            ..Default::default()
        };
        let mut by_topic: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
        for m in messages {
            by_topic.entry(m.topic.as_str()).or_default().push(m);
        }
        let mut queued: Vec<(String, Arc<FeatureGroup>, Vec<OfflineRow>, TraceLinks)> = Vec::new();
        let mut applied: Vec<(FeatureGroupId, Reached)> = Vec::new();
        // Counted once the batch succeeded (a failed batch is retried whole).
        let mut skipped = Skipped::default();
        for (topic, messages) in by_topic {
            let group = match self.resolve(topic).await {
                Resolution::Group(group) => group,
                Resolution::Unknown(reason) => {
                    tracing::warn!(topic, records = messages.len(), %reason, "group version unknown; holding the topic's records");
                    crate::metrics::catalog_wait(messages.len());
                    outcome.unresolved.push(Unresolved {
                        topic: topic.to_string(),
                        messages: messages.into_iter().cloned().collect(),
                        reason,
                    });
                    continue;
                }
                Resolution::Deleted => {
                    tracing::warn!(
                        topic,
                        records = messages.len(),
                        "the metadata store has no such group version (deleted); skipping its records"
                    );
                    skipped.deleted += messages.len() as u64;
                    outcome.dropped += messages.len();
                    continue;
                }
                Resolution::Foreign => {
                    tracing::warn!(
                        topic,
                        records = messages.len(),
                        "not a feature-group topic; skipping its records"
                    );
                    skipped.foreign += messages.len() as u64;
                    outcome.dropped += messages.len();
                    continue;
                }
            };
            self.ensure_tables(&group).await?;
            // The records' traces go on here (and to their Delta commit).
            let span = featurestore_runtime::telemetry::consumer_span(
                topic,
                messages.iter().map(|m| m.headers.as_slice()),
                messages.len(),
            );
            let traced = featurestore_runtime::telemetry::is_traced(&span);
            let features = group.features.len();
            // Per partition: the offset after the last record, the newest
            // event time; recorded once the whole batch is applied.
            let mut reached = Reached::new();
            for m in &messages {
                let slot = reached.entry(m.partition).or_insert((0, 0));
                slot.0 = slot.0.max(m.offset + 1);
            }
            let mut online = Vec::with_capacity(messages.len());
            let mut offline = Vec::with_capacity(messages.len());
            let aggregations = Aggregations::of(&group);
            let mut tile_events = Vec::new();
            for m in messages {
                let record = match FeatureRowRecord::decode(m.payload.as_slice()) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(topic, partition = m.partition, offset = m.offset, error = %e, "undecodable record skipped");
                        skipped.undecodable += 1;
                        outcome.dropped += 1;
                        continue;
                    }
                };
                let newest = &mut reached.entry(m.partition).or_insert((0, 0)).1;
                *newest = (*newest).max(record.event_time_micros);
                let mut values = record.feature_values;
                values.resize_with(features, null);
                if let Some(a) = &aggregations {
                    tile_events.push(TileEvent::new(
                        a,
                        m.key.clone(),
                        (m.partition, m.offset),
                        record.event_time_micros,
                        &values,
                    ));
                }
                if group.online_enabled {
                    online.push(OnlineRow {
                        entity_key: m.key.clone(),
                        event_time_micros: record.event_time_micros,
                        values: if group.offline_enabled {
                            values.clone()
                        } else {
                            std::mem::take(&mut values)
                        },
                    });
                }
                if group.offline_enabled {
                    offline.push(OfflineRow {
                        key_values: record.key_values,
                        event_time_micros: record.event_time_micros,
                        feature_values: values,
                        ingest_time_micros: record.ingest_time_micros,
                        partition: m.partition,
                        offset: m.offset,
                    });
                }
            }
            if !online.is_empty() {
                self.online
                    .upsert(&OnlineTable::for_group(&group), &online)
                    .instrument(if traced {
                        tracing::info_span!(parent: &span, "online write", rows = online.len())
                    } else {
                        tracing::Span::none()
                    })
                    .await?;
                outcome.online_rows += online.len();
                crate::metrics::rows(&group_id(&group), true, online.len());
            }
            if let Some(a) = &aggregations
                && !tile_events.is_empty()
            {
                let folded = crate::tiles::fold(&*self.online, &group, a, tile_events)
                    .instrument(if traced {
                        tracing::info_span!(parent: &span, "fold tiles")
                    } else {
                        tracing::Span::none()
                    })
                    .await?;
                for (partition, f) in folded {
                    outcome.events_folded += f.events as usize;
                    outcome.tiles_written += f.tiles_written as usize;
                    self.progress.record_folds(
                        group_id(&group),
                        partition,
                        f.events,
                        f.tiles_written,
                    );
                    crate::metrics::folded(&group_id(&group), f.events, f.tiles_written);
                }
            }
            if !offline.is_empty() {
                let mut links = TraceLinks::default();
                if traced {
                    links.add(&span);
                }
                queued.push((topic.to_string(), group.clone(), offline, links));
            }
            applied.push((group_id(&group), reached));
        }
        for (topic, group, mut rows, links) in queued {
            // Records already queued (delivered again after a rebalance gave
            // their partition back) are queued once.
            let queued_up_to: BTreeMap<i32, i64> = pending
                .positions
                .range((topic.clone(), i32::MIN)..=(topic.clone(), i32::MAX))
                .map(|((_, partition), next)| (*partition, *next))
                .collect();
            rows.retain(|r| {
                queued_up_to
                    .get(&r.partition)
                    .is_none_or(|next| r.offset >= *next)
            });
            pending.rows += rows.len();
            let table = pending
                .tables
                .entry(topic)
                .or_insert_with(|| (group, Vec::new(), TraceLinks::default()));
            table.1.extend(rows);
            table.2.extend(&links);
        }
        for m in messages {
            if outcome.unresolved.iter().any(|u| u.topic == m.topic) {
                continue;
            }
            let slot = pending
                .positions
                .entry((m.topic.clone(), m.partition))
                .or_insert(0);
            *slot = (*slot).max(m.offset + 1);
        }
        for (group, reached) in applied {
            for (partition, (next_offset, newest)) in reached {
                self.progress
                    .record(group.clone(), partition, next_offset, newest, true);
            }
        }
        let c = &self.counters;
        c.dropped_deleted_group
            .fetch_add(skipped.deleted, Ordering::Relaxed);
        c.foreign_topic
            .fetch_add(skipped.foreign, Ordering::Relaxed);
        c.undecodable
            .fetch_add(skipped.undecodable, Ordering::Relaxed);
        Ok(outcome)
    }

    /// Step 2: appends every queued offline row (one Delta commit per table,
    /// carrying its partitions' transaction versions) and returns the
    /// positions that may now be committed to Kafka. On error nothing is
    /// lost: `pending` is kept, and tables already appended are skipped by
    /// their transaction versions on the retry.
    pub async fn flush_offline(
        &self,
        pending: &mut PendingOffline,
        outcome: &mut BatchOutcome,
    ) -> Result<Vec<Position>, MaterializeError> {
        let mut newest: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for (topic, (group, rows, links)) in &pending.tables {
            let started = std::time::Instant::now();
            let commit = if links.is_empty() {
                tracing::Span::none()
            } else {
                let commit = tracing::info_span!("delta commit", topic = %topic, rows = rows.len());
                links.attach(&commit);
                commit
            };
            let appended = self
                .offline
                .append(&OfflineTable::for_group(group), &self.consumer, topic, rows)
                .instrument(commit)
                .await?;
            let id = group_id(group);
            crate::metrics::delta_commit(&id, started.elapsed());
            crate::metrics::rows(&id, false, appended.appended);
            outcome.offline_appended += appended.appended;
            outcome.offline_skipped += appended.skipped;
            for row in rows {
                let slot = newest.entry((topic.as_str(), row.partition)).or_insert(0);
                *slot = (*slot).max(row.event_time_micros);
            }
        }
        // Every position's records are in Delta now (or online-only).
        for ((topic, partition), next_offset) in &pending.positions {
            if let Some((project, name, version)) = parse_topic(topic) {
                let group = FeatureGroupId {
                    project: project.into(),
                    name: name.into(),
                    version,
                };
                let newest = newest
                    .get(&(topic.as_str(), *partition))
                    .copied()
                    .unwrap_or(0);
                self.progress
                    .record(group, *partition, *next_offset, newest, false);
            }
        }
        let positions = std::mem::take(&mut pending.positions)
            .into_iter()
            .map(|((topic, partition), next_offset)| Position {
                topic,
                partition,
                next_offset,
            })
            .collect();
        *pending = PendingOffline::default();
        Ok(positions)
    }

    /// Records as progress where the subscription stands in partitions it
    /// has nothing more to deliver from (`positions` taken after an empty
    /// read): every record delivered there is applied, and the offsets in
    /// between are Kafka's transaction markers or aborted records, so a
    /// reader comparing progress with the log's end sees the partition
    /// caught up. Offline only where no rows wait for the next Delta commit;
    /// neither for topics whose records are `held`.
    pub fn record_caught_up(&self, positions: &[Position], held: &Held, pending: &PendingOffline) {
        for p in positions {
            if held.holds(&p.topic) {
                continue;
            }
            let Some((project, name, version)) = parse_topic(&p.topic) else {
                continue;
            };
            let group = FeatureGroupId {
                project: project.into(),
                name: name.into(),
                version,
            };
            let offline = !pending
                .positions
                .contains_key(&(p.topic.clone(), p.partition));
            if offline {
                self.progress
                    .record(group.clone(), p.partition, p.next_offset, 0, false);
            }
            self.progress
                .record(group, p.partition, p.next_offset, 0, true);
        }
    }

    /// Both steps for one batch (what a replay does); returns the positions
    /// to commit.
    pub async fn process(&self, messages: &[Message]) -> Result<BatchOutcome, MaterializeError> {
        let mut pending = PendingOffline::default();
        let mut outcome = self.write_online(messages, &mut pending).await?;
        outcome.positions = self.flush_offline(&mut pending, &mut outcome).await?;
        Ok(outcome)
    }
}

/// Offline rows waiting for the next Delta commit, and the positions they
/// (and the online-only records before them) bring.
#[derive(Debug, Default)]
pub struct PendingOffline {
    /// Per topic: its group, the rows, the spans they were applied in.
    tables: BTreeMap<String, (Arc<FeatureGroup>, Vec<OfflineRow>, TraceLinks)>,
    positions: BTreeMap<(String, i32), i64>,
    rows: usize,
}

impl PendingOffline {
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Consumes every feature-group topic until `shutdown`: each batch goes
/// online at once (freshness), offline rows are committed to Delta every
/// `offline_flush_interval` (or sooner when `max_pending_rows` are queued),
/// and Kafka offsets are committed after that. A crash loses nothing: what
/// was not committed to Kafka is read again, and both sinks ignore replays.
///
/// Records whose group version cannot be resolved (the metadata store does
/// not answer) are held, uncommitted, with every later record of their
/// topic, and retried with backoff while the other topics go on; past
/// `max_pending_rows` held records nothing new is read until they resolve.
pub async fn run(
    materializer: Arc<Materializer>,
    log: Arc<dyn EventLog>,
    topic_prefix: String,
    batch: BatchSettings,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut subscription = log
        .subscribe(materializer.consumer(), Topics::Prefix(topic_prefix))
        .await?;
    tokio::spawn(materializer.progress().clone().run(
        batch.progress_interval,
        batch.progress_keep_revisions,
        shutdown.clone(),
    ));
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(batch.max_retry_delay)
        .without_max_times()
        .with_jitter();
    let mut pending = PendingOffline::default();
    let mut held = materializer.held_buffer(batch.max_retry_delay);
    let mut oldest: Option<Instant> = None;
    let mut uncommitted: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut commit_due = Instant::now();
    let mut commit_delays = backoff.build();
    loop {
        let mut wait = match oldest {
            Some(t) => batch
                .max_wait
                .min(batch.offline_flush_interval.saturating_sub(t.elapsed())),
            None => batch.max_wait,
        };
        if let Some(retry) = held.until_retry() {
            wait = wait.min(retry);
        }
        if !uncommitted.is_empty() {
            wait = wait.min(commit_due.saturating_duration_since(Instant::now()));
        }
        let wait = wait.max(Duration::from_millis(1));
        let read = if held.records() >= batch.max_pending_rows {
            // Memory bound: read nothing new until the held records resolve
            // (nothing past them is committed, so nothing is lost).
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(wait) => Ok(Vec::new()),
            }
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = subscription.next_batch(batch.max_records, wait) => next,
            }
        };
        // Positions whose offline rows are in Delta, committed to the log.
        // A failed commit is kept and retried later while reading goes on
        // (a consumer that stops polling cannot rejoin its group after a
        // broker restart, so its commits would fail forever).
        if !uncommitted.is_empty() && Instant::now() >= commit_due {
            let positions: Vec<Position> = uncommitted
                .iter()
                .map(|((topic, partition), next_offset)| Position {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset: *next_offset,
                })
                .collect();
            match subscription.commit(&positions).await {
                Ok(()) => {
                    uncommitted.clear();
                    commit_delays = backoff.build();
                }
                Err(e) => {
                    materializer.record_failure(&MaterializeError::Commit(e.clone()));
                    let delay = commit_delays.next().unwrap_or(batch.max_retry_delay);
                    tracing::warn!(error = %e, ?delay, "offset commit failed; retrying while reading on");
                    commit_due = Instant::now() + delay;
                }
            }
        }
        // Held records due for a retry go first: they are older than
        // anything just read of their topics.
        let retrying = held.take_due();
        let is_retry = retrying.is_some();
        let mut work = retrying.unwrap_or_default();
        match read {
            Ok(messages) if messages.is_empty() => {
                // Nothing more to deliver: everything before is applied
                // online (earlier turns), so progress may move past markers.
                materializer.record_caught_up(&subscription.positions(), &held, &pending);
            }
            Ok(messages) if is_retry => work.extend(messages),
            Ok(messages) => {
                let mut behind: BTreeMap<String, Vec<Message>> = BTreeMap::new();
                for m in messages {
                    if held.holds(&m.topic) {
                        behind.entry(m.topic.clone()).or_default().push(m);
                    } else {
                        work.push(m);
                    }
                }
                for (topic, messages) in behind {
                    held.queue_behind(&topic, messages);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "event log read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if !work.is_empty() {
            let mut delays = backoff.build();
            let outcome = loop {
                match materializer.write_online(&work, &mut pending).await {
                    Ok(outcome) => break outcome,
                    Err(e) => {
                        materializer.record_failure(&e);
                        let delay = delays.next().unwrap_or(batch.max_retry_delay);
                        tracing::warn!(error = %e, ?delay, records = work.len(), "online write failed; retrying the batch");
                        tokio::select! {
                            _ = shutdown.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            };
            for unresolved in outcome.unresolved {
                held.hold(&unresolved.topic, unresolved.messages, &unresolved.reason);
            }
            if !pending.is_empty() {
                oldest.get_or_insert_with(Instant::now);
            }
        }
        if is_retry {
            held.finish_retry();
        }
        let due = oldest.is_some_and(|t| t.elapsed() >= batch.offline_flush_interval)
            || pending.rows() >= batch.max_pending_rows;
        if !due || pending.is_empty() {
            continue;
        }
        let mut outcome = BatchOutcome::default();
        let mut delays = backoff.build();
        let positions = loop {
            match materializer.flush_offline(&mut pending, &mut outcome).await {
                Ok(positions) => break positions,
                Err(e) => {
                    materializer.record_failure(&e);
                    let delay = delays.next().unwrap_or(batch.max_retry_delay);
                    tracing::warn!(error = %e, ?delay, rows = pending.rows(), "offline commit failed; retrying without committing offsets");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        oldest = None;
        for p in positions {
            let slot = uncommitted
                .entry((p.topic, p.partition))
                .or_insert(p.next_offset);
            *slot = (*slot).max(p.next_offset);
        }
        commit_due = Instant::now();
        tracing::debug!(
            appended = outcome.offline_appended,
            skipped = outcome.offline_skipped,
            "offline commit done; its log positions are committed next"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_back_to_groups() {
        assert_eq!(
            parse_topic("fs.shop.orders.v12"),
            Some(("shop", "orders", 12))
        );
        assert_eq!(
            parse_topic(&featurestore_domain::names::topic_name("p", "g", 3)),
            Some(("p", "g", 3))
        );
        assert_eq!(parse_topic("fs.shop.orders"), None);
        assert_eq!(parse_topic("other.shop.orders.v1"), None);
        assert_eq!(parse_topic("fs.shop.orders.vx"), None);
    }
}
