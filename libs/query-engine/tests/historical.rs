//! Historical features from real Delta tables (written by `DeltaStore`, as
//! materialization writes them) on local disk: hand-written cases, two
//! groups with different keys, time travel, bad input, and a sort that must
//! spill under a small memory limit.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    cast::AsArray, types::Int64Type,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_domain::fixtures::group;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{FeatureGroup, KeyColumn, ScalarType, Value, value::Kind};
use featurestore_query_engine::{
    AsOf, EntitySource, GroupRead, OfflineQuery, QueryConfig, QueryError,
};
use futures::TryStreamExt;

mod common;

use common::{SECOND, entity_ipc, ipc};

fn keyed(name: &str, key: &str, key_type: ScalarType, ttl_seconds: i64) -> FeatureGroup {
    let mut g = group(
        "shop",
        name,
        key,
        &[("amount", "int64"), ("label", "string")],
    );
    g.version = 1;
    g.ttl_seconds = ttl_seconds;
    g.primary_key = vec![KeyColumn {
        name: key.into(),
        r#type: key_type as i32,
        description: String::new(),
    }];
    g
}

fn int(v: i64) -> Value {
    Value {
        kind: Some(Kind::Int64Value(v)),
    }
}

fn text(v: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(v.into())),
    }
}

/// `(key, event time s, ingest time s, offset, amount)`; label = "a<amount>".
async fn write(store: &DeltaStore, g: &FeatureGroup, rows: &[(Value, i64, i64, i64, i64)]) {
    let table = OfflineTable::for_group(g);
    store.ensure_table(&table).await.unwrap();
    let rows: Vec<OfflineRow> = rows
        .iter()
        .map(|(key, t, ingest, offset, amount)| OfflineRow {
            key_values: vec![key.clone()],
            event_time_micros: t * SECOND,
            feature_values: vec![int(*amount), text(&format!("a{amount}"))],
            ingest_time_micros: ingest * SECOND,
            partition: 0,
            offset: *offset,
        })
        .collect();
    store.append(&table, "test", "topic", &rows).await.unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<DeltaStore>,
    query: OfflineQuery,
}

/// Batches of 3 rows unless given: every case crosses batch boundaries.
fn fixture(memory_limit_bytes: usize) -> Fixture {
    fixture_with(memory_limit_bytes, 3)
}

fn fixture_with(memory_limit_bytes: usize, batch_size: usize) -> Fixture {
    fixture_joining(memory_limit_bytes, batch_size, true)
}

/// `in_memory_join: false` forces the sorting (spilling) join.
fn fixture_joining(memory_limit_bytes: usize, batch_size: usize, in_memory_join: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DeltaStore::new(dir.path().join("offline").to_str().unwrap()).unwrap());
    let query = OfflineQuery::new(
        store.clone(),
        QueryConfig {
            memory_limit_bytes,
            spill_dir: dir.path().join("spill"),
            batch_size,
            in_memory_join,
        },
    )
    .unwrap();
    Fixture {
        _dir: dir,
        store,
        query,
    }
}

fn read(g: &FeatureGroup) -> GroupRead {
    GroupRead {
        group: g.clone(),
        features: vec!["amount".into(), "label".into()],
        as_of: AsOf::Latest,
    }
}

