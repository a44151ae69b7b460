//! The streaming merge against hand-written cases and, on random data in
//! random batch sizes, against the naive reference.

use std::sync::Arc;

use arrow_array::{
    Array, BinaryArray, Int64Array, RecordBatch, StringArray, UInt64Array, cast::AsArray,
    types::Int64Type,
};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use featurestore_pitjoin::{
    AsOfOptions, FEATURE_TIME, KEY, ROW_ID, TIME, asof_merge,
    reference::{self, EntityRow, FeatureRow},
};
use futures::{StreamExt, TryStreamExt, executor::block_on, stream};
use proptest::prelude::*;

fn feature_schema() -> Schema {
    Schema::new(vec![
        Field::new(KEY, DataType::Binary, false),
        Field::new(TIME, DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ])
}

/// Sorted, chopped into batches of the given sizes (cycled).
fn entity_batches(rows: &[EntityRow], sizes: &[usize]) -> Vec<RecordBatch> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let schema = Arc::new(Schema::new(vec![
        Field::new(KEY, DataType::Binary, false),
        Field::new(TIME, DataType::Int64, false),
        Field::new(ROW_ID, DataType::UInt64, false),
    ]));
    chunks(&rows, sizes)
        .map(|chunk| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(BinaryArray::from_iter_values(chunk.iter().map(|r| &r.0))),
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.1))),
                    Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|r| r.2))),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn feature_batches(rows: &[FeatureRow<i64>], sizes: &[usize]) -> Vec<RecordBatch> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let schema = Arc::new(feature_schema());
    chunks(&rows, sizes)
        .map(|chunk| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(BinaryArray::from_iter_values(chunk.iter().map(|r| &r.0))),
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.1))),
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.3))),
                    Arc::new(StringArray::from_iter_values(
                        chunk.iter().map(|r| format!("s{}", r.3)),
                    )),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn chunks<'a, T>(rows: &'a [T], sizes: &'a [usize]) -> impl Iterator<Item = &'a [T]> + 'a {
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if start >= rows.len() {
            return None;
        }
        let size = sizes[i % sizes.len()].max(1);
        i += 1;
        let end = (start + size).min(rows.len());
        let chunk = &rows[start..end];
        start = end;
        Some(chunk)
    })
}

/// Runs the merge; returns `(row id, Some((feature time, v)))` sorted by row id.
fn merge(
    entities: Vec<RecordBatch>,
    features: Vec<RecordBatch>,
    ttl_micros: Option<i64>,
    batch_size: usize,
) -> Vec<(u64, Option<(i64, i64)>)> {
    let entities = stream::iter(entities.into_iter().map(Ok::<_, ArrowError>)).boxed();
    let features = stream::iter(features.into_iter().map(Ok::<_, ArrowError>)).boxed();
    let payload = ["v".to_string(), "s".to_string()];
    let out = asof_merge(
        entities,
        features,
        &feature_schema(),
        &payload,
        AsOfOptions {
            ttl_micros,
            batch_size,
        },
    )
    .unwrap();
    let batches: Vec<RecordBatch> = block_on(out.try_collect()).unwrap();
    let mut rows = Vec::new();
    for batch in &batches {
        assert!(batch.num_rows() <= batch_size.max(1));
        let ids = batch
            .column(0)
            .as_primitive::<arrow_array::types::UInt64Type>();
        let times = batch
            .column_by_name(FEATURE_TIME)
            .unwrap()
            .as_primitive::<Int64Type>();
        let v = batch.column(2).as_primitive::<Int64Type>();
        let s = batch.column(3).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let picked = (!times.is_null(i)).then(|| {
                assert_eq!(
                    s.value(i),
                    format!("s{}", v.value(i)),
                    "columns stay aligned"
                );
                (times.value(i), v.value(i))
            });
            if picked.is_none() {
                assert!(v.is_null(i) && s.is_null(i), "no match gives nulls");
            }
            rows.push((ids.value(i), picked));
        }
    }
    rows.sort_by_key(|r| r.0);
    rows
}

fn expected(
    entities: &[EntityRow],
    features: &[FeatureRow<i64>],
    ttl: Option<i64>,
) -> Vec<(u64, Option<(i64, i64)>)> {
    let mut rows = reference::asof_join(entities, features, ttl);
    rows.sort_by_key(|r| r.0);
    rows
}

fn k(n: u8) -> Vec<u8> {
    vec![1, n]
}

