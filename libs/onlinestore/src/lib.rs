//! The online store: the latest feature values of each entity key, one
//! table per feature-group version, read by online serving in milliseconds.
//!
//! Writes are upserts ordered by **event time**, not arrival: a row carries
//! its event time and the store keeps, per key, the values of the newest
//! event (late and replayed rows never overwrite newer ones). Rows expire
//! after the group's TTL.
//!
//! - `CassandraStore` (cargo feature `cassandra`) is the production implementation (the `scylla`
//!   driver; Cassandra or ScyllaDB), with prepared statements, token-aware
//!   routing and `USING TIMESTAMP <event time>`.
//! - [`RedbOnlineStore`] is the embedded implementation of standalone mode
//!   (one redb file).
//! - [`testsuite`] is the conformance suite every implementation passes.

#[cfg(feature = "cassandra")]
pub mod cassandra;
mod cassandra_config;
#[cfg(feature = "cassandra")]
mod cassandra_tiles;
#[cfg(feature = "cassandra")]
mod cql;
mod error;
mod names;
pub mod redb;
mod redb_tiles;
#[cfg(feature = "cassandra")]
mod replica;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use async_trait::async_trait;
use featurestore_proto::v1::{FeatureGroup, Value, ValueType};

#[cfg(feature = "cassandra")]
pub use cassandra::CassandraStore;
pub use cassandra_config::CassandraConfig;
pub use error::OnlineStoreError;
pub use redb::RedbOnlineStore;

pub type Result<T, E = OnlineStoreError> = std::result::Result<T, E>;

/// The online table of one feature-group version.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineTable {
    /// `project/group@version`, for messages.
    pub label: String,
    /// The store's table name (valid, at most 48 characters, stable).
    pub name: String,
    /// Feature columns in the group's order.
    pub features: Vec<(String, ValueType)>,
    /// Rows expire this long after they are written; 0 = never.
    pub ttl_seconds: i64,
}

impl OnlineTable {
    pub fn for_group(group: &FeatureGroup) -> Self {
        Self {
            label: format!("{}/{}@{}", group.project, group.name, group.version),
            name: names::table_name(&group.project, &group.name, group.version),
            features: group
                .features
                .iter()
                .map(|f| (f.name.clone(), f.r#type.unwrap_or_default()))
                .collect(),
            ttl_seconds: group.ttl_seconds,
        }
    }
}

/// One event to upsert: the values of every feature of the table (in table
/// order; an explicit null is `NullValue`).
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineRow {
    /// The encoded entity key (`featurestore_domain::key`).
    pub entity_key: Vec<u8>,
    /// Microseconds since the epoch; the newest event per key wins.
    pub event_time_micros: i64,
    pub values: Vec<Value>,
}

/// The stored latest values of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub event_time_micros: i64,
    /// In table order; null is `NullValue`.
    pub values: Vec<Value>,
}

/// The tile table of a group version's aggregations: per entity key, grain
/// and tile start, an opaque tile value (`featurestore_aggregation`'s
/// `TileValue`). Grain 0 is the lifetime tile (start 0).
#[derive(Debug, Clone, PartialEq)]
pub struct TileTable {
    /// `project/group@version tiles`, for messages.
    pub label: String,
    /// The store's table name (valid, at most 48 characters, stable).
    pub name: String,
}

impl TileTable {
    pub fn for_group(group: &FeatureGroup) -> Self {
        Self {
            label: format!("{}/{}@{} tiles", group.project, group.name, group.version),
            name: names::tiles_table_name(&group.project, &group.name, group.version),
        }
    }
}

/// Where one tile is: its entity key, grain (µs; 0 = lifetime) and start.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileKey {
    pub entity_key: Vec<u8>,
    pub grain: i64,
    pub start: i64,
}

/// A tile to write whole (its value replaces the stored one).
#[derive(Debug, Clone, PartialEq)]
pub struct TileWrite {
    pub key: TileKey,
    pub value: Vec<u8>,
    /// Expires this long after the write; 0 = never.
    pub ttl_seconds: i64,
    /// The fence: a write never replaces a tile written with a higher
    /// version (equal versions: either stays). Materialization passes
    /// twice the log offset of the last event folded into the tile, so a
    /// deposed materializer's late write of an older fold cannot undo a
    /// newer one; a correction recomputed from every event up to an offset
    /// passes one more (`featurestore_aggregation::tile_value`).
    /// Non-negative.
    pub version: i64,
}

/// Tiles of one grain whose start is in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRange {
    pub grain: i64,
    pub from: i64,
    pub to: i64,
}

/// A stored tile found by a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTile {
    pub grain: i64,
    pub start: i64,
    pub value: Vec<u8>,
}

#[async_trait]
pub trait OnlineStore: Send + Sync + 'static {
    /// Creates the table, or adds the feature columns it lacks. Idempotent.
    async fn ensure_table(&self, table: &OnlineTable) -> Result<()>;

    /// Upserts every row; returns once all are durable. Rows of one key may
    /// come in any order: the newest event time wins.
    async fn upsert(&self, table: &OnlineTable, rows: &[OnlineRow]) -> Result<()>;

    /// The latest row of each key, in the order of `keys` (`None` = no row).
    async fn get(&self, table: &OnlineTable, keys: &[Vec<u8>]) -> Result<Vec<Option<StoredRow>>>;

    /// Creates the tile table. Idempotent.
    async fn ensure_tiles(&self, table: &TileTable) -> Result<()>;

    /// The stored value of each tile, in the order of `keys` (`None` = no
    /// tile, or expired).
    async fn get_tiles(&self, table: &TileTable, keys: &[TileKey]) -> Result<Vec<Option<Vec<u8>>>>;

    /// Writes every tile whole; returns once all are durable. Each tile is
    /// written atomically (a reader sees the old value or the new one).
    async fn put_tiles(&self, table: &TileTable, tiles: &[TileWrite]) -> Result<()> {
        self.put_tiles_by(table, tiles, None).await
    }

    /// [`put_tiles`](Self::put_tiles), except that with a `deadline`
    /// nothing is sent to the store after it: the tiles not sent by then
    /// are not written and the call returns [`OnlineStoreError::Late`]
    /// (those sent before are written). A stream fold writes what it read
    /// by a deadline, so a correction knows how long after its own write
    /// any write from an older read can still land.
    async fn put_tiles_by(
        &self,
        table: &TileTable,
        tiles: &[TileWrite],
        deadline: Option<std::time::Instant>,
    ) -> Result<()>;

    /// For each of `keys`, its stored tiles in `ranges`, ordered by grain
    /// and start.
    async fn scan_tiles(
        &self,
        table: &TileTable,
        keys: &[Vec<u8>],
        ranges: &[TileRange],
    ) -> Result<Vec<Vec<StoredTile>>>;
}
