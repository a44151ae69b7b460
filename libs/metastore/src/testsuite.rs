//! The conformance suite every [`MetadataStore`] implementation must pass.
//! Each case works under its own key prefix, so cases run in parallel
//! against one shared server.
//!
//! ```ignore
//! async fn make_store() -> std::sync::Arc<dyn MetadataStore> { ... }
//! featurestore_metastore::metastore_conformance_tests!(make_store);
//! ```

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::StreamExt;

use crate::{Condition, MetadataStore, MetastoreError, Op, WatchEvent, WatchStream};

/// Compaction discards history for the whole store; cases that watch old
/// revisions hold this for reading, the compaction case for writing.
pub static HISTORY_LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A prefix no other test (in this or another process) uses.
pub fn unique_prefix(case: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "/fs-test/{}-{}-{}-{}/{case}/",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed),
        case
    )
}

/// Generates one `#[tokio::test]` per conformance case. `$make` is an async
/// fn returning something that derefs to a [`MetadataStore`].
#[macro_export]
macro_rules! metastore_conformance_tests {
    ($make:path) => {
        $crate::metastore_conformance_tests!(@cases $make;
            create_if_absent_conflicts_the_second_time,
            compare_and_set_follows_mod_revision,
            racing_updates_exactly_one_wins,
            multi_key_transactions_are_atomic,
            prefix_condition_detects_later_writes,
            conditional_delete,
            list_is_sorted_scoped_and_paged,
            watch_sees_later_changes_in_order,
            watch_replays_history_from_a_revision,
            watch_from_compacted_revision_fails,
            revision_advances_per_transaction
        );
    };
    (@cases $make:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make().await;
                let prefix = $crate::testsuite::unique_prefix(stringify!($case));
                $crate::testsuite::$case(&*store, &prefix).await;
            }
        )*
    };
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("watch delivered nothing within 10s")
        .expect("watch ended")
        .expect("watch failed")
}

pub async fn create_if_absent_conflicts_the_second_time(store: &dyn MetadataStore, p: &str) {
    let key = format!("{p}a");
    let rev = store
        .txn(
            vec![Condition::absent(&key)],
            vec![Op::put(&key, b"1".to_vec())],
        )
        .await
        .unwrap();
    let kv = store.get(&key).await.unwrap().expect("written");
    assert_eq!(kv.value, b"1");
    assert_eq!(kv.mod_revision, rev);
    assert_eq!(kv.create_revision, rev);
    let err = store
        .txn(
            vec![Condition::absent(&key)],
            vec![Op::put(&key, b"2".to_vec())],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetastoreError::Conflict), "{err}");
    assert_eq!(store.get(&key).await.unwrap().unwrap().value, b"1");
    assert!(store.get(&format!("{p}missing")).await.unwrap().is_none());
}

pub async fn compare_and_set_follows_mod_revision(store: &dyn MetadataStore, p: &str) {
    let key = format!("{p}k");
    let r1 = store
        .txn(
            vec![Condition::absent(&key)],
            vec![Op::put(&key, b"v1".to_vec())],
        )
        .await
        .unwrap();
    let r2 = store
        .txn(
            vec![Condition::at(&key, r1)],
            vec![Op::put(&key, b"v2".to_vec())],
        )
        .await
        .unwrap();
    assert!(r2 > r1);
    let stale = store
        .txn(
            vec![Condition::at(&key, r1)],
            vec![Op::put(&key, b"v3".to_vec())],
        )
        .await;
    assert!(matches!(stale, Err(MetastoreError::Conflict)));
    let kv = store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.create_revision),
        (&b"v2"[..], r2, r1)
    );
}

pub async fn racing_updates_exactly_one_wins(store: &dyn MetadataStore, p: &str) {
    let key = format!("{p}race");
    let base = store
        .txn(
            vec![Condition::absent(&key)],
            vec![Op::put(&key, b"0".to_vec())],
        )
        .await
        .unwrap();
    let attempts = (0..8).map(|i| {
        let key = key.clone();
        async move {
            store
                .txn(
                    vec![Condition::at(&key, base)],
                    vec![Op::put(&key, vec![i])],
                )
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one racer wins: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, MetastoreError::Conflict), "{e}");
        }
    }
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().value,
        vec![winners[0] as u8]
    );
}

