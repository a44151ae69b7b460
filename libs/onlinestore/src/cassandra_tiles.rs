//! Tile tables on Cassandra / ScyllaDB: one table per group version's
//! aggregations, `(entity_key blob, grain bigint, start bigint, tile blob,
//! PRIMARY KEY (entity_key, grain, start))`: a key's tiles sit in one
//! partition, clustered by grain and start, so a window of one grain is one
//! range read. Tiles are written whole with `USING TTL` (0 = never).

use std::{sync::Arc, time::Instant};

use futures::{StreamExt, TryStreamExt, stream};
use scylla::{
    errors::DbError,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::CqlValue,
};

use crate::{
    CassandraStore, OnlineStoreError, Result, StoredTile, TileKey, TileRange, TileTable, TileWrite,
    cassandra::{db_error_of_execution, db_error_of_prepare, unavailable, validate_identifier},
};

/// Most tiles in one read or one write batch (ScyllaDB refuses an IN of
/// more than 100 clustering keys by default).
const TILES_PER_READ: usize = 100;
/// Tile bytes past which a write batch is closed (Cassandra warns on
/// batches above 5 KiB and refuses them above 50 KiB by default).
const BATCH_BYTES: usize = 32 << 10;

/// The indices of `keys` grouped by entity key (first-seen order), a new
/// group started where `full(group so far)` says so.
fn per_entity_key<'a>(
    keys: impl Iterator<Item = &'a Vec<u8>>,
    full: impl Fn(&[usize]) -> bool,
) -> Vec<Vec<usize>> {
    let mut by_key: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, key) in keys.enumerate() {
        let open = by_key
            .get(key.as_slice())
            .copied()
            .filter(|g| !full(&groups[*g]));
        let g = match open {
            Some(g) => g,
            None => {
                groups.push(Vec::new());
                by_key.insert(key.as_slice(), groups.len() - 1);
                groups.len() - 1
            }
        };
        groups[g].push(i);
    }
    groups
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TileStatement {
    Insert,
    Get,
    Range,
}

/// The cell timestamp of a tile write of `version`: Cassandra keeps the
/// write of the highest timestamp, so the highest version wins whatever the
/// order writes arrive in. Versions count from 2^53 µs (the year 2255), above
/// the wall-clock timestamps of tiles written before writes had versions, so
/// those are replaced by any versioned write.
fn write_timestamp(version: i64) -> i64 {
    const VERSIONS_FROM: i64 = 1 << 53;
    VERSIONS_FROM.saturating_add(version.max(0))
}

