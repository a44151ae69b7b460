//! [`RedbOnlineStore`]: the embedded online store of standalone mode, one
//! redb file (crash-safe copy-on-write B-trees, concurrent readers).
//!
//! Each online table is a redb table `rows/<name>`: entity key →
//! `event time (8 B LE) ‖ expiry (8 B LE, 0 = never) ‖ protobuf Row` with
//! the values in the table's stored column order. The stored column list
//! of every table (`columns`) only grows, so rows written before a feature
//! was added read it as null. An upsert reads the stored row in the same
//! write transaction and keeps the newer event; a row past its expiry (the
//! write time plus the group's TTL, as in Cassandra) reads as absent.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use async_trait::async_trait;
use featurestore_proto::v1::{Row, Value, value::Kind};
use prost::Message;

use crate::{
    OnlineRow, OnlineStore, OnlineStoreError, OnlineTable, Result, StoredRow, StoredTile, TileKey,
    TileRange, TileTable, TileWrite, redb_tiles,
};

/// table name → its feature columns in stored order, `\n`-separated.
const COLUMNS: TableDefinition<&str, &str> = TableDefinition::new("columns");

/// The embedded online store. Cloning shares the same file.
#[derive(Clone)]
pub struct RedbOnlineStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// The stored columns of every table, as in `COLUMNS`.
    columns: RwLock<HashMap<String, Arc<Vec<String>>>>,
    /// Serialises `ensure_table` (read, extend, write the column list).
    ddl: Mutex<()>,
}

impl std::fmt::Debug for RedbOnlineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbOnlineStore").finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> OnlineStoreError {
    OnlineStoreError::Unavailable(format!("embedded online store: {e}"))
}

fn rows_table(name: &str) -> String {
    format!("rows/{name}")
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl RedbOnlineStore {
    /// The page cache an embedded online store is opened with by default
    /// (redb's own default): the tiles and rows serving reads stay in it.
    pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

    /// Opens (or creates) the store at `path` with a page cache of
    /// [`Self::DEFAULT_CACHE_BYTES`]. A file that is not a valid redb database is
    /// an error and left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, Self::DEFAULT_CACHE_BYTES)
    }

    /// The same, caching at most `cache_bytes` of pages read and written
    /// (redb's cache; what the store adds to the process's memory beyond
    /// the requests in flight).
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| {
                OnlineStoreError::Internal(format!(
                    "cannot open online store {}: {e}",
                    path.display()
                ))
            })?;
        let write = db.begin_write().map_err(storage)?;
        write.open_table(COLUMNS).map_err(storage)?;
        write.commit().map_err(storage)?;
        let mut columns = HashMap::new();
        {
            let read = db.begin_read().map_err(storage)?;
            for entry in read
                .open_table(COLUMNS)
                .map_err(storage)?
                .iter()
                .map_err(storage)?
            {
                let (name, list) = entry.map_err(storage)?;
                let list: Vec<String> = match list.value() {
                    "" => Vec::new(),
                    names => names.split('\n').map(str::to_string).collect(),
                };
                columns.insert(name.value().to_string(), Arc::new(list));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                columns: RwLock::new(columns),
                ddl: Mutex::new(()),
            }),
        })
    }
}

impl Inner {
    fn columns(&self, table: &OnlineTable) -> Result<Arc<Vec<String>>> {
        self.columns
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&table.name)
            .cloned()
            .ok_or_else(|| OnlineStoreError::UnknownTable(table.label.clone()))
    }

    fn ensure_table(&self, table: &OnlineTable) -> Result<()> {
        let _ddl = self.ddl.lock().unwrap_or_else(|e| e.into_inner());
        let existing = self.columns(table).ok();
        let known = existing.is_some();
        let mut columns: Vec<String> = existing.map(|c| c.as_ref().clone()).unwrap_or_default();
        let before = columns.len();
        for (name, _) in &table.features {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
        if known && columns.len() == before {
            return Ok(());
        }
        let write = self.db.begin_write().map_err(storage)?;
        write
            .open_table(COLUMNS)
            .map_err(storage)?
            .insert(table.name.as_str(), columns.join("\n").as_str())
            .map_err(storage)?;
        let rows = rows_table(&table.name);
        write
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&rows))
            .map_err(storage)?;
        write.commit().map_err(storage)?;
        self.columns
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.name.clone(), Arc::new(columns));
        Ok(())
    }

    fn upsert(&self, table: &OnlineTable, rows: &[OnlineRow]) -> Result<()> {
        let columns = self.columns(table)?;
        // For each stored column, where its value is in the table's order.
        let mut source = vec![None; columns.len()];
        for (i, (name, _)) in table.features.iter().enumerate() {
            let stored = columns.iter().position(|c| c == name).ok_or_else(|| {
                OnlineStoreError::Invalid(format!(
                    "feature {name} is not a column of {} (ensure the table first)",
                    table.label
                ))
            })?;
            source[stored] = Some(i);
        }
        let now = now_micros();
        let expires = if table.ttl_seconds > 0 {
            now.saturating_add(table.ttl_seconds.saturating_mul(1_000_000))
        } else {
            0
        };
        let name = rows_table(&table.name);
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut stored = write
                .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .map_err(storage)?;
            let mut buf = Vec::new();
            for row in rows {
                if row.values.len() != table.features.len() {
                    return Err(OnlineStoreError::Invalid(format!(
                        "{} values for the {} features of {}",
                        row.values.len(),
                        table.features.len(),
                        table.label
                    )));
                }
                let newer_stored = stored
                    .get(row.entity_key.as_slice())
                    .map_err(storage)?
                    .and_then(|old| header(old.value()))
                    .is_some_and(|(event_time, expiry)| {
                        event_time > row.event_time_micros && !expired(expiry, now)
                    });
                if newer_stored {
                    continue;
                }
                let values = Row {
                    values: source
                        .iter()
                        .map(|i| i.map_or_else(null, |i| row.values[i].clone()))
                        .collect(),
                };
                buf.clear();
                buf.extend_from_slice(&row.event_time_micros.to_le_bytes());
                buf.extend_from_slice(&expires.to_le_bytes());
                values
                    .encode(&mut buf)
                    .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
                stored
                    .insert(row.entity_key.as_slice(), buf.as_slice())
                    .map_err(storage)?;
            }
        }
        // Synced before the upsert returns.
        write.commit().map_err(storage)
    }

    fn get(&self, table: &OnlineTable, keys: &[Vec<u8>]) -> Result<Vec<Option<StoredRow>>> {
        let columns = self.columns(table)?;
        // For each of the table's features, its stored column.
        let positions: Vec<Option<usize>> = table
            .features
            .iter()
            .map(|(name, _)| columns.iter().position(|c| c == name))
            .collect();
        let read = self.db.begin_read().map_err(storage)?;
        let name = rows_table(&table.name);
        let stored = match read.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(stored) => stored,
            Err(TableError::TableDoesNotExist(_)) => {
                return Err(OnlineStoreError::UnknownTable(table.label.clone()));
            }
            Err(e) => return Err(storage(e)),
        };
        let now = now_micros();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(bytes) = stored.get(key.as_slice()).map_err(storage)? else {
                out.push(None);
                continue;
            };
            let bytes = bytes.value();
            let (event_time_micros, expiry) = header(bytes).ok_or_else(|| corrupt(table))?;
            if expired(expiry, now) {
                out.push(None);
                continue;
            }
            let mut row = Row::decode(&bytes[16..]).map_err(|_| corrupt(table))?;
            let values = positions
                .iter()
                .map(|p| {
                    p.and_then(|p| row.values.get_mut(p))
                        .map_or_else(null, std::mem::take)
                })
                .collect();
            out.push(Some(StoredRow {
                event_time_micros,
                values,
            }));
        }
        Ok(out)
    }
}

