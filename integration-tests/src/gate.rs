//! A metadata store seen through a gate that a test can close: while it is
//! closed every call fails UNAVAILABLE and open watches end with that error
//! — a service cut off from etcd (or from the embedded store) while the rest
//! of the system goes on using it.

use std::sync::Arc;

use async_trait::async_trait;
use featurestore_metastore::{
    Condition, KeyValue, Listing, MetadataStore, MetastoreError, Op, Result, Revision, WatchStream,
};
use futures::StreamExt;
use tokio::sync::watch;

/// Opens and closes every store wrapped by it.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// An open gate.
    pub fn new() -> Self {
        Self {
            open: Arc::new(watch::channel(true).0),
        }
    }

    pub fn close(&self) {
        self.open.send_replace(false);
    }

    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// `store` behind this gate.
    pub fn wrap(&self, store: Arc<dyn MetadataStore>) -> Arc<dyn MetadataStore> {
        Arc::new(GatedStore {
            inner: store,
            open: self.open.subscribe(),
        })
    }
}

struct GatedStore {
    inner: Arc<dyn MetadataStore>,
    open: watch::Receiver<bool>,
}

impl GatedStore {
    fn check(&self) -> Result<()> {
        if *self.open.borrow() {
            Ok(())
        } else {
            Err(MetastoreError::Unavailable(
                "cut off by the test's gate".into(),
            ))
        }
    }
}

#[async_trait]
impl MetadataStore for GatedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.check()?;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        self.check()?;
        self.inner.list(prefix).await
    }

    async fn txn(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<Revision> {
        self.check()?;
        self.inner.txn(conditions, ops).await
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        self.check()?;
        let events = self.inner.watch(prefix, start_revision).await?;
        let mut open = self.open.clone();
        let closed = async move {
            let _ = open.wait_for(|open| !*open).await;
        };
        let cut = futures::stream::once(async {
            Err(MetastoreError::Unavailable(
                "cut off by the test's gate".into(),
            ))
        });
        Ok(events.take_until(closed).chain(cut).boxed())
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.check()?;
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.check()?;
        self.inner.compact(revision).await
    }
}
