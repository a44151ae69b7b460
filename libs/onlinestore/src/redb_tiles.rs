//! Tile tables of the embedded store: a redb table `tiles/<name>` with key
//! `len(entity key) (4 B BE) ‖ entity key ‖ grain (8 B BE) ‖ start (8 B BE,
//! sign bit flipped)`, so that one key's tiles of one grain sort by start
//! and a range of them is one range scan; value `expiry (8 B LE, 0 =
//! never) ‖ tile value`. Each tile's write version (the fence) is kept
//! beside it in `tile_versions/<name>` under the same key, compared in the
//! write transaction.

use std::time::Instant;

use ::redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::{OnlineStoreError, Result, StoredTile, TileKey, TileRange, TileTable, TileWrite};

fn tiles_table(name: &str) -> String {
    format!("tiles/{name}")
}

fn versions_table(name: &str) -> String {
    format!("tile_versions/{name}")
}

fn storage(e: impl std::fmt::Display) -> OnlineStoreError {
    OnlineStoreError::Unavailable(format!("embedded online store: {e}"))
}

fn prefix(entity_key: &[u8], grain: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(entity_key.len() + 20);
    key.extend_from_slice(&(entity_key.len() as u32).to_be_bytes());
    key.extend_from_slice(entity_key);
    key.extend_from_slice(&grain.to_be_bytes());
    key
}

fn with_start(mut prefix: Vec<u8>, start: i64) -> Vec<u8> {
    prefix.extend_from_slice(&((start as u64) ^ (1 << 63)).to_be_bytes());
    prefix
}

fn stored_key(key: &TileKey) -> Vec<u8> {
    with_start(prefix(&key.entity_key, key.grain), key.start)
}

fn start_of(stored: &[u8]) -> i64 {
    let tail: [u8; 8] = stored[stored.len() - 8..].try_into().expect("8 bytes");
    (u64::from_be_bytes(tail) ^ (1 << 63)) as i64
}

/// The tile value, or `None` when expired.
fn live(bytes: &[u8], now: i64, table: &TileTable) -> Result<Option<Vec<u8>>> {
    let Some(expiry) = bytes.get(..8) else {
        return Err(OnlineStoreError::Internal(format!(
            "embedded online store: corrupt tile in {}",
            table.label
        )));
    };
    let expiry = i64::from_le_bytes(expiry.try_into().expect("8 bytes"));
    Ok((expiry == 0 || now < expiry).then(|| bytes[8..].to_vec()))
}

pub(crate) fn ensure(db: &Database, table: &TileTable) -> Result<()> {
    let write = db.begin_write().map_err(storage)?;
    write
        .open_table(TableDefinition::<&[u8], &[u8]>::new(&tiles_table(
            &table.name,
        )))
        .map_err(storage)?;
    write.commit().map_err(storage)
}

type Tiles = ::redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The tile table in a read transaction; a table never created is unknown.
fn open_read(read: &::redb::ReadTransaction, table: &TileTable) -> Result<Tiles> {
    match read.open_table(TableDefinition::<&[u8], &[u8]>::new(&tiles_table(
        &table.name,
    ))) {
        Ok(stored) => Ok(stored),
        Err(TableError::TableDoesNotExist(_)) => {
            Err(OnlineStoreError::UnknownTable(table.label.clone()))
        }
        Err(e) => Err(storage(e)),
    }
}

pub(crate) fn get(
    db: &Database,
    table: &TileTable,
    keys: &[TileKey],
    now: i64,
) -> Result<Vec<Option<Vec<u8>>>> {
    let read = db.begin_read().map_err(storage)?;
    let stored = open_read(&read, table)?;
    keys.iter()
        .map(
            |key| match stored.get(stored_key(key).as_slice()).map_err(storage)? {
                Some(bytes) => live(bytes.value(), now, table),
                None => Ok(None),
            },
        )
        .collect()
}

/// Writes `tiles` in one transaction, committed only before `deadline`
/// (the transaction is the "send": after it, nothing is written).
pub(crate) fn put(
    db: &Database,
    table: &TileTable,
    tiles: &[TileWrite],
    now: i64,
    deadline: Option<Instant>,
) -> Result<()> {
    let write = db.begin_write().map_err(storage)?;
    {
        let mut stored = write
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&tiles_table(
                &table.name,
            )))
            .map_err(storage)?;
        let mut versions = write
            .open_table(TableDefinition::<&[u8], i64>::new(&versions_table(
                &table.name,
            )))
            .map_err(storage)?;
        let mut buf = Vec::new();
        for tile in tiles {
            let key = stored_key(&tile.key);
            let newer = versions
                .get(key.as_slice())
                .map_err(storage)?
                .is_some_and(|v| v.value() > tile.version);
            if newer {
                continue;
            }
            let expiry = if tile.ttl_seconds > 0 {
                now.saturating_add(tile.ttl_seconds.saturating_mul(1_000_000))
            } else {
                0
            };
            buf.clear();
            buf.extend_from_slice(&expiry.to_le_bytes());
            buf.extend_from_slice(&tile.value);
            stored
                .insert(key.as_slice(), buf.as_slice())
                .map_err(storage)?;
            versions
                .insert(key.as_slice(), tile.version)
                .map_err(storage)?;
        }
    }
    if deadline.is_some_and(|d| Instant::now() > d) {
        write.abort().map_err(storage)?;
        return Err(OnlineStoreError::Late(format!(
            "{}: {} tiles not written",
            table.label,
            tiles.len()
        )));
    }
    write.commit().map_err(storage)
}

pub(crate) fn scan(
    db: &Database,
    table: &TileTable,
    keys: &[Vec<u8>],
    ranges: &[TileRange],
    now: i64,
) -> Result<Vec<Vec<StoredTile>>> {
    let read = db.begin_read().map_err(storage)?;
    let stored = open_read(&read, table)?;
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| (r.grain, r.from));
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let mut tiles = Vec::new();
        for range in &sorted {
            if range.from >= range.to {
                continue;
            }
            let p = prefix(key, range.grain);
            let (from, to) = (with_start(p.clone(), range.from), with_start(p, range.to));
            for entry in stored
                .range(from.as_slice()..to.as_slice())
                .map_err(storage)?
            {
                let (k, v) = entry.map_err(storage)?;
                if let Some(value) = live(v.value(), now, table)? {
                    tiles.push(StoredTile {
                        grain: range.grain,
                        start: start_of(k.value()),
                        value,
                    });
                }
            }
        }
        out.push(tiles);
    }
    Ok(out)
}
