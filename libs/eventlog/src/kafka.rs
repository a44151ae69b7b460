//! The Kafka implementation of [`EventLog`] (rdkafka / librdkafka).
//!
//! Appends are Kafka transactions (idempotent, `acks=all`, explicit
//! partitions; see [`crate::kafka_txn`]) and return only once committed;
//! subscriptions read `read_committed`, so an append is seen whole or not at
//! all. A Kafka that is down makes an append fail with
//! [`EventLogError::Unavailable`] after `append_timeout`, never hang.
//! Subscriptions commit offsets manually, only when asked.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::{
    ClientConfig, Message as _, Offset as KafkaOffset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication},
    client::{Client, ClientContext, DefaultClientContext},
    config::FromClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Headers},
};

use crate::{
    EventLog, EventLogError, KafkaConfig, LogEnds, Message, Offset, Position, Record, Result,
    Subscription, Topics, kafka_txn::TransactionalWriter,
};

impl KafkaConfig {
    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config
    }

    fn with_extra(&self, mut config: ClientConfig) -> ClientConfig {
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// The transactional producers' settings (each writer sets its own
    /// `transactional.id` from the returned base).
    fn transactional_producer(&self) -> (ClientConfig, String) {
        let id = self
            .transactional_id
            .clone()
            .unwrap_or_else(|| format!("featurestore-{}", uuid::Uuid::new_v4()));
        let mut config = self.client();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "transaction.timeout.ms",
                millis(self.append_timeout + Duration::from_secs(10)),
            )
            .set("message.timeout.ms", millis(self.append_timeout))
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("compression.type", "lz4");
        (self.with_extra(config), id)
    }

    fn consumer<C: FromClientConfig>(&self, group: &str) -> Result<C> {
        let mut config = self.client();
        config
            .set("group.id", group)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set(
                "topic.metadata.refresh.interval.ms",
                millis(self.topic_refresh),
            );
        self.with_extra(config).create().map_err(map_err)
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

pub struct KafkaLog {
    config: KafkaConfig,
    writer: TransactionalWriter,
    /// Metadata and watermark look-ups (blocking calls, run off the async
    /// threads). `read_uncommitted`, so a partition's end covers a
    /// transaction's records as soon as its append returns: librdkafka's
    /// default (`read_committed`) answers the last stable offset, which
    /// trails the commit until the markers are written.
    metadata: KafkaEnds,
    admin: AdminClient<DefaultClientContext>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Creates the clients; they connect lazily, so an unreachable Kafka
    /// shows up as [`EventLogError::Unavailable`] on use, not here.
    pub fn new(config: KafkaConfig) -> Result<Self> {
        let (producer, id) = config.transactional_producer();
        let writer = TransactionalWriter::start(producer, &id, config.append_timeout)?;
        let admin = config
            .with_extra(config.client())
            .create()
            .map_err(map_err)?;
        let metadata = KafkaEnds::new(&config)?;
        Ok(Self {
            config,
            writer,
            metadata,
            admin,
        })
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.config.admin_timeout))
            .request_timeout(Some(self.config.admin_timeout))
    }
}

pub(crate) fn map_err(err: KafkaError) -> EventLogError {
    use RDKafkaErrorCode as C;
    let code = err.rdkafka_error_code();
    match code {
        Some(C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition) => {
            EventLogError::UnknownTopic(err.to_string())
        }
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessage
            | C::InvalidMessageSize
            | C::InvalidPartitions
            | C::InvalidReplicationFactor
            | C::InvalidTopic
            | C::InvalidConfig
            | C::InvalidArgument,
        ) => EventLogError::Invalid(err.to_string()),
        _ => match err {
            KafkaError::ClientCreation(e) => EventLogError::Internal(format!("kafka client: {e}")),
            other => EventLogError::Unavailable(other.to_string()),
        },
    }
}

#[async_trait]
impl LogEnds for KafkaLog {
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>> {
        self.metadata.end_offsets(topic).await
    }
}

/// A light client for processes that only ask where partitions end (serving
/// and the offline query checking write tokens and caught-up partitions):
/// no producer, no consumer group. It reads the high watermark
/// (`read_uncommitted`), which covers every acknowledged record as soon as
/// its append returns, even before the transaction's markers are written.
pub struct KafkaEnds {
    client: Arc<BaseConsumer>,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaEnds").finish_non_exhaustive()
    }
}

impl KafkaEnds {
    /// Connects lazily, like [`KafkaLog::new`].
    pub fn new(config: &KafkaConfig) -> Result<Self> {
        let mut client = config.client();
        client.set("isolation.level", "read_uncommitted");
        Ok(Self {
            client: Arc::new(config.with_extra(client).create().map_err(map_err)?),
            timeout: config.admin_timeout,
        })
    }
}

