//! The materialization pipeline: Kafka batch → online upserts + Delta
//! append → offset commit. A batch is retried (with backoff, without
//! committing) until both sinks accepted it, so an outage of Cassandra or of
//! the Delta storage stalls the pipeline and it catches up afterwards; since
//! both sinks are idempotent (event-time timestamps online, transaction ids
//! offline) a replayed batch changes nothing.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
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

    /// Writes one batch to both sinks; returns the positions to commit.
    pub async fn process(&self, messages: &[Message]) -> Result<BatchOutcome, MaterializeError> {
        let mut outcome = BatchOutcome {
            records: messages.len(),
            ..Default::default()
        };
        let mut by_topic: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in messages {
            by_topic.entry(m.topic.as_str()).or_default().push(m);
            let slot = next.entry((m.topic.clone(), m.partition)).or_insert(0);
            *slot = (*slot).max(m.offset + 1);
        }
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
                        values: values.clone(),
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
                let appended = self
                    .offline
                    .append(
                        &OfflineTable::for_group(&group),
                        &self.consumer,
                        topic,
                        &offline,
                    )
                    .await?;
                outcome.offline_appended += appended.appended;
                outcome.offline_skipped += appended.skipped;
            }
        }
        outcome.positions = next
            .into_iter()
            .map(|((topic, partition), next_offset)| Position {
                topic,
                partition,
                next_offset,
            })
            .collect();
        Ok(outcome)
    }
}

/// Consumes every feature-group topic until `shutdown`.
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
    loop {
        let messages = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = subscription.next_batch(batch.max_records, batch.max_wait) => next,
        };
        let messages = match messages {
            Ok(m) if m.is_empty() => continue,
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "kafka read failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut delays = backoff.build();
        let outcome = loop {
            match materializer.process(&messages).await {
                Ok(outcome) => break outcome,
                Err(e) => {
                    let delay = delays.next().unwrap_or(batch.max_retry_delay);
                    tracing::warn!(error = %e, ?delay, records = messages.len(), "batch not durable; retrying without committing");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        };
        let mut delays = backoff.build();
        while let Err(e) = subscription.commit(&outcome.positions).await {
            let delay = delays.next().unwrap_or(batch.max_retry_delay);
            tracing::warn!(error = %e, ?delay, "offset commit failed; retrying");
            tokio::time::sleep(delay).await;
        }
        tracing::debug!(
            records = outcome.records,
            online = outcome.online_rows,
            appended = outcome.offline_appended,
            skipped = outcome.offline_skipped,
            "batch materialized"
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
