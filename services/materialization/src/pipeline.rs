//! The materialization pipeline: Kafka batch → online upserts + Delta
//! append → offset commit. A batch is retried (with backoff, without
//! committing) until both sinks accepted it, so an outage of Cassandra or of
//! the Delta storage stalls the pipeline and it catches up afterwards; since
//! both sinks are idempotent (event-time timestamps online, transaction ids
//! offline) a replayed batch changes nothing.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use featurestore_catalog::CatalogCache;
use featurestore_domain::names::TOPIC_PREFIX;
use featurestore_eventlog::{EventLog, Message, Position, Topics};
use featurestore_metastore::MetadataStore;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineStoreError, OfflineTable};
use featurestore_onlinestore::{OnlineRow, OnlineStore, OnlineStoreError, OnlineTable};
use featurestore_proto::v1::{FeatureGroup, FeatureRowRecord, Value, value::Kind};
use featurestore_runtime::Shutdown;
use prost::Message as _;

use crate::config::BatchSettings;

#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    #[error(transparent)]
    Online(#[from] OnlineStoreError),
    #[error(transparent)]
    Offline(#[from] OfflineStoreError),
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub records: usize,
    pub online_rows: usize,
    pub offline_appended: usize,
    pub offline_skipped: usize,
    /// Records of unknown group versions or undecodable payloads.
    pub dropped: usize,
    pub positions: Vec<Position>,
}

pub struct Materializer {
    catalog: Arc<CatalogCache>,
    store: Arc<dyn MetadataStore>,
    online: Arc<dyn OnlineStore>,
    offline: Arc<DeltaStore>,
    consumer: String,
    /// Tables known to exist with this many feature columns.
    ensured: Mutex<HashSet<(String, u32, usize)>>,
}

impl std::fmt::Debug for Materializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materializer")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// `fs.<project>.<group>.v<version>` → its parts.
pub fn parse_topic(topic: &str) -> Option<(&str, &str, u32)> {
    let rest = topic.strip_prefix(TOPIC_PREFIX)?;
    let mut parts = rest.split('.');
    let (project, group, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((project, group, version.strip_prefix('v')?.parse().ok()?))
}

fn null() -> Value {
    Value {
        kind: Some(Kind::NullValue(0)),
    }
}

impl Materializer {
    pub fn new(
        catalog: Arc<CatalogCache>,
        store: Arc<dyn MetadataStore>,
        online: Arc<dyn OnlineStore>,
        offline: Arc<DeltaStore>,
        consumer: String,
    ) -> Self {
        Self {
            catalog,
            store,
            online,
            offline,
            consumer,
            ensured: Mutex::new(HashSet::new()),
        }
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

    async fn group_of(&self, topic: &str) -> Option<Arc<FeatureGroup>> {
        let (project, name, version) = parse_topic(topic)?;
        if let Some(g) = self
            .catalog
            .snapshot()
            .feature_group(project, name, version)
        {
            return Some(g.clone());
        }
        // Maybe registered a moment ago: let the cache catch up once.
        if let Ok(revision) = self.store.current_revision().await {
            let _ = self
                .catalog
                .wait_for_revision(revision, Duration::from_secs(5))
                .await;
        }
        self.catalog
            .snapshot()
            .feature_group(project, name, version)
            .cloned()
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
        let mut queued: Vec<(String, Arc<FeatureGroup>, Vec<OfflineRow>)> = Vec::new();
        for (topic, messages) in by_topic {
            let Some(group) = self.group_of(topic).await else {
                tracing::warn!(
                    topic,
                    records = messages.len(),
                    "no feature group for this topic; dropping its records"
                );
                outcome.dropped += messages.len();
                continue;
            };
            self.ensure_tables(&group).await?;
            let features = group.features.len();
            let mut online = Vec::with_capacity(messages.len());
            let mut offline = Vec::with_capacity(messages.len());
            for m in messages {
                let record = match FeatureRowRecord::decode(m.payload.as_slice()) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(topic, partition = m.partition, offset = m.offset, error = %e, "undecodable record dropped");
                        outcome.dropped += 1;
                        continue;
                    }
                };
                let mut values = record.feature_values;
                values.resize_with(features, null);
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
                    .await?;
                outcome.online_rows += online.len();
            }
            if !offline.is_empty() {
                queued.push((topic.to_string(), group, offline));
            }
        }
        for (topic, group, rows) in queued {
            pending.rows += rows.len();
            pending
                .tables
                .entry(topic)
                .or_insert_with(|| (group, Vec::new()))
                .1
                .extend(rows);
        }
        for m in messages {
            let slot = pending
                .positions
                .entry((m.topic.clone(), m.partition))
                .or_insert(0);
            *slot = (*slot).max(m.offset + 1);
        }
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
        for (topic, (group, rows)) in &pending.tables {
            let appended = self
                .offline
                .append(&OfflineTable::for_group(group), &self.consumer, topic, rows)
                .await?;
            outcome.offline_appended += appended.appended;
            outcome.offline_skipped += appended.skipped;
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
    tables: BTreeMap<String, (Arc<FeatureGroup>, Vec<OfflineRow>)>,
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
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(batch.max_retry_delay)
        .without_max_times()
        .with_jitter();
    let mut pending = PendingOffline::default();
    let mut oldest: Option<Instant> = None;
    loop {
        let wait = match oldest {
            Some(t) => batch
                .max_wait
                .min(batch.offline_flush_interval.saturating_sub(t.elapsed())),
            None => batch.max_wait,
        };
        let messages = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = subscription.next_batch(batch.max_records, wait.max(Duration::from_millis(1))) => next,
        };
        match messages {
            Ok(messages) if !messages.is_empty() => {
                let mut delays = backoff.build();
                loop {
                    match materializer.write_online(&messages, &mut pending).await {
                        Ok(_) => break,
                        Err(e) => {
                            let delay = delays.next().unwrap_or(batch.max_retry_delay);
                            tracing::warn!(error = %e, ?delay, records = messages.len(), "online write failed; retrying the batch");
                            tokio::select! {
                                _ = shutdown.cancelled() => return Ok(()),
                                _ = tokio::time::sleep(delay) => {}
                            }
                        }
                    }
                }
                oldest.get_or_insert_with(Instant::now);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "kafka read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
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
        let mut delays = backoff.build();
        while let Err(e) = subscription.commit(&positions).await {
            let delay = delays.next().unwrap_or(batch.max_retry_delay);
            tracing::warn!(error = %e, ?delay, "offset commit failed; retrying");
            tokio::time::sleep(delay).await;
        }
        tracing::debug!(
            appended = outcome.offline_appended,
            skipped = outcome.offline_skipped,
            "offline commit and offsets done"
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
