//! The online-store conformance suite against the embedded store of
//! standalone mode, and its durability across a restart.

use featurestore_onlinestore::{OnlineRow, OnlineStore, RedbOnlineStore, testsuite::table};
use featurestore_proto::v1::{Value, value::Kind};

/// The store and its directory, removed when the case ends.
struct Embedded {
    store: RedbOnlineStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Embedded {
    type Target = RedbOnlineStore;
    fn deref(&self) -> &RedbOnlineStore {
        &self.store
    }
}

async fn make_store() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbOnlineStore::open(&dir.path().join("online.redb")).unwrap();
    Embedded { store, _dir: dir }
}

featurestore_onlinestore::onlinestore_conformance_tests!(make_store);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_added_columns_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("online.redb");
    let mut t = table(&[("x", "int64")], 0);
    let value = |i| Value {
        kind: Some(Kind::Int64Value(i)),
    };
    {
        let store = RedbOnlineStore::open(&path).unwrap();
        store.ensure_table(&t).await.unwrap();
        store
            .upsert(
                &t,
                &[OnlineRow {
                    entity_key: b"k".to_vec(),
                    event_time_micros: 10,
                    values: vec![value(1)],
                }],
            )
            .await
            .unwrap();
        t.features.push((
            "y".into(),
            featurestore_domain::types::parse_type("int64").unwrap(),
        ));
        store.ensure_table(&t).await.unwrap();
    }
    let store = RedbOnlineStore::open(&path).unwrap();
    let row = store
        .get(&t, &[b"k".to_vec()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(row.event_time_micros, 10);
    assert_eq!(
        row.values,
        vec![
            value(1),
            Value {
                kind: Some(Kind::NullValue(0))
            }
        ]
    );
    // An older event after the restart still loses.
    store
        .upsert(
            &t,
            &[OnlineRow {
                entity_key: b"k".to_vec(),
                event_time_micros: 5,
                values: vec![value(0), value(0)],
            }],
        )
        .await
        .unwrap();
    let row = store
        .get(&t, &[b"k".to_vec()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(row.event_time_micros, 10);
}

#[tokio::test]
async fn reading_a_table_never_ensured_is_unknown_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbOnlineStore::open(&dir.path().join("online.redb")).unwrap();
    let error = store
        .get(&table(&[("x", "int64")], 0), &[b"k".to_vec()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            featurestore_onlinestore::OnlineStoreError::UnknownTable(_)
        ),
        "{error}"
    );
}
