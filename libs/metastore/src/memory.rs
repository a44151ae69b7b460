//! An in-memory [`MetadataStore`] with etcd's semantics: one global revision
//! per transaction, compare-and-set on `mod_revision`, a history that watches
//! replay from any uncompacted revision.
//!
//! [`MemoryStore::open`] makes it persistent (standalone mode): every
//! transaction is written to a redb journal and synced before it is applied
//! and acknowledged; reads and watches are served from memory.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::{
    Condition, KeyValue, Listing, MetadataStore, MetastoreError, Op, Result, Revision, WatchEvent,
    WatchStream, journal::Journal, stop_after_error,
};

/// Events kept for live watchers that are behind; a watcher further behind
/// than this is ended with [`MetastoreError::Unavailable`] and must re-list.
const LIVE_BUFFER: usize = 4096;

#[derive(Default)]
struct State {
    data: BTreeMap<String, KeyValue>,
    revision: Revision,
    compacted: Revision,
    history: Vec<WatchEvent>,
}

/// In-memory metadata store, optionally journaled to disk. Cloning shares
/// the same data.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Arc<Vec<WatchEvent>>>,
    journal: Option<Arc<Journal>>,
    /// Serialises transactions and compactions (held across the journal write).
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::from_state(
            State {
                revision: 1,
                ..State::default()
            },
            None,
        )
    }

    /// A store persisted in the redb file at `path` (created when missing):
    /// it comes back with every acknowledged write, the same revision and
    /// the history since the last compaction. A file that is not a valid
    /// journal is an error and left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        let (journal, loaded) = Journal::open(path)?;
        let state = State {
            data: loaded.data,
            revision: loaded.revision,
            compacted: loaded.compacted,
            history: loaded.history,
        };
        Ok(Self::from_state(state, Some(Arc::new(journal))))
    }

    fn from_state(state: State, journal: Option<Arc<Journal>>) -> Self {
        let (events, _) = broadcast::channel(LIVE_BUFFER);
        Self {
            state: Arc::new(Mutex::new(state)),
            events,
            journal,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave partial writes: every
        // mutation below is applied after all checks.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl MetadataStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock().data.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let state = self.lock();
        Ok(Listing {
            kvs: state
                .data
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect(),
            revision: state.revision,
        })
    }

    async fn txn(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<Revision> {
        // Writers one at a time; readers only wait for the in-memory steps,
        // never for the journal's sync.
        let _writer = self.writer.lock().await;
        let (revision, events) = {
            let state = self.lock();
            match prepare(&state, &conditions, &ops)? {
                Some(prepared) => prepared,
                None => return Ok(state.revision),
            }
        };
        let events = match &self.journal {
            // Durable before it is visible or acknowledged.
            Some(journal) => {
                let journal = journal.clone();
                blocking(move || journal.commit(revision, &events).map(|()| events)).await?
            }
            None => events,
        };
        let mut state = self.lock();
        for event in &events {
            match event {
                WatchEvent::Put(kv) => {
                    state.data.insert(kv.key.clone(), kv.clone());
                }
                WatchEvent::Delete { key, .. } => {
                    state.data.remove(key);
                }
            }
        }
        state.revision = revision;
        state.history.extend(events.iter().cloned());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(Arc::new(events));
        Ok(revision)
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        let state = self.lock();
        if start_revision > 0 && start_revision <= state.compacted {
            return Err(MetastoreError::Compacted {
                compact_revision: state.compacted + 1,
            });
        }
        let prefix = prefix.to_string();
        let replay: Vec<Result<WatchEvent>> = state
            .history
            .iter()
            .filter(|e| e.revision() >= start_revision && e.key().starts_with(&prefix))
            .cloned()
            .map(Ok)
            .collect();
        // Subscribed while holding the lock: nothing is missed between the
        // replay and the live events.
        let live = BroadcastStream::new(self.events.subscribe());
        drop(state);
        let live = live.flat_map(move |batch| {
            let items: Vec<Result<WatchEvent>> = match batch {
                Ok(events) => events
                    .iter()
                    .filter(|e| e.revision() >= start_revision && e.key().starts_with(&prefix))
                    .cloned()
                    .map(Ok)
                    .collect(),
                Err(BroadcastStreamRecvError::Lagged(n)) => vec![Err(MetastoreError::Unavailable(
                    format!("watcher fell {n} transactions behind"),
                ))],
            };
            futures::stream::iter(items)
        });
        Ok(stop_after_error(futures::stream::iter(replay).chain(live)))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.lock().revision)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let _writer = self.writer.lock().await;
        let compacted = {
            let state = self.lock();
            if revision > state.revision {
                return Err(MetastoreError::Internal(format!(
                    "cannot compact to future revision {revision} (current {})",
                    state.revision
                )));
            }
            state.compacted.max(revision - 1)
        };
        if let Some(journal) = &self.journal {
            let journal = journal.clone();
            blocking(move || journal.compact(compacted)).await?;
        }
        let mut state = self.lock();
        state.compacted = compacted;
        state.history.retain(|e| e.revision() > compacted);
        Ok(())
    }
}

/// Checks `conditions` against `state` and turns `ops` into the events of
/// the next revision; `None` when there is nothing to write.
fn prepare(
    state: &State,
    conditions: &[Condition],
    ops: &[Op],
) -> Result<Option<(Revision, Vec<WatchEvent>)>> {
    for condition in conditions {
        let holds = match condition {
            Condition::ModRevision { key, revision } => {
                state.data.get(key).map(|kv| kv.mod_revision).unwrap_or(0) == *revision
            }
            Condition::PrefixUnchangedSince { prefix, revision } => state
                .data
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                .all(|(_, kv)| kv.mod_revision <= *revision),
        };
        if !holds {
            return Err(MetastoreError::Conflict);
        }
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let revision = state.revision + 1;
    let mut events = Vec::with_capacity(ops.len());
    // Later ops of one transaction see the earlier ones: key → its
    // create revision, `None` once deleted.
    let mut staged: BTreeMap<&str, Option<Revision>> = BTreeMap::new();
    for op in ops {
        let key = op_key(op);
        let created = match staged.get(key) {
            Some(staged) => *staged,
            None => state.data.get(key).map(|kv| kv.create_revision),
        };
        match op {
            Op::Put { key, value } => {
                let create_revision = created.unwrap_or(revision);
                staged.insert(key, Some(create_revision));
                events.push(WatchEvent::Put(KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision,
                    mod_revision: revision,
                }));
            }
            Op::Delete { key } => {
                staged.insert(key, None);
                if created.is_some() {
                    events.push(WatchEvent::Delete {
                        key: key.clone(),
                        mod_revision: revision,
                    });
                }
            }
        }
    }
    Ok(Some((revision, events)))
}

/// Runs journal I/O off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| MetastoreError::Internal(format!("metadata journal task: {e}")))?
}

fn op_key(op: &Op) -> &str {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => key,
    }
}