async fn run(f: &Fixture, source: EntitySource, groups: &[GroupRead]) -> Vec<RecordBatch> {
    f.query
        .historical_features(&source, "event_timestamp", groups)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

fn column_i64(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap().as_primitive::<Int64Type>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn column_str(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = arrow_cast::cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let c = c.as_string::<i32>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_in_time_rules_in_input_order() {
    let f = fixture(64 << 20);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    write(
        &f.store,
        &g,
        &[
            (int(1), 100, 100, 0, 1),
            (int(1), 200, 200, 1, 2),
            // Equal event times: the one ingested last wins.
            (int(1), 300, 301, 2, 31),
            (int(1), 300, 305, 3, 32),
            (int(1), 300, 303, 4, 33),
            // Late row: older event time, ingested last.
            (int(1), 150, 900, 5, 15),
            (int(2), 1_000, 1_000, 6, 200),
        ],
    )
    .await;
    let entities = [
        (1, 50),     // before any row
        (2, 5_000),  // other key
        (1, 100),    // exactly at an event time
        (1, 160),    // the late row
        (9, 10_000), // a key that exists nowhere
        (1, 300),    // the tie
        (1, 300),    // a duplicate entity row
        (1, 299),
    ];
    let out = run(
        &f,
        EntitySource::ArrowIpc(entity_ipc(&entities)),
        &[read(&g)],
    )
    .await;
    assert_eq!(
        column_i64(&out, "customer_id"),
        entities.iter().map(|e| Some(e.0)).collect::<Vec<_>>(),
        "entity rows in input order, each once"
    );
    assert_eq!(
        column_i64(&out, "orders__amount"),
        vec![
            None,
            Some(200),
            Some(1),
            Some(15),
            None,
            Some(32),
            Some(32),
            Some(2)
        ]
    );
    assert_eq!(
        column_str(&out, "orders__label")[5],
        Some("a32".to_string()),
        "columns of one feature row stay together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_edges_and_two_groups_with_different_keys() {
    let f = fixture(64 << 20);
    let orders = keyed("orders", "customer_id", ScalarType::Int64, 100);
    let regions = keyed("regions", "region", ScalarType::String, 0);
    write(&f.store, &orders, &[(int(1), 1_000, 1_000, 0, 7)]).await;
    write(
        &f.store,
        &regions,
        &[
            (text("eu"), 500, 500, 0, 40),
            (text("us"), 1_050, 1_050, 1, 50),
        ],
    )
    .await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int32, false),
        Field::new("region", DataType::Utf8, true),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::Int32Array::from(vec![1, 1, 1, 2])),
        Arc::new(StringArray::from(vec![
            Some("eu"),
            Some("us"),
            None,
            Some("us"),
        ])),
        Arc::new(arrow_array::TimestampMillisecondArray::from(vec![
            1_000_000, // age 0
            1_100_000, // age == ttl: inside
            1_100_001, // just outside the ttl
            1_100_000,
        ])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    let out = run(
        &f,
        EntitySource::ArrowIpc(ipc(&[batch])),
        &[read(&orders), read(&regions)],
    )
    .await;
    assert_eq!(
        column_i64(&out, "orders__amount"),
        vec![Some(7), Some(7), None, None]
    );
    assert_eq!(
        column_i64(&out, "regions__amount"),
        vec![Some(40), Some(50), None, Some(50)],
        "a null key matches nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_reads_an_older_table_version() {
    let f = fixture(64 << 20);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    write(&f.store, &g, &[(int(1), 100, 100, 0, 1)]).await; // version 1
    write(&f.store, &g, &[(int(1), 200, 200, 1, 2)]).await; // version 2
    let source = EntitySource::ArrowIpc(entity_ipc(&[(1, 1_000)]));
    let latest = run(&f, source.clone(), &[read(&g)]).await;
    assert_eq!(column_i64(&latest, "orders__amount"), vec![Some(2)]);
    let old = GroupRead {
        as_of: AsOf::Version(1),
        ..read(&g)
    };
    let before = run(&f, source.clone(), &[old]).await;
    assert_eq!(column_i64(&before, "orders__amount"), vec![Some(1)]);
    let missing = GroupRead {
        as_of: AsOf::Version(99),
        ..read(&g)
    };
    let err = f
        .query
        .historical_features(&source, "event_timestamp", &[missing])
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, QueryError::NotFound(_)), "{err}");

    // The plan names the versions a query reads; a group read returns rows.
    let plan = f
        .query
        .plan(&source, "event_timestamp", &[read(&g)])
        .await
        .unwrap();
    assert_eq!(plan.table_versions, vec![("orders@1".to_string(), 2)]);
    assert_eq!(
        plan.schema
            .field_with_name("orders__label")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let (rows, version) = f
        .query
        .read_group(&GroupRead {
            as_of: AsOf::Timestamp(now),
            ..read(&g)
        })
        .await
        .unwrap();
    let rows: Vec<RecordBatch> = rows.try_collect().await.unwrap();
    assert_eq!(version, 2);
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    let before_anything = f
        .query
        .read_group(&GroupRead {
            as_of: AsOf::Timestamp(1),
            ..read(&g)
        })
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(before_anything, QueryError::NotFound(_)),
        "{before_anything}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_rows_gives_nulls_and_parquet_sources_work() {
    let f = fixture(64 << 20);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    let path = f._dir.path().join("entities.parquet");
    let ipc_bytes = entity_ipc(&[(1, 10), (2, 20)]);
    let batches: Vec<RecordBatch> =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc_bytes), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    writer.write(&batches[0]).unwrap();
    writer.close().unwrap();
    let out = run(&f, EntitySource::Parquet(path), &[read(&g)]).await;
    assert_eq!(column_i64(&out, "customer_id"), vec![Some(1), Some(2)]);
    assert_eq!(column_i64(&out, "orders__amount"), vec![None, None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named() {
    let f = fixture(64 << 20);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    let query = |source: EntitySource| {
        let f = &f;
        let g = &g;
        async move {
            f.query
                .historical_features(&source, "event_timestamp", &[read(g)])
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string()
        }
    };
    let wrong_type = Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]);
    let batch = RecordBatch::new_empty(Arc::new(wrong_type));
    let err = query(EntitySource::ArrowIpc(ipc(&[batch]))).await;
    assert!(
        err.contains("entity_rows.customer_id") && err.contains("Utf8"),
        "{err}"
    );

    let no_time = Schema::new(vec![Field::new("customer_id", DataType::Int64, false)]);
    let err = query(EntitySource::ArrowIpc(ipc(&[RecordBatch::new_empty(
        Arc::new(no_time),
    )])))
    .await;
    assert!(err.contains("entity_rows.event_timestamp"), "{err}");

    let no_key = Schema::new(vec![Field::new(
        "event_timestamp",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    )]);
    let err = query(EntitySource::ArrowIpc(ipc(&[RecordBatch::new_empty(
        Arc::new(no_key),
    )])))
    .await;
    assert!(
        err.contains("entity_rows.customer_id") && err.contains("missing"),
        "{err}"
    );

    let err = query(EntitySource::ArrowIpc(b"not arrow".to_vec())).await;
    assert!(err.contains("not an Arrow IPC stream"), "{err}");

    let err = query(EntitySource::Parquet(
        "/nonexistent/entities.parquet".into(),
    ))
    .await;
    assert!(err.contains("/nonexistent/entities.parquet"), "{err}");

    let not_parquet = f._dir.path().join("notes.parquet");
    std::fs::write(&not_parquet, "hello").unwrap();
    let err = query(EntitySource::Parquet(not_parquet)).await;
    assert!(err.contains("not readable as Parquet"), "{err}");

    let err = query(EntitySource::Delta {
        location: f
            ._dir
            .path()
            .join("nothing-here")
            .to_string_lossy()
            .to_string(),
        version: None,
    })
    .await;
    assert!(err.contains("nothing-here"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_spill_under_a_small_memory_limit() {
    let f = fixture_joining(16 << 20, 1024, false);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    let n = 60_000i64;
    let rows: Vec<(Value, i64, i64, i64, i64)> = (0..n)
        .map(|i| (int(i % 5_000), 1 + i / 5_000, 0, i, i))
        .collect();
    write(&f.store, &g, &rows).await;
    let entities: Vec<(i64, i64)> = (0..n).map(|i| ((n - 1 - i) % 5_000, 6)).collect();
    let out = run(
        &f,
        EntitySource::ArrowIpc(entity_ipc(&entities)),
        &[read(&g)],
    )
    .await;
    let amounts = column_i64(&out, "orders__amount");
    assert_eq!(amounts.len(), n as usize);
    for (i, (key, _)) in entities.iter().enumerate() {
        // Key k's rows are k + 5000 * (t - 1); at t = 6 the newest is t = 6.
        assert_eq!(amounts[i], Some(key + 5_000 * 5), "entity row {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_too_small_even_to_spill_is_resources_exhausted() {
    let f = fixture_with(16 << 10, 1024);
    let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
    let rows: Vec<(Value, i64, i64, i64, i64)> =
        (0..20_000).map(|i| (int(i), 1, 0, i, i)).collect();
    write(&f.store, &g, &rows).await;
    let entities: Vec<(i64, i64)> = (0..20_000).map(|i| (i, 5)).collect();
    let result = match f
        .query
        .historical_features(
            &EntitySource::ArrowIpc(entity_ipc(&entities)),
            "event_timestamp",
            &[read(&g)],
        )
        .await
    {
        Ok(stream) => stream
            .try_collect::<Vec<_>>()
            .await
            .map_err(QueryError::from),
        Err(e) => Err(e),
    };
    let err = result.unwrap_err();
    assert!(matches!(err, QueryError::ResourcesExhausted(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_rows_without_a_time_are_named_on_both_paths() {
    for in_memory_join in [true, false] {
        let f = fixture_joining(64 << 20, 1024, in_memory_join);
        let g = keyed("orders", "customer_id", ScalarType::Int64, 0);
        write(&f.store, &g, &[(int(1), 1, 0, 0, 10)]).await;
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 1])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(5 * SECOND), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let source = EntitySource::ArrowIpc(ipc(&[batch]));
        let result = match f
            .query
            .historical_features(&source, "event_timestamp", &[read(&g)])
            .await
        {
            Ok(stream) => stream
                .try_collect::<Vec<_>>()
                .await
                .map(|_| ())
                .map_err(QueryError::from),
            Err(e) => Err(e),
        };
        let err = result.unwrap_err();
        assert!(
            matches!(&err, QueryError::InvalidArgument { field, .. } if field == "entity_rows.event_timestamp"),
            "in memory: {in_memory_join}: {err}"
        );
    }
}

mod against_the_reference {
    use featurestore_pitjoin::reference::{self, EntityRow, FeatureRow};
    use proptest::prelude::*;

    use super::*;

    /// `(key, event time s, ingest time s, amount)`.
    type Features = Vec<(i64, i64, i64, i64)>;
    /// `(key, time s)`.
    type Entities = Vec<(i64, i64)>;

    /// Feature and entity rows over few keys and times, so ties, duplicates
    /// and misses are common, and a TTL in seconds (0 = none).
    fn arb() -> impl Strategy<Value = (Features, Entities, i64)> {
        (
            prop::collection::vec((0i64..5, 1i64..20, 0i64..3, -1000i64..1000), 0..60),
            prop::collection::vec((0i64..6, 0i64..22), 1..40),
            prop_oneof![Just(0i64), 1i64..8],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn the_engine_agrees_with_the_naive_join(
            (features, entities, ttl) in arb(),
            in_memory_join in any::<bool>(),
        ) {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let (got, want) = runtime.block_on(async {
                let f = fixture_joining(16 << 20, 3, in_memory_join);
                let g = keyed("orders", "customer_id", ScalarType::Int64, ttl);
                let rows: Vec<(Value, i64, i64, i64, i64)> = features
                    .iter()
                    .enumerate()
                    .map(|(i, (k, t, ingest, amount))| (int(*k), *t, *ingest, i as i64, *amount))
                    .collect();
                if !rows.is_empty() {
                    write(&f.store, &g, &rows).await;
                }
                let out = run(&f, EntitySource::ArrowIpc(entity_ipc(&entities)), &[read(&g)]).await;
                let got = column_i64(&out, "orders__amount");
                // The engine's tie-break: ingest time, then partition (0), then offset.
                let reference_rows: Vec<FeatureRow<i64>> = rows
                    .iter()
                    .map(|(_, t, ingest, offset, amount)| {
                        let key = features[*offset as usize].0;
                        (key.to_be_bytes().to_vec(), *t * SECOND, (*ingest * 1_000_000 + offset) as u64, *amount)
                    })
                    .collect();
                let reference_entities: Vec<EntityRow> = entities
                    .iter()
                    .enumerate()
                    .map(|(i, (k, t))| (k.to_be_bytes().to_vec(), *t * SECOND, i as u64))
                    .collect();
                let want: Vec<Option<i64>> = reference::asof_join(
                    &reference_entities,
                    &reference_rows,
                    (ttl > 0).then_some(ttl * SECOND),
                )
                .into_iter()
                .map(|(_, picked)| picked.map(|(_, v)| v))
                .collect();
                (got, want)
            });
            prop_assert_eq!(got, want);
        }
    }
}