fn null() -> Value {
    Value {
        kind: Some(Kind::NullValue(0)),
    }
}

fn corrupt(table: &OnlineTable) -> OnlineStoreError {
    OnlineStoreError::Internal(format!(
        "embedded online store: corrupt row in {}",
        table.label
    ))
}

/// (event time, expiry) of a stored row.
fn header(bytes: &[u8]) -> Option<(i64, i64)> {
    let event_time = i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let expiry = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((event_time, expiry))
}

fn expired(expiry: i64, now: i64) -> bool {
    expiry != 0 && now >= expiry
}

/// Reads of at most this many keys run on the calling (async) thread.
const INLINE_READ_KEYS: usize = 16;

/// Runs blocking redb work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OnlineStoreError::Internal(format!("embedded online store task: {e}")))?
}

#[async_trait]
impl OnlineStore for RedbOnlineStore {
    async fn ensure_table(&self, table: &OnlineTable) -> Result<()> {
        let inner = self.inner.clone();
        let table = table.clone();
        blocking(move || inner.ensure_table(&table)).await
    }

    async fn upsert(&self, table: &OnlineTable, rows: &[OnlineRow]) -> Result<()> {
        let inner = self.inner.clone();
        let table = table.clone();
        let rows = rows.to_vec();
        blocking(move || inner.upsert(&table, &rows)).await
    }

    async fn get(&self, table: &OnlineTable, keys: &[Vec<u8>]) -> Result<Vec<Option<StoredRow>>> {
        // A few point reads cost less than handing them to a blocking thread
        // and back (two wake-ups, the keys and table copied): redb readers
        // take no lock a writer holds, and the pages a hot key needs sit in
        // redb's cache or the OS page cache.
        if keys.len() <= INLINE_READ_KEYS {
            return self.inner.get(table, keys);
        }
        let inner = self.inner.clone();
        let table = table.clone();
        let keys = keys.to_vec();
        blocking(move || inner.get(&table, &keys)).await
    }

    async fn ensure_tiles(&self, table: &TileTable) -> Result<()> {
        let inner = self.inner.clone();
        let table = table.clone();
        blocking(move || redb_tiles::ensure(&inner.db, &table)).await
    }

    async fn get_tiles(&self, table: &TileTable, keys: &[TileKey]) -> Result<Vec<Option<Vec<u8>>>> {
        let inner = self.inner.clone();
        let table = table.clone();
        let keys = keys.to_vec();
        blocking(move || redb_tiles::get(&inner.db, &table, &keys, now_micros())).await
    }

    async fn put_tiles_by(
        &self,
        table: &TileTable,
        tiles: &[TileWrite],
        deadline: Option<std::time::Instant>,
    ) -> Result<()> {
        let inner = self.inner.clone();
        let table = table.clone();
        let tiles = tiles.to_vec();
        blocking(move || redb_tiles::put(&inner.db, &table, &tiles, now_micros(), deadline)).await
    }

    async fn scan_tiles(
        &self,
        table: &TileTable,
        keys: &[Vec<u8>],
        ranges: &[TileRange],
    ) -> Result<Vec<Vec<StoredTile>>> {
        // One key's window is a few short range scans of pages a hot key
        // keeps cached: cheaper inline than on a blocking thread.
        if keys.len() <= INLINE_READ_KEYS {
            return redb_tiles::scan(&self.inner.db, table, keys, ranges, now_micros());
        }
        let inner = self.inner.clone();
        let table = table.clone();
        let keys = keys.to_vec();
        let ranges = ranges.to_vec();
        blocking(move || redb_tiles::scan(&inner.db, &table, &keys, &ranges, now_micros())).await
    }
}
