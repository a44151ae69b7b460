//! The Delta offline store on a local directory: tables are created and
//! evolve with their group, every type round-trips, and replays of consumed
//! offsets never append twice.

use arrow_array::{Array, RecordBatch, cast::AsArray, types::Int64Type};
use featurestore_domain::types::parse_type;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{self as pb, ScalarType, Value, value::Kind};

fn table(features: &[(&str, &str)]) -> OfflineTable {
    OfflineTable {
        label: "shop/orders@1".into(),
        path: "shop/orders/v1".into(),
        keys: vec![
            ("customer_id".into(), ScalarType::Int64),
            ("country".into(), ScalarType::String),
        ],
        features: features
            .iter()
            .map(|(n, t)| ((*n).to_string(), parse_type(t).unwrap()))
            .collect(),
    }
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn row(partition: i32, offset: i64) -> OfflineRow {
    OfflineRow {
        key_values: vec![
            v(Kind::Int64Value(offset)),
            v(Kind::StringValue("de".into())),
        ],
        event_time_micros: 1_700_000_000_000_000 + offset,
        feature_values: vec![
            if offset % 2 == 0 {
                v(Kind::NullValue(0))
            } else {
                v(Kind::Float64Value(offset as f64))
            },
            v(Kind::Float32List(pb::Float32List {
                values: vec![offset as f32, 0.5],
            })),
        ],
        ingest_time_micros: 1,
        partition,
        offset,
    }
}

async fn read_all(store: &DeltaStore, t: &OfflineTable) -> Vec<RecordBatch> {
    store.scan(t).await.unwrap()
}

fn offsets(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("_source_offset")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn replays_never_append_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    let t = table(&[("amount", "float64"), ("embedding", "list<float32>")]);
    store.ensure_table(&t).await.unwrap();
    store.ensure_table(&t).await.unwrap();

    let first: Vec<OfflineRow> = (0..10).map(|o| row(0, o)).collect();
    let outcome = store.append(&t, "mat", "topic", &first).await.unwrap();
    assert_eq!((outcome.appended, outcome.skipped), (10, 0));
    // The same batch again (a crash before the Kafka commit): nothing new.
    let replay = store.append(&t, "mat", "topic", &first).await.unwrap();
    assert_eq!(
        (replay.appended, replay.skipped, replay.version),
        (0, 10, None)
    );
    // An overlapping batch: only the new part.
    let overlap: Vec<OfflineRow> = (5..15).map(|o| row(0, o)).collect();
    let outcome = store.append(&t, "mat", "topic", &overlap).await.unwrap();
    assert_eq!((outcome.appended, outcome.skipped), (5, 5));
    assert_eq!(
        store.committed_offset(&t, "mat", "topic", 0).await.unwrap(),
        Some(15)
    );
    assert_eq!(
        store.committed_offset(&t, "mat", "topic", 1).await.unwrap(),
        None
    );
    // Partitions are tracked apart.
    let other: Vec<OfflineRow> = (0..3).map(|o| row(1, 100 + o)).collect();
    assert_eq!(
        store
            .append(&t, "mat", "topic", &other)
            .await
            .unwrap()
            .appended,
        3
    );

    // A fresh store (another process) sees the same positions.
    let again = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(
        again.committed_offset(&t, "mat", "topic", 1).await.unwrap(),
        Some(103)
    );
    assert_eq!(
        again
            .append(&t, "mat", "topic", &first)
            .await
            .unwrap()
            .appended,
        0
    );

    let batches = read_all(&store, &t).await;
    let mut want: Vec<i64> = (0..15).chain(100..103).collect();
    want.sort();
    assert_eq!(
        offsets(&batches),
        want,
        "every consumed offset exactly once"
    );
}

#[tokio::test]
async fn a_record_delivered_twice_in_one_batch_is_appended_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    let t = table(&[("amount", "float64"), ("embedding", "list<float32>")]);
    store.ensure_table(&t).await.unwrap();
    // A consumer-group rebalance gave partition 0 back before the commit:
    // offsets 0..5 were delivered again after 0..8 of partition 0.
    let rows: Vec<OfflineRow> = (0..8)
        .map(|o| row(0, o))
        .chain((0..3).map(|o| row(1, o)))
        .chain((0..5).map(|o| row(0, o)))
        .collect();
    let outcome = store.append(&t, "mat", "topic", &rows).await.unwrap();
    assert_eq!((outcome.appended, outcome.skipped), (11, 5));
    let batches = read_all(&store, &t).await;
    let mut want: Vec<i64> = (0..8).chain(0..3).collect();
    want.sort();
    assert_eq!(offsets(&batches), want, "each (partition, offset) once");
    assert_eq!(store.row_count(&t).await.unwrap(), 11);
}

