//! The on-disk journal of a persistent [`MemoryStore`](crate::MemoryStore):
//! a redb file holding the current keys, the watch history since the last
//! compaction and the store revision. Every transaction is committed here
//! (fsync) before it is applied in memory and acknowledged, so a restart
//! finds every acknowledged write, the same revisions and the same history
//! to watch from.

use std::{collections::BTreeMap, path::Path};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{KeyValue, MetastoreError, Result, Revision, WatchEvent};

/// key → `create_revision (8 B LE) ‖ mod_revision (8 B LE) ‖ value`.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// (revision, index in the transaction) → an encoded [`WatchEvent`].
const HISTORY: TableDefinition<(i64, u32), &[u8]> = TableDefinition::new("history");
/// `revision` and `compacted`.
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

/// What a journal holds when opened.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub data: BTreeMap<String, KeyValue>,
    pub history: Vec<WatchEvent>,
    pub revision: Revision,
    pub compacted: Revision,
}

pub(crate) struct Journal {
    db: Database,
}

fn storage(e: impl std::fmt::Display) -> MetastoreError {
    MetastoreError::Unavailable(format!("metadata journal: {e}"))
}

fn corrupt(what: &str) -> MetastoreError {
    MetastoreError::Internal(format!("metadata journal is corrupt: {what}"))
}

impl Journal {
    /// Opens (or creates) the journal at `path`. A file that is not a redb
    /// database, or whose integrity check fails, is an error, never
    /// overwritten.
    pub fn open(path: &Path) -> Result<(Self, Loaded)> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| {
                MetastoreError::Internal(format!(
                    "cannot open metadata journal {}: {e}",
                    path.display()
                ))
            })?;
        let write = db.begin_write().map_err(storage)?;
        // Creates the tables of a new journal.
        write.open_table(KEYS).map_err(storage)?;
        write.open_table(HISTORY).map_err(storage)?;
        write.open_table(META).map_err(storage)?;
        write.commit().map_err(storage)?;
        let journal = Self { db };
        let loaded = journal.load()?;
        Ok((journal, loaded))
    }

    fn load(&self) -> Result<Loaded> {
        let read = self.db.begin_read().map_err(storage)?;
        let meta = read.open_table(META).map_err(storage)?;
        let get_meta = |name: &str| -> Result<Option<i64>> {
            Ok(meta.get(name).map_err(storage)?.map(|v| v.value()))
        };
        let mut loaded = Loaded {
            revision: get_meta("revision")?.unwrap_or(1),
            compacted: get_meta("compacted")?.unwrap_or(0),
            ..Loaded::default()
        };
        for entry in read
            .open_table(KEYS)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (key, value) = entry.map_err(storage)?;
            let key = key.value().to_string();
            let kv = decode_kv(key.clone(), value.value())?;
            loaded.data.insert(key, kv);
        }
        for entry in read
            .open_table(HISTORY)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (key, value) = entry.map_err(storage)?;
            let (revision, _) = key.value();
            loaded.history.push(decode_event(revision, value.value())?);
        }
        Ok(loaded)
    }

    /// Durably records transaction `revision` and its `events`.
    pub fn commit(&self, revision: Revision, events: &[WatchEvent]) -> Result<()> {
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut keys = write.open_table(KEYS).map_err(storage)?;
            let mut history = write.open_table(HISTORY).map_err(storage)?;
            for (i, event) in events.iter().enumerate() {
                match event {
                    WatchEvent::Put(kv) => {
                        keys.insert(kv.key.as_str(), encode_kv(kv).as_slice())
                            .map_err(storage)?;
                    }
                    WatchEvent::Delete { key, .. } => {
                        keys.remove(key.as_str()).map_err(storage)?;
                    }
                }
                history
                    .insert((revision, i as u32), encode_event(event).as_slice())
                    .map_err(storage)?;
            }
            let mut meta = write.open_table(META).map_err(storage)?;
            meta.insert("revision", revision).map_err(storage)?;
        }
        write.commit().map_err(storage)
    }

    /// Durably drops the history at or before `compacted`.
    pub fn compact(&self, compacted: Revision) -> Result<()> {
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut history = write.open_table(HISTORY).map_err(storage)?;
            history
                .retain_in(..=(compacted, u32::MAX), |_, _| false)
                .map_err(storage)?;
            let mut meta = write.open_table(META).map_err(storage)?;
            meta.insert("compacted", compacted).map_err(storage)?;
        }
        write.commit().map_err(storage)
    }
}

fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

fn decode_kv(key: String, bytes: &[u8]) -> Result<KeyValue> {
    if bytes.len() < 16 {
        return Err(corrupt(&format!("short record for key {key}")));
    }
    let create_revision = i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let mod_revision = i64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    Ok(KeyValue {
        key,
        value: bytes[16..].to_vec(),
        create_revision,
        mod_revision,
    })
}

/// `0 ‖ key` for a delete, `1 ‖ key length (4 B LE) ‖ key ‖ kv record` for a put.
fn encode_event(event: &WatchEvent) -> Vec<u8> {
    match event {
        WatchEvent::Delete { key, .. } => [&[0u8][..], key.as_bytes()].concat(),
        WatchEvent::Put(kv) => {
            let mut out = vec![1u8];
            out.extend_from_slice(&(kv.key.len() as u32).to_le_bytes());
            out.extend_from_slice(kv.key.as_bytes());
            out.extend_from_slice(&encode_kv(kv));
            out
        }
    }
}

fn decode_event(revision: Revision, bytes: &[u8]) -> Result<WatchEvent> {
    let utf8 =
        |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt("a history key is not UTF-8"));
    match bytes.split_first() {
        Some((0, key)) => Ok(WatchEvent::Delete {
            key: utf8(key)?,
            mod_revision: revision,
        }),
        Some((1, rest)) if rest.len() >= 4 => {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let rest = &rest[4..];
            if rest.len() < len {
                return Err(corrupt("short history record"));
            }
            Ok(WatchEvent::Put(decode_kv(
                utf8(&rest[..len])?,
                &rest[len..],
            )?))
        }
        _ => Err(corrupt(&format!("history record of revision {revision}"))),
    }
}