#[async_trait]
impl LogEnds for KafkaEnds {
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>> {
        let client = self.client.clone();
        let topic = topic.to_string();
        let timeout = self.timeout;
        blocking(move || end_offsets(client.client(), &topic, timeout)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EventLogError::Internal(e.to_string()))?
}

fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<u32>> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(map_err)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match found.error() {
        None => Ok(Some(found.partitions().len() as u32)),
        Some(e) => match RDKafkaErrorCode::from(e) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => Ok(None),
            code => Err(map_err(KafkaError::MetadataFetch(code))),
        },
    }
}

fn end_offsets<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Offset>> {
    let partitions = partition_count(client, topic, timeout)?
        .ok_or_else(|| EventLogError::UnknownTopic(topic.to_string()))?;
    (0..partitions as i32)
        .map(|p| {
            client
                .fetch_watermarks(topic, p, timeout)
                .map(|(_, high)| high)
                .map_err(map_err)
        })
        .collect()
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        let partitions = i32::try_from(partitions.max(1))
            .map_err(|_| EventLogError::Invalid(format!("{partitions} partitions")))?;
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        );
        let results = self
            .admin
            .create_topics(&[new], &self.admin_options())
            .await
            .map_err(map_err)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(map_err(KafkaError::AdminOp(code)).context(&name)),
            }
        }
        // A topic just created (by us or a concurrent caller) may take a
        // moment to show in metadata with all its partitions.
        let deadline = Instant::now() + self.config.admin_timeout;
        let mut current = 0;
        while Instant::now() < deadline {
            match self.partition_count(topic).await {
                Ok(Some(n)) if n >= partitions as u32 => return Ok(()),
                Ok(Some(n)) => {
                    current = n;
                    break;
                }
                Ok(None) | Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if current == 0 {
            return Err(EventLogError::Unavailable(format!(
                "topic {topic} did not appear in metadata within {:?}",
                self.config.admin_timeout
            )));
        }
        let grow = NewPartitions::new(topic, partitions as usize);
        for result in self
            .admin
            .create_partitions(&[grow], &self.admin_options())
            .await
            .map_err(map_err)?
        {
            match result {
                Ok(_) => {}
                // Someone else grew it meanwhile (metadata may not show it
                // yet): the wait below checks the result.
                Err((_, RDKafkaErrorCode::InvalidPartitions)) => {}
                Err((name, code)) => return Err(map_err(KafkaError::AdminOp(code)).context(&name)),
            }
        }
        // Return only once metadata shows the new partitions, so records can
        // be sent to them right away.
        let deadline = Instant::now() + self.config.admin_timeout;
        while self.partition_count(topic).await?.unwrap_or(0) < partitions as u32 {
            if Instant::now() >= deadline {
                return Err(EventLogError::Unavailable(format!(
                    "topic {topic} did not show {partitions} partitions within {:?}",
                    self.config.admin_timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn partition_count(&self, topic: &str) -> Result<Option<u32>> {
        let client = self.metadata.client.clone();
        let topic = topic.to_string();
        let timeout = self.metadata.timeout;
        blocking(move || partition_count(client.client(), &topic, timeout)).await
    }

    async fn append(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Offset>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.writer.append(topic, records).await
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Option<Offset>>> {
        let partitions = self
            .partition_count(topic)
            .await?
            .ok_or_else(|| EventLogError::UnknownTopic(topic.to_string()))?;
        // A consumer of the group that never subscribes does not join it.
        let consumer: BaseConsumer = self.config.consumer(group)?;
        let mut list = TopicPartitionList::with_capacity(partitions as usize);
        for p in 0..partitions as i32 {
            list.add_partition(topic, p);
        }
        let timeout = self.config.admin_timeout;
        let committed =
            tokio::task::spawn_blocking(move || consumer.committed_offsets(list, timeout))
                .await
                .map_err(|e| EventLogError::Internal(e.to_string()))?
                .map_err(map_err)?;
        Ok((0..partitions as i32)
            .map(|p| {
                committed
                    .find_partition(topic, p)
                    .and_then(|e| match e.offset() {
                        KafkaOffset::Offset(o) => Some(o),
                        _ => None,
                    })
            })
            .collect())
    }

    async fn subscribe(&self, group: &str, topics: Topics) -> Result<Box<dyn Subscription>> {
        let consumer: StreamConsumer = self.config.consumer(group)?;
        let pattern;
        let names: Vec<&str> = match &topics {
            Topics::Named(names) => names.iter().map(String::as_str).collect(),
            Topics::Prefix(prefix) => {
                pattern = format!("^{}.*", regex_escape(prefix));
                vec![pattern.as_str()]
            }
        };
        consumer.subscribe(&names).map_err(map_err)?;
        Ok(Box::new(KafkaSubscription {
            consumer: Arc::new(consumer),
            delivered: HashMap::new(),
            commit_timeout: self.config.admin_timeout,
            committing: None,
        }))
    }
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl EventLogError {
    pub(crate) fn context(self, what: &str) -> Self {
        match self {
            EventLogError::UnknownTopic(m) => EventLogError::UnknownTopic(format!("{what}: {m}")),
            EventLogError::Unavailable(m) => EventLogError::Unavailable(format!("{what}: {m}")),
            EventLogError::Invalid(m) => EventLogError::Invalid(format!("{what}: {m}")),
            EventLogError::Internal(m) => EventLogError::Internal(format!("{what}: {m}")),
            EventLogError::OutcomeUnknown(m) => {
                EventLogError::OutcomeUnknown(format!("{what}: {m}"))
            }
        }
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer>,
    /// The last offset delivered per partition.
    delivered: HashMap<(String, i32), Offset>,
    /// Longest a commit is waited for.
    commit_timeout: Duration,
    /// A commit that outlived its wait and still runs: librdkafka's
    /// synchronous commit has no timeout of its own and has been seen to
    /// wait for a group coordinator long after a broker restart. Its caller
    /// got an error and reads on; no other commit starts until it ends, so
    /// blocked threads never pile up.
    committing: Option<tokio::task::JoinHandle<std::result::Result<(), KafkaError>>>,
}

impl KafkaSubscription {
    fn deliver(&mut self, message: Message, batch: &mut Vec<Message>) {
        self.delivered
            .insert((message.topic.clone(), message.partition), message.offset);
        batch.push(message);
    }

    /// Where to commit `p`: past the transaction markers that follow the
    /// last delivered record when everything delivered is processed (the
    /// consumer's position skips them; committing the record's offset + 1
    /// would leave them as lag forever). Nothing delivered is skipped.
    fn commit_offset(&self, p: &Position, positions: &TopicPartitionList) -> Offset {
        let all_processed = self
            .delivered
            .get(&(p.topic.clone(), p.partition))
            .is_some_and(|last| *last + 1 == p.next_offset);
        let consumer_at = positions
            .find_partition(&p.topic, p.partition)
            .and_then(|e| match e.offset() {
                KafkaOffset::Offset(o) => Some(o),
                _ => None,
            });
        match consumer_at {
            Some(at) if all_processed && at > p.next_offset => at,
            _ => p.next_offset,
        }
    }
}

fn owned(message: &BorrowedMessage<'_>) -> Message {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|header| {
                    (
                        header.key.to_string(),
                        header.value.unwrap_or_default().to_vec(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().unwrap_or_default().to_vec(),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>> {
        let mut batch = Vec::new();
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(batch),
            Ok(first) => owned(&first.map_err(map_err)?),
        };
        self.deliver(first, &mut batch);
        while batch.len() < max.max(1) {
            let next = match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => Ok(owned(&message)),
                Some(Err(e)) => Err(e),
                None => break,
            };
            match next {
                Ok(message) => self.deliver(message, &mut batch),
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consumer error after a partial batch");
                    break;
                }
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        if self.committing.as_ref().is_some_and(|c| !c.is_finished()) {
            return Err(EventLogError::Unavailable(
                "an earlier offset commit is still waiting for kafka".into(),
            ));
        }
        let at = self.consumer.position().map_err(map_err)?;
        let mut list = TopicPartitionList::with_capacity(positions.len());
        for p in positions {
            let offset = self.commit_offset(p, &at);
            list.add_partition_offset(&p.topic, p.partition, KafkaOffset::Offset(offset))
                .map_err(map_err)?;
        }
        // A finished earlier commit is superseded by this one (positions
        // only move forward).
        self.committing = None;
        let consumer = self.consumer.clone();
        let mut commit =
            tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync));
        match tokio::time::timeout(self.commit_timeout, &mut commit).await {
            Ok(done) => done
                .map_err(|e| EventLogError::Internal(e.to_string()))?
                .map_err(map_err),
            Err(_) => {
                self.committing = Some(commit);
                Err(EventLogError::Unavailable(format!(
                    "kafka did not answer the offset commit within {:?}",
                    self.commit_timeout
                )))
            }
        }
    }

    fn positions(&self) -> Vec<Position> {
        let Ok(at) = self.consumer.position() else {
            return Vec::new();
        };
        at.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                KafkaOffset::Offset(next_offset) => Some(Position {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    next_offset,
                }),
                _ => None,
            })
            .collect()
    }
}
