//! Point-in-time-correct historical features from the offline store's Delta
//! tables.
//!
//! For every entity row `(keys..., event_timestamp)` and every selected
//! group, the group's latest row with `event_time <= event_timestamp` (and
//! `>= event_timestamp - ttl` when the group has a TTL), or nulls.
//!
//! How, with memory bounded by [`QueryConfig::memory_limit_bytes`] rather
//! than by the data:
//! 1. the entity rows are read once and spooled, with their position
//!    (`_row_id`), to an Arrow file in the spill directory;
//! 2. per group, DataFusion sorts the entity rows and the group's Delta rows
//!    by `(keys, time)` — external sorts that spill to disk — and
//!    [`featurestore_pitjoin`] merges the two sorted streams in one pass;
//! 3. each group's result is sorted back by `_row_id` (spilling too) and
//!    zipped with the spooled entity rows.
//!
//! Aggregated features (`aggregate.rs`) follow the same two paths: a
//! group's events held by key in memory when they fit, else sorted with the
//! entity rows and merged one key at a time (`aggregate_merge.rs`).
//!
//! Output order: the entity rows in the order they were read (for inline
//! Arrow data and a single Parquet file, their input order). Every entity row
//! comes out exactly once, duplicates included. Feature columns are named
//! `<group>__<feature>`. Ties between feature rows with equal event times go
//! to the row ingested last (`_ingest_time`, then Kafka partition, then
//! offset). When even spilling can't fit a sort in the memory limit, the query
//! fails with [`QueryError::ResourcesExhausted`]; nothing is returned half.

mod aggregate;
mod aggregate_merge;
mod dataset;
mod engine;
mod entities;
mod error;
mod group;
mod index;
mod oneshot;
mod zip;

pub use datafusion::execution::SendableRecordBatchStream;
pub use dataset::{DatasetFormat, PARQUET_FILE, ROW_GROUP_ROWS, WrittenDataset};
pub use engine::{AsOf, GroupRead, OfflineQuery, Plan, QueryConfig};
pub use entities::{EntitySource, read_ipc};
pub use error::QueryError;

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// The entity rows' time column when the request does not name one.
pub const DEFAULT_TIMESTAMP_COLUMN: &str = "event_timestamp";
