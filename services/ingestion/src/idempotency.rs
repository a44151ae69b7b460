//! Idempotency keys: a request that carries one is answered at most once
//! per window; a retry with the same key (and the same request) gets the
//! first answer and writes nothing.
//!
//! The record lives in the metadata store (etcd, or the embedded store), so
//! every ingestion replica and a restarted one see it; outside the catalog's
//! prefix, so catalog watchers never see it:
//! `<root>.idempotency/<project>/<xxh3-128 of the key>` →
//! [`IdempotencyRecord`]. A first attempt claims the key (put if absent, or
//! over an expired record) before it appends; it records the answer after
//! the append, or releases the key when the append failed, so a retry runs
//! again. While a claim is fresh, a concurrent attempt with the key is
//! answered ABORTED ("in progress").
//!
//! A keyed append runs to its end on its own task even when the caller's
//! deadline passed, so its claim is completed or released once the log
//! knows whether the append is in (a retry meanwhile is ABORTED, "in
//! progress"). The window this leaves: an ingestion process that dies
//! after its append committed but before it recorded the answer (or a
//! Kafka commit whose fate stayed unknown past the resolve window) leaves a
//! claim nobody completes; once it is stale (longer than any append can
//! take) a retry takes it over and writes again.

use std::time::Duration;

use featurestore_catalog::Keyspace;
use featurestore_eventlog::KAFKA_COMMIT_RESOLVE_WINDOW;
use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op, Revision};
use featurestore_proto::v1::{IdempotencyRecord, IngestResponse};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::error::IngestionError;

/// Longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencySettings {
    /// How long a key's answer is kept: a retry within it writes nothing.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
        }
    }
}

