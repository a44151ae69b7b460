//! The watch-driven catalog cache.
//!
//! A background task lists the keyspace at a revision, publishes the
//! snapshot, then watches from the next revision and publishes each batch
//! of changes. When the watch fails (history compacted, store restarted or
//! unreachable) it re-lists with exponential backoff; readers keep the last
//! good snapshot meanwhile.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use featurestore_metastore::{Listing, MetadataStore, Revision, WatchEvent};
use featurestore_proto::v1::Project;
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    follow::{Mirror, follow},
    keyspace::Keyspace,
    snapshot::Catalog,
};

#[derive(Debug, thiserror::Error)]
pub enum CatalogCacheError {
    #[error("the catalog did not reach revision {wanted} within {timeout:?} (at {current})")]
    Timeout {
        wanted: Revision,
        current: Revision,
        timeout: Duration,
    },
}

/// Keeps a current [`Catalog`]. Dropping it stops the background task.
pub struct CatalogCache {
    current: Arc<ArcSwap<Catalog>>,
    revisions: watch::Receiver<Revision>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogCache")
            .field("revision", &*self.revisions.borrow())
            .finish()
    }
}

impl Drop for CatalogCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CatalogCache {
    /// Starts following the catalog under `keyspace`. Returns at once; use
    /// [`CatalogCache::wait_synced`] to wait for the first snapshot.
    pub fn spawn(store: Arc<dyn MetadataStore>, keyspace: Keyspace) -> Self {
        let current = Arc::new(ArcSwap::from_pointee(Catalog::default()));
        let (tx, revisions) = watch::channel(0);
        let mut mirror = CatalogMirror {
            keyspace,
            current: current.clone(),
            revisions: tx,
        };
        let task = tokio::spawn(async move {
            let prefix = mirror.keyspace.root_prefix();
            follow(&*store, &prefix, "catalog", &mut mirror).await;
        });
        Self {
            current,
            revisions,
            task,
        }
    }

    /// The latest snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// A project of the latest snapshot (its role bindings decide what
    /// callers may do when authorization is on).
    pub fn project(&self, name: &str) -> Option<Arc<Project>> {
        self.snapshot().project(name).cloned()
    }

    /// A receiver that changes whenever a new snapshot is published; its
    /// value is the snapshot's revision (0 before the first sync).
    pub fn subscribe(&self) -> watch::Receiver<Revision> {
        self.revisions.clone()
    }

    /// Waits until the first snapshot is published.
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), CatalogCacheError> {
        self.wait_for_revision(1, timeout).await
    }

    /// Waits until the snapshot reflects `revision` (read-your-writes after a
    /// registry call that returned that revision).
    pub async fn wait_for_revision(
        &self,
        revision: Revision,
        timeout: Duration,
    ) -> Result<(), CatalogCacheError> {
        let mut rx = self.revisions.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ => Err(CatalogCacheError::Timeout {
                wanted: revision,
                current: *self.revisions.borrow(),
                timeout,
            }),
        }
    }
}

/// The catalog as a [`Mirror`] of the root prefix.
struct CatalogMirror {
    keyspace: Keyspace,
    current: Arc<ArcSwap<Catalog>>,
    revisions: watch::Sender<Revision>,
}

impl Mirror for CatalogMirror {
    type Copy = Catalog;

    fn build(&mut self, listing: &Listing) -> Catalog {
        tracing::debug!(revision = listing.revision, "catalog synced");
        Catalog::from_listing(&self.keyspace, &listing.kvs, listing.revision)
    }

    fn apply(&mut self, catalog: &mut Catalog, event: &WatchEvent) {
        catalog.apply(&self.keyspace, event);
    }

    fn publish(&mut self, catalog: &Catalog) {
        self.current.store(Arc::new(catalog.clone()));
        self.revisions.send_replace(catalog.revision());
    }
}

#[cfg(test)]
mod tests {
    use featurestore_metastore::{MemoryStore, MetastoreError, Op};
    use featurestore_proto::v1::Project;
    use prost::Message;

    use super::*;

    fn project(name: &str) -> Vec<u8> {
        Project {
            name: name.into(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[tokio::test]
    async fn follows_changes_and_recovers_from_compaction() {
        let store = Arc::new(MemoryStore::new());
        let ks = Keyspace::new("/t");
        store
            .txn(vec![], vec![Op::put(ks.project("a"), project("a"))])
            .await
            .unwrap();
        let cache = CatalogCache::spawn(store.clone(), ks.clone());
        cache.wait_synced(Duration::from_secs(5)).await.unwrap();
        assert!(cache.snapshot().project("a").is_some());

        let rev = store
            .txn(
                vec![],
                vec![
                    Op::put(ks.project("b"), project("b")),
                    Op::delete(ks.project("a")),
                ],
            )
            .await
            .unwrap();
        cache
            .wait_for_revision(rev, Duration::from_secs(5))
            .await
            .unwrap();
        let snap = cache.snapshot();
        assert!(snap.project("a").is_none());
        assert!(snap.project("b").is_some());
        assert_eq!(snap.revision(), rev);
    }

    /// Fails the first watches it is asked for, like a store whose history
    /// was compacted and then one that went away.
    struct FlakyStore {
        inner: MemoryStore,
        failures: std::sync::Mutex<Vec<MetastoreError>>,
    }

    #[async_trait::async_trait]
    impl MetadataStore for FlakyStore {
        async fn get(
            &self,
            key: &str,
        ) -> featurestore_metastore::Result<Option<featurestore_metastore::KeyValue>> {
            self.inner.get(key).await
        }
        async fn list(
            &self,
            prefix: &str,
        ) -> featurestore_metastore::Result<featurestore_metastore::Listing> {
            self.inner.list(prefix).await
        }
        async fn txn(
            &self,
            conditions: Vec<featurestore_metastore::Condition>,
            ops: Vec<Op>,
        ) -> featurestore_metastore::Result<Revision> {
            self.inner.txn(conditions, ops).await
        }
        async fn watch(
            &self,
            prefix: &str,
            start: Revision,
        ) -> featurestore_metastore::Result<featurestore_metastore::WatchStream> {
            let failure = self.failures.lock().unwrap().pop();
            match failure {
                Some(e) => Err(e),
                None => self.inner.watch(prefix, start).await,
            }
        }
        async fn current_revision(&self) -> featurestore_metastore::Result<Revision> {
            self.inner.current_revision().await
        }
        async fn compact(&self, revision: Revision) -> featurestore_metastore::Result<()> {
            self.inner.compact(revision).await
        }
    }

    #[tokio::test]
    async fn relists_after_compaction_and_outage() {
        let ks = Keyspace::new("/t");
        let store = Arc::new(FlakyStore {
            inner: MemoryStore::new(),
            failures: std::sync::Mutex::new(vec![
                MetastoreError::Unavailable("down".into()),
                MetastoreError::Compacted {
                    compact_revision: 5,
                },
            ]),
        });
        store
            .txn(vec![], vec![Op::put(ks.project("a"), project("a"))])
            .await
            .unwrap();
        let cache = CatalogCache::spawn(store.clone(), ks.clone());
        cache.wait_synced(Duration::from_secs(5)).await.unwrap();
        let rev = store
            .txn(vec![], vec![Op::put(ks.project("b"), project("b"))])
            .await
            .unwrap();
        cache
            .wait_for_revision(rev, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(cache.snapshot().project("b").is_some());
        assert!(
            store.failures.lock().unwrap().is_empty(),
            "both failures were hit"
        );
    }
}
