//! The offsets a consumer committed with its Delta appends (one Delta
//! transaction id per partition), read for every partition of a topic at
//! once. Status, lag metrics and corrections ask often; the answer only
//! changes with a new table version, so each table stays open (brought up
//! to date, which reads only the log entries added since) and the offsets
//! of a version are read once.

use std::collections::HashMap;

use deltalake::DeltaTable;
use tokio::sync::Mutex;

use crate::{OfflineTable, Result, delta::DeltaStore};

/// (table path, consumer, topic).
type Reader = (String, String, String);

/// The offsets read, and the table version they were read at.
type Read = (Option<u64>, Vec<Option<i64>>);

/// Per table path: the table opened for these reads, and per reader the
/// offsets read at a version.
#[derive(Default)]
pub(crate) struct Offsets {
    tables: Mutex<HashMap<String, DeltaTable>>,
    read: std::sync::Mutex<HashMap<Reader, Read>>,
}

impl DeltaStore {
    /// How far `consumer` got in each of the first `partitions` partitions
    /// of `topic`: the next offset to append, or `None` where it never
    /// appended.
    pub async fn committed_offsets(
        &self,
        table: &OfflineTable,
        consumer: &str,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<Option<i64>>> {
        let opened = self.offsets.tables.lock().await.remove(&table.path);
        let delta = match opened {
            Some(mut delta) => {
                delta.update_state().await?;
                delta
            }
            None => self.open(table, false).await?,
        };
        let version = delta.version();
        let key = (table.path.clone(), consumer.to_string(), topic.to_string());
        let known = self
            .offsets
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|(at, offsets)| *at == version && offsets.len() == partitions.max(0) as usize)
            .map(|(_, offsets)| offsets.clone());
        let offsets = match known {
            Some(offsets) => offsets,
            None => {
                let log_store = delta.log_store();
                let snapshot = delta.snapshot()?;
                let mut offsets = Vec::with_capacity(partitions.max(0) as usize);
                for p in 0..partitions {
                    let id = crate::delta::app_id(consumer, topic, p);
                    offsets.push(snapshot.transaction_version(log_store.as_ref(), id).await?);
                }
                self.offsets
                    .read
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, (version, offsets.clone()));
                offsets
            }
        };
        self.offsets
            .tables
            .lock()
            .await
            .insert(table.path.clone(), delta);
        Ok(offsets)
    }
}
