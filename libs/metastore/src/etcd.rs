//! The etcd implementation of [`MetadataStore`].
//!
//! Every call runs under a request timeout, so a dead etcd gives
//! [`MetastoreError::Unavailable`] within the caller's deadline instead of a
//! hang; the underlying gRPC channel reconnects by itself when etcd returns.

use std::{future::Future, time::Duration};

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Txn, TxnOp, WatchOptions,
};
use futures::StreamExt;

use crate::{
    Condition, EtcdConfig, KeyValue, Listing, MetadataStore, MetastoreError, Op, Result, Revision,
    WatchEvent, WatchStream, prefix_end, stop_after_error,
};

/// Keys per page when listing a prefix (listings are still consistent: every
/// page is read at the revision of the first).
const LIST_PAGE: i64 = 500;

#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    request_timeout: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Creates a client. It connects lazily: an unreachable etcd shows up as
    /// [`MetastoreError::Unavailable`] on the first calls, not here.
    pub async fn connect(config: &EtcdConfig) -> Result<Self> {
        let options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_timeout(config.request_timeout)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(map_err)?;
        Ok(Self {
            client,
            request_timeout: config.request_timeout,
        })
    }

    async fn timed<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.request_timeout, fut).await {
            Ok(result) => result.map_err(map_err),
            Err(_) => Err(MetastoreError::Unavailable(format!(
                "etcd did not answer {what} within {:?}",
                self.request_timeout
            ))),
        }
    }
}

fn map_err(err: etcd_client::Error) -> MetastoreError {
    use etcd_client::Error as E;
    match err {
        E::GRpcStatus(status) => match status.code() {
            tonic::Code::OutOfRange => MetastoreError::Internal(status.message().to_string()),
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
                MetastoreError::Internal(format!("etcd refused the request: {}", status.message()))
            }
            _ => MetastoreError::Unavailable(format!(
                "etcd: {:?}: {}",
                status.code(),
                status.message()
            )),
        },
        E::TransportError(e) => MetastoreError::Unavailable(format!("etcd transport: {e}")),
        E::IoError(e) => MetastoreError::Unavailable(format!("etcd io: {e}")),
        E::WatchError(e) => MetastoreError::Unavailable(format!("etcd watch: {e}")),
        other => MetastoreError::Internal(other.to_string()),
    }
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: kv
            .key_str()
            .map_err(|e| MetastoreError::Internal(format!("non-UTF-8 key: {e}")))?
            .to_string(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

#[async_trait]
impl MetadataStore for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let mut kv = self.client.kv_client();
        let resp = self.timed("a get", kv.get(key, None)).await?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<Listing> {
        let mut kv = self.client.kv_client();
        let end = prefix_end(prefix);
        let mut start = prefix.as_bytes().to_vec();
        let mut listing = Listing::default();
        loop {
            let mut options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(LIST_PAGE);
            if listing.revision > 0 {
                options = options.with_revision(listing.revision);
            }
            let resp = self
                .timed("a list", kv.get(start.clone(), Some(options)))
                .await?;
            if listing.revision == 0 {
                listing.revision = resp.header().map(|h| h.revision()).unwrap_or_default();
            }
            for item in resp.kvs() {
                listing.kvs.push(to_kv(item)?);
            }
            match (resp.more(), resp.kvs().last()) {
                (true, Some(last)) => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => return Ok(listing),
            }
        }
    }

    async fn txn(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<Revision> {
        let compares: Vec<Compare> = conditions
            .into_iter()
            .map(|c| match c {
                Condition::ModRevision { key, revision } => {
                    Compare::mod_revision(key, CompareOp::Equal, revision)
                }
                // Every key in the range must satisfy the comparison; an
                // empty range compares as a key at revision 0 (true).
                Condition::PrefixUnchangedSince { prefix, revision } => {
                    Compare::mod_revision(prefix.clone(), CompareOp::Less, revision + 1)
                        .with_range(prefix_end(&prefix))
                }
            })
            .collect();
        let ops: Vec<TxnOp> = ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value } => TxnOp::put(key, value, None),
                Op::Delete { key } => TxnOp::delete(key, None),
            })
            .collect();
        let mut kv = self.client.kv_client();
        let resp = self
            .timed(
                "a transaction",
                kv.txn(Txn::new().when(compares).and_then(ops)),
            )
            .await?;
        if !resp.succeeded() {
            return Err(MetastoreError::Conflict);
        }
        Ok(resp.header().map(|h| h.revision()).unwrap_or_default())
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<WatchStream> {
        let mut watch = self.client.watch_client();
        let options = WatchOptions::new()
            .with_range(prefix_end(prefix))
            .with_start_revision(start_revision.max(1));
        let stream = self
            .timed("a watch", watch.watch(prefix, Some(options)))
            .await?;
        let events = stream
            .map(|resp| -> Vec<Result<WatchEvent>> {
                let resp = match resp {
                    Ok(resp) => resp,
                    Err(e) => return vec![Err(map_err(e))],
                };
                if resp.canceled() {
                    let err = if resp.compact_revision() > 0 {
                        MetastoreError::Compacted {
                            compact_revision: resp.compact_revision(),
                        }
                    } else {
                        MetastoreError::Unavailable(format!(
                            "etcd canceled the watch: {}",
                            resp.cancel_reason()
                        ))
                    };
                    return vec![Err(err)];
                }
                resp.events()
                    .iter()
                    .filter_map(|event| {
                        let kv = event.kv()?;
                        Some(match event.event_type() {
                            EventType::Put => to_kv(kv).map(WatchEvent::Put),
                            EventType::Delete => to_kv(kv).map(|kv| WatchEvent::Delete {
                                key: kv.key,
                                mod_revision: kv.mod_revision,
                            }),
                        })
                    })
                    .collect()
            })
            .flat_map(futures::stream::iter)
            .chain(futures::stream::once(async {
                Err(MetastoreError::Unavailable("etcd closed the watch".into()))
            }));
        Ok(stop_after_error(events))
    }

    async fn current_revision(&self) -> Result<Revision> {
        let mut kv = self.client.kv_client();
        // Any read returns the store revision in its header.
        let resp = self
            .timed(
                "a revision read",
                kv.get("\0", Some(GetOptions::new().with_count_only())),
            )
            .await?;
        Ok(resp.header().map(|h| h.revision()).unwrap_or_default())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut kv = self.client.kv_client();
        self.timed("a compaction", kv.compact(revision, None))
            .await
            .map(|_| ())
    }
}
