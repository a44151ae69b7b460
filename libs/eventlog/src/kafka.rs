//! The Kafka implementation of [`EventLog`] (rdkafka / librdkafka).
//!
//! Appends use an idempotent producer with `acks=all` and explicit
//! partitions, and return only after every record's delivery report; a
//! Kafka that is down makes an append fail with
//! [`EventLogError::Unavailable`] after `append_timeout`, never hang.
//! Subscriptions commit offsets manually, only when asked.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::{
    ClientConfig, Message as _, Offset as KafkaOffset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer},
};

use crate::{
    EventLog, EventLogError, Message, Offset, Position, Record, Result, Subscription, Topics,
};

/// How to reach Kafka and how long to wait for it.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    /// Longest an append waits for acknowledgements (librdkafka
    /// `message.timeout.ms`).
    pub append_timeout: Duration,
    /// Longest an admin or metadata call waits.
    pub admin_timeout: Duration,
    /// Replication factor of created topics (3 in production, 1 in tests).
    pub replication_factor: i32,
    /// Consumer session timeout: how fast a dead consumer's partitions move.
    pub session_timeout: Duration,
    /// How often subscriptions look for new topics matching a prefix.
    pub topic_refresh: Duration,
    /// Extra librdkafka properties, applied last.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            append_timeout: Duration::from_secs(10),
            admin_timeout: Duration::from_secs(10),
            replication_factor: 1,
            session_timeout: Duration::from_secs(10),
            topic_refresh: Duration::from_secs(2),
            properties: BTreeMap::new(),
        }
    }
}

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

    fn producer(&self) -> Result<FutureProducer> {
        let mut config = self.client();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", millis(self.append_timeout))
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("compression.type", "lz4");
        self.with_extra(config).create().map_err(map_err)
    }

    fn consumer(&self, group: &str) -> Result<StreamConsumer> {
        let mut config = self.client();
        config
            .set("group.id", group)
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
    producer: RwLock<Arc<FutureProducer>>,
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
        let producer = RwLock::new(Arc::new(config.producer()?));
        let admin = config
            .with_extra(config.client())
            .create()
            .map_err(map_err)?;
        Ok(Self {
            config,
            producer,
            admin,
        })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        self.producer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An idempotent producer that hit a fatal error cannot be used again;
    /// replace it so the next append starts clean.
    fn replace_producer_if_fatal(&self, producer: &FutureProducer) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::warn!(?code, %reason, "kafka producer hit a fatal error; recreating it");
            if let Ok(fresh) = self.config.producer() {
                *self.producer.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            }
        }
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
        let producer = self.producer();
        let topic = topic.to_string();
        let timeout = self.config.admin_timeout;
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(map_err)?;
            let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                return Ok(None);
            };
            match found.error() {
                None => Ok(Some(found.partitions().len() as u32)),
                Some(e) => match RDKafkaErrorCode::from(e) {
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                        Ok(None)
                    }
                    code => Err(map_err(KafkaError::MetadataFetch(code))),
                },
            }
        })
        .await
        .map_err(|e| EventLogError::Internal(e.to_string()))?
    }

    async fn append(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Offset>> {
        let producer = self.producer();
        let deadline = Instant::now() + self.config.append_timeout;
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut next = FutureRecord::to(topic)
                .partition(record.partition)
                .key(&record.key)
                .payload(&record.payload)
                .headers(headers);
            let delivery = loop {
                match producer.send_result(next) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        next = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => return Err(map_err(e)),
                }
            };
            deliveries.push(delivery);
        }
        // librdkafka's own message timeout is not a bound on how long a
        // broker outage keeps an idempotent producer's records in flight, so
        // the append enforces its deadline itself. Records not acknowledged
        // by then may still be written later: the caller sees UNAVAILABLE
        // and retries (at-least-once).
        let reports =
            match tokio::time::timeout_at(deadline.into(), futures::future::join_all(deliveries))
                .await
            {
                Ok(reports) => reports,
                Err(_) => {
                    return Err(EventLogError::Unavailable(format!(
                        "kafka did not acknowledge {} record(s) within {:?}",
                        records.len(),
                        self.config.append_timeout
                    )));
                }
            };
        let mut offsets = Vec::with_capacity(reports.len());
        let mut failure = None;
        for delivery in reports {
            match delivery {
                Ok(Ok(d)) => offsets.push(d.offset),
                Ok(Err((e, _))) => {
                    failure.get_or_insert(map_err(e));
                }
                Err(_) => {
                    failure.get_or_insert(EventLogError::Internal("delivery report lost".into()));
                }
            }
        }
        match failure {
            None => Ok(offsets),
            Some(e) => {
                self.replace_producer_if_fatal(&producer);
                Err(e)
            }
        }
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>> {
        let partitions = self
            .partition_count(topic)
            .await?
            .ok_or_else(|| EventLogError::UnknownTopic(topic.to_string()))?;
        let producer = self.producer();
        let topic = topic.to_string();
        let timeout = self.config.admin_timeout;
        tokio::task::spawn_blocking(move || {
            (0..partitions as i32)
                .map(|p| {
                    producer
                        .client()
                        .fetch_watermarks(&topic, p, timeout)
                        .map(|(_, high)| high)
                        .map_err(map_err)
                })
                .collect()
        })
        .await
        .map_err(|e| EventLogError::Internal(e.to_string()))?
    }

    async fn subscribe(&self, group: &str, topics: Topics) -> Result<Box<dyn Subscription>> {
        let consumer = self.config.consumer(group)?;
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
    fn context(self, what: &str) -> Self {
        match self {
            EventLogError::UnknownTopic(m) => EventLogError::UnknownTopic(format!("{what}: {m}")),
            EventLogError::Unavailable(m) => EventLogError::Unavailable(format!("{what}: {m}")),
            EventLogError::Invalid(m) => EventLogError::Invalid(format!("{what}: {m}")),
            EventLogError::Internal(m) => EventLogError::Internal(format!("{what}: {m}")),
        }
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer>,
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
        match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(batch),
            Ok(first) => batch.push(owned(&first.map_err(map_err)?)),
        }
        while batch.len() < max.max(1) {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(owned(&message)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka consumer error after a partial batch");
                    break;
                }
                None => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, positions: &[Position]) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::with_capacity(positions.len());
        for p in positions {
            list.add_partition_offset(&p.topic, p.partition, KafkaOffset::Offset(p.next_offset))
                .map_err(map_err)?;
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|e| EventLogError::Internal(e.to_string()))?
            .map_err(map_err)
    }
}
