//! The offline store: every row of a feature-group version, in one Delta Lake
//! table per group version, for point-in-time training data.
//!
//! Appends are exactly-once per consumed Kafka offset: each commit records,
//! in the same Delta commit, a transaction id per `(consumer, topic,
//! partition)` whose version is the next offset to read. A replay after a
//! crash skips rows below the recorded offset, so it never appends twice.

mod arrow;
mod delta;
mod error;
mod offsets;

use featurestore_proto::v1::{FeatureGroup, ScalarType, Value, ValueType};

pub use delta::{DeltaStore, TableFiles};
pub use error::OfflineStoreError;

pub type Result<T, E = OfflineStoreError> = std::result::Result<T, E>;

/// Column of the event time in every offline table.
pub const EVENT_TIME: &str = "event_time";
/// When ingestion accepted the row.
pub const INGEST_TIME: &str = "_ingest_time";
/// Kafka partition and offset the row was read from (lineage, and the
/// deterministic tie-break between rows with equal event times).
pub const SOURCE_PARTITION: &str = "_source_partition";
pub const SOURCE_OFFSET: &str = "_source_offset";

/// The offline table of one feature-group version.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineTable {
    /// `project/group@version`, for messages.
    pub label: String,
    /// Path below the store root: `<project>/<group>/v<version>`.
    pub path: String,
    pub keys: Vec<(String, ScalarType)>,
    pub features: Vec<(String, ValueType)>,
}

impl OfflineTable {
    pub fn for_group(group: &FeatureGroup) -> Self {
        Self {
            label: format!("{}/{}@{}", group.project, group.name, group.version),
            path: format!("{}/{}/v{}", group.project, group.name, group.version),
            keys: group
                .primary_key
                .iter()
                .map(|k| (k.name.clone(), k.r#type()))
                .collect(),
            features: group
                .features
                .iter()
                .map(|f| (f.name.clone(), f.r#type.unwrap_or_default()))
                .collect(),
        }
    }
}

/// One consumed row.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineRow {
    pub key_values: Vec<Value>,
    pub event_time_micros: i64,
    /// In table order; rows ingested before a feature existed may be shorter
    /// (the missing features are null).
    pub feature_values: Vec<Value>,
    pub ingest_time_micros: i64,
    pub partition: i32,
    pub offset: i64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    pub appended: usize,
    /// Rows already in the table from an earlier (replayed) append.
    pub skipped: usize,
    /// The table version committed, if anything was.
    pub version: Option<i64>,
}