#[test]
fn hand_written_cases() {
    let features: Vec<FeatureRow<i64>> = vec![
        (k(1), 100, 0, 1),
        (k(1), 200, 0, 2),
        // Equal event times: the greater tie-break (ingested last) wins.
        (k(1), 300, 5, 30),
        (k(1), 300, 9, 31),
        (k(1), 300, 7, 32),
        // A late row: older event time, arrived last — still ordered by event time.
        (k(1), 150, 99, 15),
        (k(2), 1_000, 0, 200),
    ];
    let entities: Vec<EntityRow> = vec![
        (k(1), 50, 0),     // before any feature row: nothing
        (k(1), 100, 1),    // exactly at an event time: included
        (k(1), 160, 2),    // picks the late row
        (k(1), 299, 3),    // just before the tie
        (k(1), 300, 4),    // the tie: tie-break 9
        (k(1), 300, 5),    // a duplicate entity row: same answer, own row
        (k(3), 10_000, 6), // a key that exists nowhere
        (k(2), 999, 7),
        (k(2), 5_000, 8),
    ];
    let got = merge(
        entity_batches(&entities, &[2, 3]),
        feature_batches(&features, &[1, 4]),
        None,
        4,
    );
    assert_eq!(
        got,
        vec![
            (0, None),
            (1, Some((100, 1))),
            (2, Some((150, 15))),
            (3, Some((200, 2))),
            (4, Some((300, 31))),
            (5, Some((300, 31))),
            (6, None),
            (7, None),
            (8, Some((1_000, 200))),
        ]
    );
    assert_eq!(got, expected(&entities, &features, None));
}

#[test]
fn ttl_edges() {
    let features: Vec<FeatureRow<i64>> = vec![(k(1), 1_000, 0, 7)];
    let entities: Vec<EntityRow> = vec![
        (k(1), 1_000, 0), // age 0
        (k(1), 1_100, 1), // age == ttl: still inside
        (k(1), 1_101, 2), // age > ttl: outside
    ];
    let got = merge(
        entity_batches(&entities, &[10]),
        feature_batches(&features, &[10]),
        Some(100),
        10,
    );
    assert_eq!(
        got,
        vec![(0, Some((1_000, 7))), (1, Some((1_000, 7))), (2, None)]
    );
}

#[test]
fn no_features_at_all_gives_every_entity_row_nulls() {
    let entities: Vec<EntityRow> = (0..10).map(|i| (k(i as u8), 5, i)).collect();
    let got = merge(entity_batches(&entities, &[3]), Vec::new(), None, 4);
    assert_eq!(got, (0..10).map(|i| (i, None)).collect::<Vec<_>>());
}

#[test]
fn no_entities_gives_no_rows() {
    let features: Vec<FeatureRow<i64>> = vec![(k(1), 1, 0, 1)];
    assert!(merge(Vec::new(), feature_batches(&features, &[1]), None, 4).is_empty());
}

fn arb_rows() -> impl Strategy<Value = (Vec<EntityRow>, Vec<FeatureRow<i64>>)> {
    // Few keys and a small time range, so ties and duplicates are common.
    let feature = (0u8..6, 0i64..40, 0u64..4, any::<i64>());
    let entity = (0u8..7, -5i64..45);
    (
        prop::collection::vec(entity, 0..120),
        prop::collection::vec(feature, 0..200),
    )
        .prop_map(|(entities, features)| {
            let entities = entities
                .into_iter()
                .enumerate()
                .map(|(i, (key, t))| (k(key), t, i as u64))
                .collect();
            // Distinct tie-breaks per (key, time), as offsets are.
            let features = features
                .into_iter()
                .enumerate()
                .map(|(i, (key, t, tie, v))| (k(key), t, tie * 1_000 + i as u64, v))
                .collect();
            (entities, features)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_the_naive_join(
        (entities, features) in arb_rows(),
        ttl in prop::option::of(0i64..20),
        entity_sizes in prop::collection::vec(1usize..17, 1..4),
        feature_sizes in prop::collection::vec(1usize..17, 1..4),
        batch_size in 1usize..40,
    ) {
        let got = merge(
            entity_batches(&entities, &entity_sizes),
            feature_batches(&features, &feature_sizes),
            ttl,
            batch_size,
        );
        prop_assert_eq!(got.len(), entities.len(), "every entity row exactly once");
        prop_assert_eq!(got, expected(&entities, &features, ttl));
    }
}
