//! Aggregated features in training data from a real Delta table (written by
//! `DeltaStore`, as materialization writes it): the in-memory path and the
//! sorting path give the same values, in the requested column order, and a
//! group whose events do not fit in memory is computed by sorting (spilling)
//! instead of failing.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch, cast::AsArray, types::Float64Type, types::Int64Type};
use featurestore_domain::fixtures;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{
    Aggregation, AggregationFunction, FeatureGroup, ScalarType, Value, value::Kind,
};
use featurestore_query_engine::{AsOf, EntitySource, GroupRead, OfflineQuery, QueryConfig};
use futures::TryStreamExt;

mod common;

use common::{SECOND, entity_ipc};
/// Events of a key are this far apart.
const STEP: i64 = 600;
const KEYS: i64 = 5_000;
const PER_KEY: i64 = 12;

/// `orders` of customer: `amount` and `label`, with a 1-hour count (5-minute
/// grain), a lifetime sum of `amount` and a 1-hour distinct count of `label`.
fn orders() -> FeatureGroup {
    let mut g = fixtures::group(
        "shop",
        "orders",
        "customer",
        &[("amount", "int64"), ("label", "string")],
    );
    g.tile_grain_seconds = vec![300, 3600];
    let agg = |name: &str, function: AggregationFunction, input: &str, window: i64| Aggregation {
        name: name.into(),
        function: function as i32,
        input: input.into(),
        window_seconds: window,
        ..Default::default()
    };
    g.aggregations = vec![
        agg("n_1h", AggregationFunction::Count, "", 3600),
        agg("spent", AggregationFunction::Sum, "amount", 0),
        agg(
            "labels_1h",
            AggregationFunction::ApproxDistinct,
            "label",
            3600,
        ),
    ];
    let customer = fixtures::entity("shop", "customer", &[("customer_id", ScalarType::Int64)]);
    featurestore_domain::schema::normalize_feature_group(&mut g, &customer, 1).unwrap();
    g
}

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

/// Event `i`: key `i % KEYS` at `(1 + i / KEYS) * STEP` s, amount `i`,
/// label `l<i % 3>`; written in two commits (a table's offsets only grow).
async fn write_events(store: &DeltaStore, g: &FeatureGroup) {
    let table = OfflineTable::for_group(g);
    store.ensure_table(&table).await.unwrap();
    let n = KEYS * PER_KEY;
    let row = |i: i64| OfflineRow {
        key_values: vec![value(Kind::Int64Value(i % KEYS))],
        event_time_micros: (1 + i / KEYS) * STEP * SECOND,
        feature_values: vec![
            value(Kind::Int64Value(i)),
            value(Kind::StringValue(format!("l{}", i % 3))),
        ],
        ingest_time_micros: 0,
        partition: 0,
        offset: i,
    };
    for half in [0..n / 2, n / 2..n] {
        let rows: Vec<OfflineRow> = half.map(row).collect();
        store.append(&table, "test", "topic", &rows).await.unwrap();
    }
}

/// `(customer_id, time s)` entity rows.
fn entity_rows(rows: &[(i64, i64)]) -> EntitySource {
    EntitySource::ArrowIpc(entity_ipc(rows))
}

/// The query's result with `memory_limit_bytes`, joining in memory when it
/// fits and `in_memory_join`.
async fn query(
    store: &Arc<DeltaStore>,
    spill: &std::path::Path,
    memory_limit_bytes: usize,
    in_memory_join: bool,
    entities: &[(i64, i64)],
) -> RecordBatch {
    let query = OfflineQuery::new(
        store.clone(),
        QueryConfig {
            memory_limit_bytes,
            spill_dir: spill.to_path_buf(),
            batch_size: 1024,
            in_memory_join,
        },
    )
    .unwrap();
    let read = GroupRead {
        group: orders(),
        // Aggregated and plain features interleaved.
        features: vec![
            "n_1h".into(),
            "amount".into(),
            "spent".into(),
            "labels_1h".into(),
        ],
        as_of: AsOf::Latest,
    };
    let batches: Vec<RecordBatch> = query
        .historical_features(&entity_rows(entities), "event_timestamp", &[read])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>();
    (0..c.len())
        .map(|i| c.is_valid(i).then(|| c.value(i)))
        .collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>();
    (0..c.len())
        .map(|i| c.is_valid(i).then(|| c.value(i)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_memory_are_aggregated_by_sorting_with_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DeltaStore::new(dir.path().join("offline").to_str().unwrap()).unwrap());
    write_events(&store, &orders()).await;
    // Every key at 1 h (its 6th event), in reverse key order; a key with no
    // events; a time before any event; the last event's time.
    let mut entities: Vec<(i64, i64)> = (0..KEYS).rev().map(|k| (k, 3600)).collect();
    entities.push((KEYS + 7, 3600));
    entities.push((3, STEP - 1));
    entities.push((3, PER_KEY * STEP));
    let spill = dir.path().join("spill");
    let in_memory = query(&store, &spill, 256 << 20, true, &entities).await;
    // 4 MiB: the events (60k) do not fit in half of it.
    let sorted = query(&store, &spill, 4 << 20, true, &entities).await;
    let forced = query(&store, &spill, 256 << 20, false, &entities).await;
    assert_eq!(sorted, in_memory);
    assert_eq!(forced, in_memory);
    let schema = in_memory.schema();
    let names: Vec<&str> = schema.fields()[2..]
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "orders__n_1h",
            "orders__amount",
            "orders__spent",
            "orders__labels_1h"
        ]
    );
    let n = ints(&in_memory, "orders__n_1h");
    let amount = ints(&in_memory, "orders__amount");
    let spent = floats(&in_memory, "orders__spent");
    let labels = ints(&in_memory, "orders__labels_1h");
    for (row, (key, _)) in entities[..KEYS as usize].iter().enumerate() {
        // At 3600 s the window is [3900 − 3600, 3600]: events at 600..3600 s.
        assert_eq!(n[row], Some(6), "key {key}");
        assert_eq!(amount[row], Some(key + 5 * KEYS), "key {key}");
        let sum = (0..6).map(|j| key + j * KEYS).sum::<i64>();
        assert_eq!(spent[row], Some(sum as f64), "key {key}");
        // KEYS is not a multiple of 3: six events carry three labels.
        assert_eq!(labels[row], Some(3), "key {key}");
    }
    let unknown = KEYS as usize;
    assert_eq!((n[unknown], spent[unknown]), (None, None));
    let before = unknown + 1;
    assert_eq!((n[before], amount[before]), (None, None));
    let last = unknown + 2;
    assert_eq!(n[last], Some(6));
    let all = (0..PER_KEY).map(|j| 3 + j * KEYS).sum::<i64>();
    assert_eq!(spent[last], Some(all as f64));
}