impl CassandraStore {
    pub(crate) async fn create_tiles(&self, table: &TileTable) -> Result<()> {
        validate_identifier("table", &table.name)?;
        self.ddl(&format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (entity_key blob, grain bigint, start bigint, tile blob, \
             PRIMARY KEY (entity_key, grain, start)) \
             WITH compaction = {{'class': 'LeveledCompactionStrategy'}}",
            self.keyspace(),
            table.name
        ))
        .await
    }

    async fn tile_statement(
        &self,
        table: &TileTable,
        kind: TileStatement,
    ) -> Result<Arc<PreparedStatement>> {
        let key = (table.name.clone(), kind);
        if let Some(found) = self.tile_statements().pin().get(&key) {
            return Ok(found.clone());
        }
        let name = format!("{}.{}", self.keyspace(), table.name);
        let cql = match kind {
            TileStatement::Insert => format!(
                "INSERT INTO {name} (entity_key, grain, start, tile) VALUES (?, ?, ?, ?) \
                 USING TTL ? AND TIMESTAMP ?"
            ),
            TileStatement::Get => format!(
                "SELECT grain, start, tile FROM {name} WHERE entity_key = ? AND (grain, start) IN ?"
            ),
            TileStatement::Range => format!(
                "SELECT start, tile FROM {name} WHERE entity_key = ? AND grain = ? AND start >= ? AND start < ?"
            ),
        };
        let mut prepared = match self.session().prepare(cql.as_str()).await {
            Ok(prepared) => prepared,
            Err(e) => {
                return Err(match db_error_of_prepare(&e) {
                    Some((DbError::Invalid, _)) if !self.tiles_exist(table).await? => {
                        OnlineStoreError::UnknownTable(table.label.clone())
                    }
                    _ => unavailable(format!("{}: {e}", table.label)),
                });
            }
        };
        // A tile is written whole: writing it again is the same write.
        prepared.set_is_idempotent(true);
        let prepared = Arc::new(prepared);
        self.tile_statements().pin().insert(key, prepared.clone());
        Ok(prepared)
    }

    async fn tiles_exist(&self, table: &TileTable) -> Result<bool> {
        let result = self
            .session()
            .query_unpaged(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                (self.keyspace(), &table.name),
            )
            .await
            .map_err(unavailable)?;
        let rows = result
            .into_rows_result()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
        Ok(rows.rows_num() > 0)
    }

    fn tile_error(&self, table: &TileTable, e: scylla::errors::ExecutionError) -> OnlineStoreError {
        match db_error_of_execution(&e) {
            Some((DbError::Invalid, message)) => {
                OnlineStoreError::Unavailable(format!("{}: {message}", table.label))
            }
            _ => unavailable(format!("{}: {e}", table.label)),
        }
    }

    /// One read per entity key (its tiles by `(grain, start) IN ?`, in
    /// chunks of [`TILES_PER_READ`]), not one per tile.
    pub(crate) async fn get_tile_values(
        &self,
        table: &TileTable,
        keys: &[TileKey],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let get = self.tile_statement(table, TileStatement::Get).await?;
        let reads = per_entity_key(keys.iter().map(|k| &k.entity_key), |at| {
            at.len() >= TILES_PER_READ
        });
        let found: Vec<Vec<(i64, i64, Vec<u8>)>> = stream::iter(0..reads.len())
            .map(|r| {
                let get = get.clone();
                let read = &reads[r];
                let entity_key = keys[read[0]].entity_key.as_slice();
                let tiles: Vec<(i64, i64)> = read
                    .iter()
                    .map(|i| (keys[*i].grain, keys[*i].start))
                    .collect();
                async move {
                    let result = self
                        .session()
                        .execute_unpaged(&get, (entity_key, tiles))
                        .await
                        .map_err(|e| self.tile_error(table, e))?;
                    let rows = result
                        .into_rows_result()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
                    rows.rows::<(i64, i64, Vec<u8>)>()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?
                        .map(|row| row.map_err(|e| OnlineStoreError::Internal(e.to_string())))
                        .collect::<Result<Vec<_>>>()
                }
            })
            .buffered(self.max_in_flight())
            .try_collect()
            .await?;
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        for (read, rows) in reads.iter().zip(found) {
            for (grain, start, tile) in rows {
                if let Some(i) = read
                    .iter()
                    .find(|i| keys[**i].grain == grain && keys[**i].start == start)
                {
                    out[*i] = Some(tile);
                }
            }
        }
        Ok(out)
    }

    /// One unlogged batch per entity key (a single partition: applied as
    /// one mutation), in chunks of at most [`TILES_PER_READ`] tiles and
    /// [`BATCH_BYTES`] of tile values. With a `deadline`, a batch not sent
    /// by then is not sent (the driver may still retry one sent before it,
    /// within its request timeout).
    pub(crate) async fn put_tile_values(
        &self,
        table: &TileTable,
        tiles: &[TileWrite],
        deadline: Option<Instant>,
    ) -> Result<()> {
        if tiles.is_empty() {
            return Ok(());
        }
        let insert = self.tile_statement(table, TileStatement::Insert).await?;
        let writes = per_entity_key(tiles.iter().map(|t| &t.key.entity_key), |at| {
            at.len() >= TILES_PER_READ
                || at.iter().map(|i| tiles[*i].value.len()).sum::<usize>() >= BATCH_BYTES
        });
        // Indices rather than references (the higher-ranked Send check of
        // async traits).
        stream::iter(0..writes.len())
            .map(|w| {
                let write = &writes[w];
                let mut batch = Batch::new(BatchType::Unlogged);
                for _ in write {
                    batch.append_statement((*insert).clone());
                }
                // A tile is written whole: writing it again is the same write.
                batch.set_is_idempotent(true);
                let values: Vec<_> = write
                    .iter()
                    .map(|i| {
                        let t = &tiles[*i];
                        (
                            CqlValue::Blob(t.key.entity_key.clone()),
                            t.key.grain,
                            t.key.start,
                            CqlValue::Blob(t.value.clone()),
                            i32::try_from(t.ttl_seconds.max(0)).unwrap_or(i32::MAX),
                            write_timestamp(t.version),
                        )
                    })
                    .collect();
                async move {
                    if deadline.is_some_and(|d| Instant::now() > d) {
                        return Err(OnlineStoreError::Late(format!(
                            "{}: {} tiles not written",
                            table.label,
                            values.len()
                        )));
                    }
                    self.session()
                        .batch(&batch, values)
                        .await
                        .map(|_| ())
                        .map_err(|e| self.tile_error(table, e))
                }
            })
            .buffer_unordered(self.max_in_flight())
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    pub(crate) async fn scan_tile_values(
        &self,
        table: &TileTable,
        keys: &[Vec<u8>],
        ranges: &[TileRange],
    ) -> Result<Vec<Vec<StoredTile>>> {
        let select = self.tile_statement(table, TileStatement::Range).await?;
        let mut sorted: Vec<TileRange> = ranges.iter().filter(|r| r.from < r.to).copied().collect();
        sorted.sort_by_key(|r| (r.grain, r.from));
        let reads = keys.len() * sorted.len();
        let parts: Vec<Vec<StoredTile>> = stream::iter(0..reads)
            .map(|i| {
                let select = select.clone();
                let (key, range) = (&keys[i / sorted.len()], sorted[i % sorted.len()]);
                async move {
                    let result = self
                        .session()
                        .execute_unpaged(
                            &select,
                            (key.as_slice(), range.grain, range.from, range.to),
                        )
                        .await
                        .map_err(|e| self.tile_error(table, e))?;
                    let rows = result
                        .into_rows_result()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
                    rows.rows::<(i64, Vec<u8>)>()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?
                        .map(|row| {
                            row.map(|(start, value)| StoredTile {
                                grain: range.grain,
                                start,
                                value,
                            })
                            .map_err(|e| OnlineStoreError::Internal(e.to_string()))
                        })
                        .collect::<Result<Vec<_>>>()
                }
            })
            .buffered(self.max_in_flight())
            .try_collect()
            .await?;
        let mut out: Vec<Vec<StoredTile>> = (0..keys.len()).map(|_| Vec::new()).collect();
        for (i, part) in parts.into_iter().enumerate() {
            out[i / sorted.len().max(1)].extend(part);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::per_entity_key;

    #[test]
    fn tiles_group_by_entity_key_and_split_when_full() {
        let keys: Vec<Vec<u8>> = [b"a", b"b", b"a", b"a", b"c", b"a"]
            .iter()
            .map(|k| k.to_vec())
            .collect();
        assert_eq!(
            per_entity_key(keys.iter(), |_| false),
            vec![vec![0, 2, 3, 5], vec![1], vec![4]]
        );
        assert_eq!(
            per_entity_key(keys.iter(), |at| at.len() >= 2),
            vec![vec![0, 2], vec![1], vec![3, 5], vec![4]]
        );
    }
}
