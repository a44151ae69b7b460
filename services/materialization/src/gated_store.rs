//! Tests only: an embedded online store whose tile reads and writes a test
//! can hold, to order a stream fold and a correction the way a race on a
//! loaded machine would.

use std::{sync::Mutex, time::Duration};

use async_trait::async_trait;
use featurestore_onlinestore::{
    OnlineRow, OnlineStore, OnlineTable, RedbOnlineStore, Result, StoredRow, StoredTile, TileKey,
    TileRange, TileTable, TileWrite,
};
use tokio::sync::{Semaphore, watch};

pub(crate) struct GatedStore {
    pub inner: RedbOnlineStore,
    /// Counts `get_tiles` calls that have read (before a slow read's wait).
    pub reads: watch::Sender<u64>,
    /// Counts writes without a deadline done (a correction's, not a
    /// fold's).
    pub corrections: watch::Sender<u64>,
    /// How long the next `get_tiles` takes after reading (once).
    pub slow_read: Mutex<Option<Duration>>,
    /// When set, each write with a deadline (a fold's) waits for a permit.
    pub fold_writes: Option<Semaphore>,
}

impl GatedStore {
    pub fn new(inner: RedbOnlineStore, hold_fold_writes: bool) -> Self {
        Self {
            inner,
            reads: watch::Sender::new(0),
            corrections: watch::Sender::new(0),
            slow_read: Mutex::new(None),
            fold_writes: hold_fold_writes.then(|| Semaphore::new(0)),
        }
    }
}

#[async_trait]
impl OnlineStore for GatedStore {
    async fn ensure_table(&self, table: &OnlineTable) -> Result<()> {
        self.inner.ensure_table(table).await
    }

    async fn upsert(&self, table: &OnlineTable, rows: &[OnlineRow]) -> Result<()> {
        self.inner.upsert(table, rows).await
    }

    async fn get(&self, table: &OnlineTable, keys: &[Vec<u8>]) -> Result<Vec<Option<StoredRow>>> {
        self.inner.get(table, keys).await
    }

    async fn ensure_tiles(&self, table: &TileTable) -> Result<()> {
        self.inner.ensure_tiles(table).await
    }

    async fn get_tiles(&self, table: &TileTable, keys: &[TileKey]) -> Result<Vec<Option<Vec<u8>>>> {
        let tiles = self.inner.get_tiles(table, keys).await?;
        self.reads.send_modify(|n| *n += 1);
        let slow = self.slow_read.lock().unwrap().take();
        if let Some(slow) = slow {
            tokio::time::sleep(slow).await;
        }
        Ok(tiles)
    }

    async fn put_tiles_by(
        &self,
        table: &TileTable,
        tiles: &[TileWrite],
        deadline: Option<std::time::Instant>,
    ) -> Result<()> {
        if deadline.is_none() {
            self.inner.put_tiles_by(table, tiles, None).await?;
            self.corrections.send_modify(|n| *n += 1);
            return Ok(());
        }
        if let Some(gate) = &self.fold_writes {
            gate.acquire().await.unwrap().forget();
        }
        self.inner.put_tiles_by(table, tiles, deadline).await
    }

    async fn scan_tiles(
        &self,
        table: &TileTable,
        keys: &[Vec<u8>],
        ranges: &[TileRange],
    ) -> Result<Vec<Vec<StoredTile>>> {
        self.inner.scan_tiles(table, keys, ranges).await
    }
}
