//! The event log between ingestion and materialization: topics of ordered
//! partitions, appends that return only once every record is acknowledged
//! (durable), and consumer groups that resume after their committed
//! positions (at-least-once delivery; sinks make it effectively-once).
//!
//! - `KafkaLog` (cargo feature `kafka`) is the production implementation (rdkafka: idempotent
//!   producer, `acks=all`).
//! - [`RedbLog`] is the embedded implementation of standalone mode (one
//!   redb file, appends synced before they return).
//! - [`testsuite`] is the conformance suite every implementation passes
//!   ([`eventlog_conformance_tests!`]).

mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
mod kafka_config;
#[cfg(feature = "kafka")]
mod kafka_txn;
pub mod redb;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use std::time::Duration;

use async_trait::async_trait;

pub use error::EventLogError;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaEnds, KafkaLog};
pub use kafka_config::KafkaConfig;
pub use redb::RedbLog;

/// Kafka: how long past its deadline a commit interrupted by an outage is retried
/// to learn whether it was applied (the keyed callers of ingestion wait for
/// it; see `featurestore_ingestion::idempotency`).
pub const KAFKA_COMMIT_RESOLVE_WINDOW: Duration = Duration::from_secs(60);

pub type Partition = i32;
pub type Offset = i64;
pub type Result<T, E = EventLogError> = std::result::Result<T, E>;

/// A record to append to one partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub partition: Partition,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    /// Carried alongside (trace context, for example).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A consumed record and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: Partition,
    pub offset: Offset,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// "Everything before `next_offset` in this partition is processed."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub topic: String,
    pub partition: Partition,
    pub next_offset: Offset,
}

/// Which topics a subscription follows. Topics created later that match
/// are picked up while the subscription runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topics {
    Named(Vec<String>),
    Prefix(String),
}

/// Where each partition of a topic ends — all a reader of materialisation
/// progress needs from the log (is a partition caught up? is a write
/// token's offset one the log has?). Every [`EventLog`] is one;
/// `KafkaEnds` (cargo feature `kafka`) is a light client for processes that
/// only ask this.
#[async_trait]
pub trait LogEnds: Send + Sync + 'static {
    /// The next offset to be written in each partition of `topic` (the
    /// "high watermark": every acknowledged record is before it), by
    /// partition.
    async fn end_offsets(&self, topic: &str) -> Result<Vec<Offset>>;
}

#[async_trait]
pub trait EventLog: LogEnds {
    /// Creates `topic` with `partitions` partitions, or grows it to that
    /// many. Idempotent; never shrinks a topic.
    async fn ensure_topic(&self, topic: &str, partitions: u32) -> Result<()>;

    /// The topic's partition count, `None` when it does not exist.
    async fn partition_count(&self, topic: &str) -> Result<Option<u32>>;

    /// Appends every record or none, and returns their offsets (in input
    /// order) once all are durable. On error no record of the call is ever
    /// read by a subscription (Kafka: the transaction was aborted; embedded:
    /// the write transaction never committed). Offsets increase per
    /// partition but need not be dense (Kafka's transaction markers take
    /// offsets too).
    async fn append(&self, topic: &str, records: Vec<Record>) -> Result<Vec<Offset>>;

    /// The positions consumer group `group` committed in each partition of
    /// `topic` (`None` where it committed none); with [`LogEnds::end_offsets`]
    /// the group's lag.
    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<Option<Offset>>>;

    /// Joins consumer group `group` reading `topics`, from each partition's
    /// committed position (or the beginning when none is committed).
    async fn subscribe(&self, group: &str, topics: Topics) -> Result<Box<dyn Subscription>>;
}

#[async_trait]
pub trait Subscription: Send {
    /// Up to `max` messages, in offset order per partition, waiting at most
    /// `wait` for the first one (an empty batch means none arrived).
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>>;

    /// Durably records the positions for the group; a later member of the
    /// group resumes there.
    async fn commit(&mut self, positions: &[Position]) -> Result<()>;

    /// Where the subscription stands in each partition it reads: the offset
    /// after everything it delivered and skipped (Kafka's transaction
    /// markers and aborted records take offsets the caller never sees).
    /// Once every delivered record is processed, the partition is processed
    /// up to there.
    fn positions(&self) -> Vec<Position>;
}
