//! The metadata store: a revisioned key-value store with multi-key
//! compare-and-set transactions and ordered watches, the semantics of etcd
//! that the catalog relies on.
//!
//! - `EtcdStore` is the production implementation (etcd-client; cargo
//!   feature `etcd`).
//! - [`MemoryStore`] keeps everything in memory (unit tests); opened on a
//!   file it journals every transaction to redb first (standalone mode).
//! - [`testsuite`] is the one conformance suite both must pass
//!   ([`metastore_conformance_tests!`]).

mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
mod etcd_config;
mod journal;
pub mod memory;
#[cfg(feature = "testsuite")]
pub mod testsuite;

use async_trait::async_trait;
use futures::{StreamExt, stream::BoxStream};

pub use error::MetastoreError;
#[cfg(feature = "etcd")]
pub use etcd::EtcdStore;
pub use etcd_config::EtcdConfig;
pub use memory::MemoryStore;

/// A metadata store revision (etcd's global, monotonically increasing
/// revision). Every committed transaction gets a new one.
pub type Revision = i64;

pub type Result<T, E = MetastoreError> = std::result::Result<T, E>;

/// A stored key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

/// A consistent listing of a prefix at one revision.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Sorted by key.
    pub kvs: Vec<KeyValue>,
    /// The store revision the listing reflects; watch from `revision + 1`.
    pub revision: Revision,
}

/// A guard of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The key's last modification is exactly `revision`; 0 means the key
    /// does not exist.
    ModRevision { key: String, revision: Revision },
    /// No key under `prefix` was created or modified after `revision`
    /// (typically the revision of a listing the decision was based on).
    /// Deletions under the prefix are not detected.
    PrefixUnchangedSince { prefix: String, revision: Revision },
}

impl Condition {
    pub fn absent(key: impl Into<String>) -> Self {
        Condition::ModRevision {
            key: key.into(),
            revision: 0,
        }
    }

    pub fn at(key: impl Into<String>, revision: Revision) -> Self {
        Condition::ModRevision {
            key: key.into(),
            revision,
        }
    }

    pub fn prefix_unchanged_since(prefix: impl Into<String>, revision: Revision) -> Self {
        Condition::PrefixUnchangedSince {
            prefix: prefix.into(),
            revision,
        }
    }
}

/// A write in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: Vec<u8> },
    Delete { key: String },
}

impl Op {
    pub fn put(key: impl Into<String>, value: Vec<u8>) -> Self {
        Op::Put {
            key: key.into(),
            value,
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    Delete { key: String, mod_revision: Revision },
}

impl WatchEvent {
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put(kv) => &kv.key,
            WatchEvent::Delete { key, .. } => key,
        }
    }

    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

/// Events in revision order. The stream ends with an error when the watch
/// cannot continue ([`MetastoreError::Compacted`] when the start revision is
/// gone, [`MetastoreError::Unavailable`] when the store went away); callers
/// re-list and watch again.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// The key's current value, if any.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Every key under `prefix`, sorted, at one revision.
    async fn list(&self, prefix: &str) -> Result<Listing>;

    /// Applies `ops` atomically if every condition holds, returning the
    /// revision of the commit; otherwise applies nothing and returns
    /// [`MetastoreError::Conflict`].
    async fn txn(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<Revision>;

    /// Changes under `prefix` with revision `>= start_revision`, in order.
    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Discards history before `revision` (watches from earlier revisions
    /// then fail with [`MetastoreError::Compacted`]).
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// The smallest key greater than every key starting with `prefix` (etcd's
/// range end for a prefix).
#[cfg(feature = "etcd")]
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Ends a stream right after its first error.
pub(crate) fn stop_after_error(
    stream: impl futures::Stream<Item = Result<WatchEvent>> + Send + 'static,
) -> WatchStream {
    stream
        .scan(false, |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = item.is_err();
            futures::future::ready(Some(item))
        })
        .boxed()
}
