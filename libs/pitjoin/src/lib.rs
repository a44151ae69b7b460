//! The point-in-time (as-of) merge at the heart of training-data queries.
//!
//! For each entity row `(key, t)` it picks the feature row of the same key
//! with the greatest event time `<= t` (and `>= t - ttl` when the group has a
//! TTL), or nothing. Both inputs arrive **sorted by `(key, time)`** — the
//! caller sorts them (DataFusion's external sort spills to disk, so memory
//! stays bounded) — and the merge walks them once, holding at most a few
//! batches: memory does not grow with the data.
//!
//! Ties: feature rows with the same key and event time must arrive in
//! ascending tie-break order (the offline store sorts by ingest time, then
//! Kafka partition, then offset); the **last** of them wins, i.e. the row
//! ingested last.
//!
//! Input columns ([`KEY`], [`TIME`], and [`ROW_ID`] on the entity side) and
//! the output schema are described on [`asof_merge`]. [`reference`] is a
//! naive implementation the property tests compare against.

mod merge;
pub mod reference;

pub use merge::{AsOfOptions, asof_merge, output_schema};

/// The encoded entity key (binary; compared bytewise, the sort order).
pub const KEY: &str = "_key";
/// Microseconds since the epoch: the as-of time of an entity row, the event
/// time of a feature row.
pub const TIME: &str = "_time";
/// The entity row's position in the caller's input (UInt64), carried to the
/// output so results can be put back in input order.
pub const ROW_ID: &str = "_row_id";
/// Output: event time of the feature row picked (null when none).
pub const FEATURE_TIME: &str = "_feature_time";
