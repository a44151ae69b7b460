//! Typed access to catalog objects in the metadata store.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};

use featurestore_catalog::Keyspace;
use featurestore_metastore::{Condition, MetadataStore, Op, Revision};
use prost::Message;

use crate::error::{RegistryError, Result};

/// A stored object and the revision it was last changed at.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub object: T,
    pub revision: Revision,
}

/// How often a change is retried when a concurrent change to what it read
/// made its transaction fail.
const MAX_ATTEMPTS: usize = 10;

#[derive(Clone)]
pub struct CatalogStore {
    pub(crate) store: Arc<dyn MetadataStore>,
    pub(crate) keys: Keyspace,
}

impl CatalogStore {
    pub fn new(store: Arc<dyn MetadataStore>, keys: Keyspace) -> Self {
        Self { store, keys }
    }

    pub async fn get<T: Message + Default>(&self, key: &str) -> Result<Option<Stored<T>>> {
        let Some(kv) = self.store.get(key).await? else {
            return Ok(None);
        };
        let object = T::decode(kv.value.as_slice()).map_err(|e| {
            RegistryError::Store(featurestore_metastore::MetastoreError::Internal(format!(
                "cannot decode {key}: {e}"
            )))
        })?;
        Ok(Some(Stored {
            object,
            revision: kv.mod_revision,
        }))
    }

    /// Every object under `prefix`, in key order.
    pub async fn list<T: Message + Default>(&self, prefix: &str) -> Result<Vec<Stored<T>>> {
        Ok(self.list_at(prefix).await?.0)
    }

    /// Every object under `prefix` and the revision of the listing, for a
    /// [`Condition::PrefixUnchangedSince`] guarding a decision made on it.
    pub async fn list_at<T: Message + Default>(
        &self,
        prefix: &str,
    ) -> Result<(Vec<Stored<T>>, Revision)> {
        let listing = self.store.list(prefix).await?;
        let mut out = Vec::with_capacity(listing.kvs.len());
        for kv in listing.kvs {
            match T::decode(kv.value.as_slice()) {
                Ok(object) => out.push(Stored {
                    object,
                    revision: kv.mod_revision,
                }),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping undecodable catalog entry")
                }
            }
        }
        Ok((out, listing.revision))
    }

    pub async fn commit(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<Revision> {
        Ok(self.store.txn(conditions, ops).await?)
    }
}

/// Runs `attempt` again while it fails with a store conflict (each attempt
/// re-reads what it needs, so a lost race becomes the right error, such as
/// ALREADY_EXISTS, or succeeds on fresh data).
pub async fn retry_on_conflict<T, F, Fut>(what: &'static str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(100))
        .with_max_times(MAX_ATTEMPTS)
        .with_jitter()
        .build();
    loop {
        match attempt().await {
            Err(e) if e.is_conflict() => {
                crate::metrics::conflict(what);
                match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => break,
                }
            }
            other => return other,
        }
    }
    Err(RegistryError::Aborted(format!(
        "{what}: what it depends on kept changing concurrently; retry"
    )))
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// Checks an explicit `expected_revision` (0 = none) against the stored one.
pub fn check_expected(what: &str, expected: Revision, stored: Revision) -> Result<()> {
    if expected != 0 && expected != stored {
        return Err(RegistryError::Aborted(format!(
            "{what} changed since revision {expected} (now at {stored}); re-read and retry"
        )));
    }
    Ok(())
}

/// What the version rules say about one kind of versioned object.
pub struct VersionedKind {
    /// "feature group", "feature view".
    pub label: &'static str,
    /// The request field holding the version.
    pub field: &'static str,
    /// How to make a changed definition, told when the name already exists.
    pub on_exists: &'static str,
}

impl VersionedKind {
    /// The version a create request gets: 1 for a new name (asked as 0 or
    /// 1), otherwise exactly latest + 1 when asked for explicitly.
    pub fn next_version(&self, name: &str, requested: u32, latest: u32) -> Result<u32> {
        match (requested, latest) {
            (0 | 1, 0) => Ok(1),
            (0, latest) => Err(RegistryError::AlreadyExists(format!(
                "{} {name:?} (latest version {latest}); {} (version {})",
                self.label,
                self.on_exists,
                latest + 1
            ))),
            (v, latest) if v <= latest => Err(RegistryError::AlreadyExists(format!(
                "{} {name:?} version {v}",
                self.label
            ))),
            (v, latest) if v != latest + 1 => Err(RegistryError::invalid(
                self.field,
                format!("the next version of {name:?} is {}, not {v}", latest + 1),
            )),
            (v, _) => Ok(v),
        }
    }

    pub fn not_found(&self, project: &str, name: &str, version: u32) -> RegistryError {
        let which = if version == 0 {
            String::new()
        } else {
            format!(" version {version}")
        };
        RegistryError::NotFound(format!(
            "{} {name:?}{which} in project {project:?}",
            self.label
        ))
    }
}

impl CatalogStore {
    /// A version of a versioned object (`key(version)` under
    /// `versions_prefix`); version 0 = the latest.
    pub async fn versioned<T: Message + Default>(
        &self,
        versions_prefix: &str,
        key: &str,
        version: u32,
    ) -> Result<Option<Stored<T>>> {
        if version == 0 {
            Ok(self.list(versions_prefix).await?.pop())
        } else {
            self.get(key).await
        }
    }
}