pub async fn multi_key_transactions_are_atomic(store: &dyn MetadataStore, p: &str) {
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let rev = store
        .txn(
            vec![Condition::absent(&a), Condition::absent(&b)],
            vec![Op::put(&a, b"a".to_vec()), Op::put(&b, b"b".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(store.get(&a).await.unwrap().unwrap().mod_revision, rev);
    assert_eq!(store.get(&b).await.unwrap().unwrap().mod_revision, rev);
    // One failing condition: nothing of the transaction is applied.
    let err = store
        .txn(
            vec![Condition::at(&a, rev), Condition::absent(&b)],
            vec![Op::put(&c, b"c".to_vec()), Op::delete(&a)],
        )
        .await;
    assert!(matches!(err, Err(MetastoreError::Conflict)));
    assert!(store.get(&c).await.unwrap().is_none());
    assert!(store.get(&a).await.unwrap().is_some());
}

pub async fn prefix_condition_detects_later_writes(store: &dyn MetadataStore, p: &str) {
    let dir = format!("{p}dir/");
    let target = format!("{p}target");
    // An empty prefix holds.
    let since = store.list(&dir).await.unwrap().revision;
    store
        .txn(
            vec![Condition::prefix_unchanged_since(&dir, since)],
            vec![Op::put(&target, b"1".to_vec())],
        )
        .await
        .unwrap();
    let since = store.list(&dir).await.unwrap().revision;
    store
        .txn(vec![], vec![Op::put(format!("{dir}a"), vec![])])
        .await
        .unwrap();
    // A key written under the prefix after `since`: the condition fails.
    let failed = store
        .txn(
            vec![Condition::prefix_unchanged_since(&dir, since)],
            vec![Op::delete(&target)],
        )
        .await;
    assert!(
        matches!(failed, Err(MetastoreError::Conflict)),
        "{failed:?}"
    );
    assert!(store.get(&target).await.unwrap().is_some());
    // Read again: it holds, and writes outside the prefix do not matter.
    let since = store.list(&dir).await.unwrap().revision;
    store
        .txn(vec![], vec![Op::put(format!("{p}dirx"), vec![])])
        .await
        .unwrap();
    store
        .txn(
            vec![Condition::prefix_unchanged_since(&dir, since)],
            vec![Op::delete(&target)],
        )
        .await
        .unwrap();
    assert!(store.get(&target).await.unwrap().is_none());
}

pub async fn conditional_delete(store: &dyn MetadataStore, p: &str) {
    let key = format!("{p}d");
    let r1 = store
        .txn(vec![], vec![Op::put(&key, b"x".to_vec())])
        .await
        .unwrap();
    let r2 = store
        .txn(vec![], vec![Op::put(&key, b"y".to_vec())])
        .await
        .unwrap();
    let stale = store
        .txn(vec![Condition::at(&key, r1)], vec![Op::delete(&key)])
        .await;
    assert!(matches!(stale, Err(MetastoreError::Conflict)));
    store
        .txn(vec![Condition::at(&key, r2)], vec![Op::delete(&key)])
        .await
        .unwrap();
    assert!(store.get(&key).await.unwrap().is_none());
}

pub async fn list_is_sorted_scoped_and_paged(store: &dyn MetadataStore, p: &str) {
    // More keys than one etcd page (500), written 100 per transaction.
    let total = 1234usize;
    let keys: Vec<String> = (0..total).map(|i| format!("{p}items/{i:05}")).collect();
    for chunk in keys.chunks(100) {
        let ops = chunk
            .iter()
            .map(|k| Op::put(k, k.as_bytes().to_vec()))
            .collect();
        store.txn(vec![], ops).await.unwrap();
    }
    store
        .txn(
            vec![],
            vec![
                Op::put(format!("{p}itemsx"), vec![]),
                Op::put(format!("{p}other/1"), vec![]),
            ],
        )
        .await
        .unwrap();
    let listing = store.list(&format!("{p}items/")).await.unwrap();
    let listed: Vec<&str> = listing.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(listed, keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(listing.kvs.iter().all(|kv| kv.value == kv.key.as_bytes()));
    assert!(listing.revision >= listing.kvs.iter().map(|kv| kv.mod_revision).max().unwrap());
    assert!(
        store
            .list(&format!("{p}none/"))
            .await
            .unwrap()
            .kvs
            .is_empty()
    );
}

pub async fn watch_sees_later_changes_in_order(store: &dyn MetadataStore, p: &str) {
    let _history = HISTORY_LOCK.read().await;
    let start = store.list(p).await.unwrap().revision + 1;
    let mut watch = store.watch(&format!("{p}w/"), start).await.unwrap();
    let k1 = format!("{p}w/1");
    let r1 = store
        .txn(vec![], vec![Op::put(&k1, b"a".to_vec())])
        .await
        .unwrap();
    store
        .txn(vec![], vec![Op::put(format!("{p}elsewhere"), vec![])])
        .await
        .unwrap();
    let r2 = store.txn(vec![], vec![Op::delete(&k1)]).await.unwrap();
    match next_event(&mut watch).await {
        WatchEvent::Put(kv) => assert_eq!(
            (kv.key.as_str(), kv.value.as_slice(), kv.mod_revision),
            (k1.as_str(), &b"a"[..], r1)
        ),
        other => panic!("expected put, got {other:?}"),
    }
    assert_eq!(
        next_event(&mut watch).await,
        WatchEvent::Delete {
            key: k1.clone(),
            mod_revision: r2
        }
    );
}

pub async fn watch_replays_history_from_a_revision(store: &dyn MetadataStore, p: &str) {
    let _history = HISTORY_LOCK.read().await;
    let k = format!("{p}h");
    let r1 = store
        .txn(vec![], vec![Op::put(&k, b"1".to_vec())])
        .await
        .unwrap();
    let r2 = store
        .txn(vec![], vec![Op::put(&k, b"2".to_vec())])
        .await
        .unwrap();
    let mut watch = store.watch(p, r1).await.unwrap();
    let revs = [
        next_event(&mut watch).await.revision(),
        next_event(&mut watch).await.revision(),
    ];
    assert_eq!(revs, [r1, r2]);
    let mut later = store.watch(p, r2).await.unwrap();
    assert_eq!(next_event(&mut later).await.revision(), r2);
}

pub async fn watch_from_compacted_revision_fails(store: &dyn MetadataStore, p: &str) {
    let _history = HISTORY_LOCK.write().await;
    let k = format!("{p}c");
    let r1 = store
        .txn(vec![], vec![Op::put(&k, b"1".to_vec())])
        .await
        .unwrap();
    let r2 = store
        .txn(vec![], vec![Op::put(&k, b"2".to_vec())])
        .await
        .unwrap();
    store.compact(r2).await.unwrap();
    let failed = match store.watch(p, r1).await {
        Err(e) => e,
        Ok(mut stream) => tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("compacted watch answered nothing")
            .expect("compacted watch ended without an error")
            .expect_err("compacted revision must not be replayed"),
    };
    assert!(
        matches!(failed, MetastoreError::Compacted { compact_revision } if compact_revision == r2),
        "{failed}"
    );
    // Watching from the compaction revision itself still works.
    let mut watch = store.watch(p, r2).await.unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), r2);
}

pub async fn revision_advances_per_transaction(store: &dyn MetadataStore, p: &str) {
    let before = store.current_revision().await.unwrap();
    let rev = store
        .txn(
            vec![],
            vec![
                Op::put(format!("{p}x"), vec![]),
                Op::put(format!("{p}y"), vec![]),
            ],
        )
        .await
        .unwrap();
    assert!(rev > before);
    assert!(store.current_revision().await.unwrap() >= rev);
    let failed = store
        .txn(
            vec![Condition::absent(format!("{p}x"))],
            vec![Op::put(format!("{p}z"), vec![])],
        )
        .await;
    assert!(failed.is_err());
}
