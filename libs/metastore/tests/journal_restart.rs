//! A journaled store comes back after a restart with every acknowledged
//! write, its revisions and the history a watch replays.

use futures::StreamExt;

use featurestore_metastore::{
    Condition, MemoryStore, MetadataStore, MetastoreError, Op, WatchEvent,
};

#[tokio::test]
async fn a_reopened_store_has_the_keys_revisions_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.redb");
    let (first, second, third) = {
        let store = MemoryStore::open(&path).unwrap();
        let first = store
            .txn(
                vec![Condition::absent("/p/a")],
                vec![Op::put("/p/a", b"1".to_vec())],
            )
            .await
            .unwrap();
        let second = store
            .txn(
                vec![Condition::at("/p/a", first)],
                vec![
                    Op::put("/p/a", b"2".to_vec()),
                    Op::put("/p/b", b"x".to_vec()),
                ],
            )
            .await
            .unwrap();
        let third = store.txn(vec![], vec![Op::delete("/p/b")]).await.unwrap();
        (first, second, third)
    };

    let store = MemoryStore::open(&path).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), third);
    let a = store.get("/p/a").await.unwrap().unwrap();
    assert_eq!(
        (a.value.as_slice(), a.create_revision, a.mod_revision),
        (&b"2"[..], first, second)
    );
    assert_eq!(store.get("/p/b").await.unwrap(), None);
    // Compare-and-set continues from the stored revisions.
    assert!(matches!(
        store
            .txn(
                vec![Condition::at("/p/a", first)],
                vec![Op::put("/p/a", b"3".to_vec())]
            )
            .await,
        Err(MetastoreError::Conflict)
    ));
    // A watch from the first revision replays the history written before the restart.
    let mut watch = store.watch("/p/", first).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = watch.next().await.unwrap().unwrap();
        seen.push((
            event.key().to_string(),
            event.revision(),
            matches!(event, WatchEvent::Put(_)),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("/p/a".to_string(), first, true),
            ("/p/a".to_string(), second, true),
            ("/p/b".to_string(), second, true),
            ("/p/b".to_string(), third, false),
        ]
    );
    // Compaction is durable too.
    store.compact(second).await.unwrap();
    drop(watch);
    drop(store);
    let store = MemoryStore::open(&path).unwrap();
    assert!(matches!(
        store.watch("/p/", first).await.err(),
        Some(MetastoreError::Compacted { .. })
    ));
    // History after the compaction point is still there.
    let mut watch = store.watch("/p/", second).await.unwrap();
    let mut revisions = Vec::new();
    for _ in 0..3 {
        revisions.push(watch.next().await.unwrap().unwrap().revision());
    }
    assert_eq!(revisions, vec![second, second, third]);
    drop(watch);
    let next = store
        .txn(vec![], vec![Op::put("/p/c", vec![])])
        .await
        .unwrap();
    assert_eq!(next, third + 1, "revisions continue after a restart");
}

#[tokio::test]
async fn a_file_that_is_not_a_journal_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.redb");
    let garbage = b"this is not a redb file, it is someone's notes".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let error = MemoryStore::open(&path).expect_err("refused");
    assert!(error.to_string().contains("metadata journal"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "not overwritten");
}
