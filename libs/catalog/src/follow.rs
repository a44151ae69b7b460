//! Following a key prefix of the metadata store: list it, build a local
//! copy, then apply each watched change and publish the copy after every
//! batch of changes; when the watch fails (compaction, an outage), list
//! again — at once after a compaction, after a backoff otherwise. The
//! catalog cache and the progress cache are both such copies.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use featurestore_metastore::{Listing, MetadataStore, MetastoreError, WatchEvent};
use futures::StreamExt;

/// How a local copy is built, changed and published.
pub(crate) trait Mirror: Send {
    type Copy: Send;

    /// A fresh copy from a listing.
    fn build(&mut self, listing: &Listing) -> Self::Copy;

    fn apply(&mut self, copy: &mut Self::Copy, event: &WatchEvent);

    /// Makes `copy` visible to readers.
    fn publish(&mut self, copy: &Self::Copy);
}

/// Follows `prefix` forever (run it on a task and abort the task to stop);
/// `what` names it in logs.
pub(crate) async fn follow<M: Mirror>(
    store: &dyn MetadataStore,
    prefix: &str,
    what: &str,
    mirror: &mut M,
) {
    let builder = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_jitter();
    let mut backoff = builder.build();
    loop {
        let mut synced = false;
        let failure = match sync_once(store, prefix, mirror, &mut synced).await {
            Err(e) => e,
            Ok(()) => MetastoreError::Unavailable("watch ended".into()),
        };
        if synced {
            // The store worked: the next outage starts with a short delay.
            backoff = builder.build();
        }
        match failure {
            MetastoreError::Compacted { compact_revision } => {
                tracing::info!(what, compact_revision, "watch compacted, re-listing");
            }
            error => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(what, %error, ?delay, "watch interrupted, re-listing after backoff");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One list-then-watch cycle; returns when the watch fails.
async fn sync_once<M: Mirror>(
    store: &dyn MetadataStore,
    prefix: &str,
    mirror: &mut M,
    synced: &mut bool,
) -> Result<(), MetastoreError> {
    let listing = store.list(prefix).await?;
    let mut copy = mirror.build(&listing);
    let mut stream = store.watch(prefix, listing.revision + 1).await?;
    mirror.publish(&copy);
    *synced = true;
    let mut batches = (&mut stream).ready_chunks(256);
    while let Some(batch) = batches.next().await {
        let mut failure = None;
        for item in batch {
            match item {
                Ok(event) => mirror.apply(&mut copy, &event),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        mirror.publish(&copy);
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}