/// Claims, completes and releases keys in the metadata store.
pub struct Idempotency {
    store: std::sync::Arc<dyn MetadataStore>,
    root: String,
    window: Duration,
    /// A claim older than this belongs to an attempt that died.
    stale_after: Duration,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("root", &self.root)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// This attempt owns the key (at this revision): append, then
    /// [`Idempotency::complete`] or [`Idempotency::release`].
    Owned { key: String, revision: Revision },
    /// An earlier attempt with the same request was answered.
    Answered(IngestResponse),
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The fingerprint of a request's content (what a retry must repeat).
pub fn fingerprint(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest128().to_le_bytes().to_vec()
}

/// Checks a key's shape (before anything is claimed).
pub fn validate_key(field: &str, key: &str) -> Result<(), IngestionError> {
    if key.len() > MAX_KEY_LEN {
        return Err(IngestionError::invalid(
            field,
            format!("is {} bytes long; at most {MAX_KEY_LEN}", key.len()),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(IngestionError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl Idempotency {
    /// `append_timeout` bounds one append; an append whose commit an
    /// outage interrupted learns its fate within
    /// [`KAFKA_COMMIT_RESOLVE_WINDOW`] after it, so claims older than both
    /// plus a minute are stale.
    pub fn new(
        store: std::sync::Arc<dyn MetadataStore>,
        keys: &Keyspace,
        settings: &IdempotencySettings,
        append_timeout: Duration,
    ) -> Self {
        Self {
            store,
            root: format!("{}.idempotency/", keys.root_prefix().trim_end_matches('/')),
            window: settings.window,
            stale_after: append_timeout + KAFKA_COMMIT_RESOLVE_WINDOW + Duration::from_secs(60),
        }
    }

    fn key(&self, project: &str, key: &str) -> String {
        let hash = xxhash_rust::xxh3::xxh3_128(key.as_bytes());
        format!("{}{project}/{hash:032x}", self.root)
    }

    /// Claims `key` for a request with `fingerprint`, or finds its answer.
    pub async fn claim(
        &self,
        project: &str,
        key: &str,
        fingerprint: &[u8],
    ) -> Result<Claim, IngestionError> {
        let path = self.key(project, key);
        loop {
            let now = now_micros();
            let found = self.store.get(&path).await.map_err(unavailable)?;
            let seen = match &found {
                None => 0,
                Some(kv) => {
                    let record = IdempotencyRecord::decode(kv.value.as_slice()).map_err(|e| {
                        IngestionError::Internal(format!("idempotency record {path}: {e}"))
                    })?;
                    let expired = record.created_micros + micros(self.window) <= now;
                    let stale = record.response.is_none()
                        && record.created_micros + micros(self.stale_after) <= now;
                    if !(expired || stale) {
                        if record.request_fingerprint != fingerprint {
                            return Err(IngestionError::invalid(
                                "idempotency_key",
                                "was used for a different request within the idempotency window",
                            ));
                        }
                        return match record.response {
                            Some(response) => Ok(Claim::Answered(response)),
                            None => Err(IngestionError::InProgress(
                                "a request with this idempotency_key is in progress; retry later"
                                    .into(),
                            )),
                        };
                    }
                    kv.mod_revision
                }
            };
            let record = IdempotencyRecord {
                request_fingerprint: fingerprint.to_vec(),
                created_micros: now,
                response: None,
            };
            match self
                .store
                .txn(
                    vec![Condition::at(path.clone(), seen)],
                    vec![Op::put(path.clone(), record.encode_to_vec())],
                )
                .await
            {
                Ok(revision) => {
                    return Ok(Claim::Owned {
                        key: path,
                        revision,
                    });
                }
                // Another attempt claimed it meanwhile: look again.
                Err(MetastoreError::Conflict) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// Records the answer of an owned claim.
    pub async fn complete(
        &self,
        key: &str,
        revision: Revision,
        fingerprint: &[u8],
        response: &IngestResponse,
    ) {
        let record = IdempotencyRecord {
            request_fingerprint: fingerprint.to_vec(),
            created_micros: now_micros(),
            response: Some(response.clone()),
        };
        if let Err(e) = self
            .store
            .txn(
                vec![Condition::at(key, revision)],
                vec![Op::put(key, record.encode_to_vec())],
            )
            .await
        {
            tracing::warn!(key, error = %e, "could not record an idempotent answer; a retry of this request will wait for the claim to go stale");
        }
    }

    /// Gives up an owned claim (the append failed: a retry runs again).
    pub async fn release(&self, key: &str, revision: Revision) {
        if let Err(e) = self
            .store
            .txn(vec![Condition::at(key, revision)], vec![Op::delete(key)])
            .await
        {
            tracing::warn!(key, error = %e, "could not release an idempotency claim; a retry will wait for it to go stale");
        }
    }

    /// Deletes expired records (run periodically).
    pub async fn sweep(&self) -> Result<usize, MetastoreError> {
        let listing = self.store.list(&self.root).await?;
        let now = now_micros();
        let mut deleted = 0;
        for kv in listing.kvs {
            let Ok(record) = IdempotencyRecord::decode(kv.value.as_slice()) else {
                continue;
            };
            if record.created_micros + micros(self.window) <= now {
                match self
                    .store
                    .txn(
                        vec![Condition::at(kv.key.clone(), kv.mod_revision)],
                        vec![Op::delete(kv.key)],
                    )
                    .await
                {
                    Ok(_) => deleted += 1,
                    Err(MetastoreError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(deleted)
    }
}

fn unavailable(e: MetastoreError) -> IngestionError {
    IngestionError::Unavailable(format!(
        "idempotency keys need the metadata store, which did not answer: {e}"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use featurestore_metastore::MemoryStore;

    use super::*;

    fn idempotency(window: Duration) -> Idempotency {
        Idempotency::new(
            Arc::new(MemoryStore::new()),
            &Keyspace::new("/t"),
            &IdempotencySettings { window },
            Duration::from_secs(1),
        )
    }

    fn answer(rows: u64) -> IngestResponse {
        IngestResponse {
            write_token: Vec::new(),
            written: None,
            rows_accepted: rows,
            group_version: 1,
        }
    }

    #[tokio::test]
    async fn a_key_is_answered_once_and_refuses_another_request() {
        let keys = idempotency(Duration::from_secs(3600));
        let Claim::Owned { key, revision } = keys.claim("p", "k", b"one").await.unwrap() else {
            panic!("first claim owns the key");
        };
        let running = keys.claim("p", "k", b"one").await.unwrap_err();
        assert!(
            matches!(running, IngestionError::InProgress(_)),
            "{running}"
        );
        keys.complete(&key, revision, b"one", &answer(7)).await;
        match keys.claim("p", "k", b"one").await.unwrap() {
            Claim::Answered(r) => assert_eq!(r, answer(7)),
            other => panic!("{other:?}"),
        }
        let other = keys.claim("p", "k", b"two").await.unwrap_err();
        assert!(other.to_string().contains("idempotency_key"), "{other}");
        // Keys are per project.
        assert!(matches!(
            keys.claim("q", "k", b"two").await.unwrap(),
            Claim::Owned { .. }
        ));
    }

    #[tokio::test]
    async fn a_released_key_runs_again() {
        let keys = idempotency(Duration::from_secs(3600));
        let Claim::Owned { key, revision } = keys.claim("p", "k", b"one").await.unwrap() else {
            panic!("owned");
        };
        keys.release(&key, revision).await;
        assert!(matches!(
            keys.claim("p", "k", b"one").await.unwrap(),
            Claim::Owned { .. }
        ));
    }

    #[tokio::test]
    async fn expired_answers_are_swept_and_the_key_is_free_again() {
        let keys = idempotency(Duration::from_millis(50));
        let Claim::Owned { key, revision } = keys.claim("p", "k", b"one").await.unwrap() else {
            panic!("owned");
        };
        keys.complete(&key, revision, b"one", &answer(1)).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(keys.sweep().await.unwrap(), 1);
        assert!(matches!(
            keys.claim("p", "k", b"two").await.unwrap(),
            Claim::Owned { .. }
        ));
    }

    #[test]
    fn malformed_keys_name_the_field() {
        let long = "x".repeat(MAX_KEY_LEN + 1);
        let err = validate_key("idempotency_key", &long).unwrap_err();
        assert!(err.to_string().contains("idempotency_key"), "{err}");
        assert!(validate_key("idempotency_key", "a\nb").is_err());
        assert!(validate_key("idempotency_key", "order-42").is_ok());
    }
}