#[tokio::test]
async fn values_round_trip_and_tables_gain_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    let mut t = table(&[("amount", "float64"), ("embedding", "list<float32>")]);
    store.ensure_table(&t).await.unwrap();
    store
        .append(&t, "mat", "topic", &[row(0, 1), row(0, 2)])
        .await
        .unwrap();

    t.features
        .push(("tags".into(), parse_type("list<string>").unwrap()));
    store.ensure_table(&t).await.unwrap();
    let mut newer = row(0, 3);
    newer
        .feature_values
        .push(v(Kind::StringList(pb::StringList {
            values: vec!["a".into()],
        })));
    store.append(&t, "mat", "topic", &[newer]).await.unwrap();

    let batches = read_all(&store, &t).await;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
    for batch in &batches {
        let offsets = batch
            .column_by_name("_source_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        let amount = batch
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        let embedding = batch.column_by_name("embedding").unwrap().as_list::<i32>();
        let tags = batch.column_by_name("tags");
        for i in 0..batch.num_rows() {
            let offset = offsets.value(i);
            assert_eq!(
                amount.is_null(i),
                offset % 2 == 0,
                "explicit nulls stay null"
            );
            let items = embedding.value(i);
            let items = items.as_primitive::<arrow_array::types::Float32Type>();
            assert_eq!(items.values().to_vec(), vec![offset as f32, 0.5]);
            match (offset, tags) {
                (3, Some(tags)) => assert_eq!(
                    tags.as_list::<i32>().value(i).as_string::<i32>().value(0),
                    "a"
                ),
                (_, Some(tags)) => {
                    assert!(tags.is_null(i), "rows before the new feature read null")
                }
                (_, None) => assert!(offset < 3, "files written before the column lack it"),
            }
        }
    }
}

#[tokio::test]
async fn rows_that_do_not_fit_the_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    let t = table(&[("amount", "float64"), ("embedding", "list<float32>")]);
    store.ensure_table(&t).await.unwrap();
    let mut bad = row(0, 1);
    bad.feature_values[0] = v(Kind::StringValue("x".into()));
    let err = store.append(&t, "mat", "topic", &[bad]).await.unwrap_err();
    assert!(err.to_string().contains("amount"), "{err}");
    assert_eq!(
        store.committed_offset(&t, "mat", "topic", 0).await.unwrap(),
        None,
        "nothing committed"
    );
    let missing = table(&[("x", "int64")]);
    let mut other = missing.clone();
    other.path = "shop/none/v1".into();
    assert!(
        store
            .append(&other, "mat", "topic", &[row(0, 1)])
            .await
            .is_err()
    );
}

/// The offsets of every partition are read at once, and follow each new
/// commit — this store's or another process's — while answers between
/// commits come from the version already read.
#[tokio::test]
async fn committed_offsets_of_every_partition_follow_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let store = DeltaStore::new(root).unwrap();
    let t = table(&[("amount", "float64"), ("embedding", "list<float32>")]);
    store.ensure_table(&t).await.unwrap();
    let read = || store.committed_offsets(&t, "mat", "topic", 3);
    assert_eq!(read().await.unwrap(), [None, None, None]);
    let rows = |partition, offsets: std::ops::Range<i64>| -> Vec<OfflineRow> {
        offsets.map(|o| row(partition, o)).collect()
    };
    store
        .append(&t, "mat", "topic", &rows(0, 0..10))
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), [Some(10), None, None]);
    assert_eq!(read().await.unwrap(), [Some(10), None, None]);
    store
        .append(&t, "mat", "topic", &rows(2, 0..5))
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), [Some(10), None, Some(5)]);
    // Another consumer's positions are its own.
    assert_eq!(
        store
            .committed_offsets(&t, "other", "topic", 3)
            .await
            .unwrap(),
        [None, None, None]
    );
    // A commit by another process is seen too.
    let writer = DeltaStore::new(root).unwrap();
    writer
        .append(&t, "mat", "topic", &rows(1, 0..2))
        .await
        .unwrap();
    assert_eq!(read().await.unwrap(), [Some(10), Some(2), Some(5)]);
    assert_eq!(
        store.committed_offset(&t, "mat", "topic", 1).await.unwrap(),
        Some(2)
    );
}
