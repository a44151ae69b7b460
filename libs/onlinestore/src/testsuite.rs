//! The conformance suite every [`OnlineStore`] implementation must pass.
//! Each case uses its own tables, so cases run in parallel against one
//! shared server.
//!
//! ```ignore
//! async fn make_store() -> std::sync::Arc<dyn OnlineStore> { ... }
//! featurestore_onlinestore::onlinestore_conformance_tests!(make_store);
//! ```

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use featurestore_domain::types::parse_type;
use featurestore_proto::v1::{self as pb, Value, value::Kind};

use crate::{
    OnlineRow, OnlineStore, OnlineStoreError, OnlineTable, StoredRow, StoredTile, TileKey,
    TileRange, TileTable, TileWrite,
};

#[macro_export]
macro_rules! onlinestore_conformance_tests {
    ($make:path) => {
        $crate::onlinestore_conformance_tests!(@cases $make;
            every_type_round_trips_including_lists_and_nulls,
            newest_event_wins_whatever_the_arrival_order,
            rows_expire_after_the_ttl,
            adding_features_keeps_existing_rows,
            many_keys_come_back_in_request_order,
            repeated_keys_in_one_read_each_get_the_row,
            a_table_never_created_is_unknown,
            tiles_round_trip_and_ranges_read_one_keys_grain,
            hundreds_of_large_tiles_of_interleaved_keys_round_trip,
            tiles_expire_after_their_ttl_and_unknown_tables_are_unknown,
            a_tile_write_never_replaces_a_higher_version,
            tile_writes_past_their_deadline_are_not_written
        );
    };
    (@cases $make:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make().await;
                $crate::testsuite::$case(&*store).await;
            }
        )*
    };
}

/// A table name no other test uses.
pub fn table(features: &[(&str, &str)], ttl_seconds: i64) -> OnlineTable {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!(
        "t{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    OnlineTable {
        label: name.clone(),
        name,
        features: features
            .iter()
            .map(|(n, t)| ((*n).to_string(), parse_type(t).expect("type")))
            .collect(),
        ttl_seconds,
    }
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn null() -> Value {
    v(Kind::NullValue(0))
}

fn key(i: u64) -> Vec<u8> {
    let mut k = vec![1, 3];
    k.extend_from_slice(&i.to_be_bytes());
    k
}

pub async fn every_type_round_trips_including_lists_and_nulls(store: &dyn OnlineStore) {
    let t = table(
        &[
            ("b", "bool"),
            ("i32", "int32"),
            ("i64", "int64"),
            ("f32", "float32"),
            ("f64", "float64"),
            ("s", "string"),
            ("by", "bytes"),
            ("ts", "timestamp"),
            ("emb", "list<float32>"),
            ("tags", "list<string>"),
            ("ids", "list<int64>"),
            ("empty", "list<int32>"),
            ("select", "string"),
        ],
        0,
    );
    store.ensure_table(&t).await.unwrap();
    let values = vec![
        v(Kind::BoolValue(true)),
        v(Kind::Int32Value(-7)),
        v(Kind::Int64Value(1 << 40)),
        v(Kind::Float32Value(0.25)),
        v(Kind::Float64Value(-1e300)),
        v(Kind::StringValue("grüße".into())),
        v(Kind::BytesValue(vec![0, 1, 255])),
        v(Kind::TimestampValue(1_700_000_000_123_456)),
        v(Kind::Float32List(pb::Float32List {
            values: vec![0.1, 0.2, 0.3],
        })),
        v(Kind::StringList(pb::StringList {
            values: vec!["a".into(), "".into()],
        })),
        null(),
        v(Kind::Int32List(pb::Int32List { values: vec![] })),
        v(Kind::StringValue("reserved word as a feature name".into())),
    ];
    let row = OnlineRow {
        entity_key: key(1),
        event_time_micros: 1_000_000,
        values: values.clone(),
    };
    store.upsert(&t, &[row]).await.unwrap();
    let got = store.get(&t, &[key(1), key(2)]).await.unwrap();
    let stored = got[0].clone().expect("row for key 1");
    assert_eq!(stored.event_time_micros, 1_000_000);
    for (i, (want, have)) in values.iter().zip(&stored.values).enumerate() {
        // An empty list may come back as an empty list or as null; nothing else may differ.
        let empty_as_null = i == 11 && *have == null();
        assert!(
            want == have || empty_as_null,
            "feature {}: {want:?} != {have:?}",
            t.features[i].0
        );
    }
    assert_eq!(got[1], None, "a key never written has no row");
}

pub async fn newest_event_wins_whatever_the_arrival_order(store: &dyn OnlineStore) {
    let t = table(&[("x", "int64"), ("note", "string")], 0);
    store.ensure_table(&t).await.unwrap();
    let row = |time: i64| OnlineRow {
        entity_key: key(7),
        event_time_micros: time,
        values: vec![
            v(Kind::Int64Value(time)),
            v(Kind::StringValue(format!("at {time}"))),
        ],
    };
    // Shuffled arrival, one upsert per event, then a late replay of an old one.
    for time in [5_000, 9_000, 1_000, 7_000, 3_000, 9_000, 2_000] {
        store.upsert(&t, &[row(time)]).await.unwrap();
    }
    let got = store.get(&t, &[key(7)]).await.unwrap();
    assert_eq!(
        got[0],
        Some(StoredRow {
            event_time_micros: 9_000,
            values: row(9_000).values
        }),
        "the newest event is kept"
    );
    // A newer event with a null replaces the value with null.
    let mut newer = row(10_000);
    newer.values[1] = null();
    store.upsert(&t, &[newer.clone()]).await.unwrap();
    assert_eq!(
        store.get(&t, &[key(7)]).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .values,
        newer.values
    );
    // In one batch too.
    store.upsert(&t, &[row(12_000), row(11_000)]).await.unwrap();
    assert_eq!(
        store.get(&t, &[key(7)]).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .event_time_micros,
        12_000
    );
}

pub async fn rows_expire_after_the_ttl(store: &dyn OnlineStore) {
    let t = table(&[("x", "int64")], 2);
    store.ensure_table(&t).await.unwrap();
    store
        .upsert(
            &t,
            &[OnlineRow {
                entity_key: key(1),
                event_time_micros: 1,
                values: vec![v(Kind::Int64Value(1))],
            }],
        )
        .await
        .unwrap();
    assert!(store.get(&t, &[key(1)]).await.unwrap()[0].is_some());
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        store.get(&t, &[key(1)]).await.unwrap()[0],
        None,
        "expired after the TTL"
    );
}

pub async fn adding_features_keeps_existing_rows(store: &dyn OnlineStore) {
    let mut t = table(&[("x", "int64")], 0);
    store.ensure_table(&t).await.unwrap();
    store.ensure_table(&t).await.unwrap();
    store
        .upsert(
            &t,
            &[OnlineRow {
                entity_key: key(1),
                event_time_micros: 10,
                values: vec![v(Kind::Int64Value(1))],
            }],
        )
        .await
        .unwrap();
    t.features
        .push(("y".into(), parse_type("list<float64>").unwrap()));
    store.ensure_table(&t).await.unwrap();
    let old = store.get(&t, &[key(1)]).await.unwrap()[0].clone().unwrap();
    assert_eq!(
        old.values,
        vec![v(Kind::Int64Value(1)), null()],
        "the new feature reads as null"
    );
    let y = v(Kind::Float64List(pb::Float64List { values: vec![1.5] }));
    store
        .upsert(
            &t,
            &[OnlineRow {
                entity_key: key(1),
                event_time_micros: 20,
                values: vec![v(Kind::Int64Value(2)), y.clone()],
            }],
        )
        .await
        .unwrap();
    let new = store.get(&t, &[key(1)]).await.unwrap()[0].clone().unwrap();
    assert_eq!(new.values, vec![v(Kind::Int64Value(2)), y]);
}

pub async fn many_keys_come_back_in_request_order(store: &dyn OnlineStore) {
    let t = table(&[("x", "int64")], 0);
    store.ensure_table(&t).await.unwrap();
    let rows: Vec<OnlineRow> = (0..1000)
        .filter(|i| i % 3 != 0)
        .map(|i| OnlineRow {
            entity_key: key(i),
            event_time_micros: 1,
            values: vec![v(Kind::Int64Value(i as i64))],
        })
        .collect();
    store.upsert(&t, &rows).await.unwrap();
    let keys: Vec<Vec<u8>> = (0..1000).rev().map(key).collect();
    let got = store.get(&t, &keys).await.unwrap();
    assert_eq!(got.len(), 1000);
    for (i, row) in (0..1000u64).rev().zip(got) {
        match row {
            None => assert_eq!(i % 3, 0, "key {i} was written"),
            Some(row) => assert_eq!(row.values, vec![v(Kind::Int64Value(i as i64))], "key {i}"),
        }
    }
}

pub async fn repeated_keys_in_one_read_each_get_the_row(store: &dyn OnlineStore) {
    let t = table(&[("x", "int64")], 0);
    store.ensure_table(&t).await.unwrap();
    let rows: Vec<OnlineRow> = (0..50)
        .map(|i| OnlineRow {
            entity_key: key(i),
            event_time_micros: 1,
            values: vec![v(Kind::Int64Value(i as i64 * 10))],
        })
        .collect();
    store.upsert(&t, &rows).await.unwrap();
    // Hot keys repeated, missing keys interleaved, 300 positions in all.
    let wanted: Vec<u64> = (0..300).map(|i| (i * 37 % 7) * 11 % 70).collect();
    let keys: Vec<Vec<u8>> = wanted.iter().map(|i| key(*i)).collect();
    let got = store.get(&t, &keys).await.unwrap();
    assert_eq!(got.len(), wanted.len());
    for (i, row) in wanted.iter().zip(got) {
        let want = (*i < 50).then(|| StoredRow {
            event_time_micros: 1,
            values: vec![v(Kind::Int64Value(*i as i64 * 10))],
        });
        assert_eq!(row, want, "key {i}");
    }
}

/// Serving answers NOT_FOUND for a group nothing was materialized into yet:
/// it depends on this error, for one key and for many, and on a store that
/// has other tables.
pub async fn a_table_never_created_is_unknown(store: &dyn OnlineStore) {
    let existing = table(&[("x", "int64")], 0);
    store.ensure_table(&existing).await.unwrap();
    let never = table(&[("x", "int64"), ("y", "string")], 0);
    for keys in [vec![key(1)], (0..20).map(key).collect()] {
        match store.get(&never, &keys).await {
            Err(OnlineStoreError::UnknownTable(label)) => assert!(
                label.contains(&never.label),
                "the error names the table: {label}"
            ),
            other => panic!("{} keys: expected UnknownTable, got {other:?}", keys.len()),
        }
    }
    // The table once created reads as empty, not unknown.
    store.ensure_table(&never).await.unwrap();
    assert_eq!(store.get(&never, &[key(1)]).await.unwrap(), vec![None]);
}

/// A tile table no other test uses.
pub fn tile_table() -> TileTable {
    let t = table(&[], 0);
    TileTable {
        label: format!("{} tiles", t.label),
        name: t.name,
    }
}

/// A tile write of a version above every earlier one of this process (a
/// later write replaces an earlier one, as in a fold).
fn tile(k: &[u8], grain: i64, start: i64, value: &[u8], ttl_seconds: i64) -> TileWrite {
    static VERSION: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    TileWrite {
        version: VERSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        ..versioned(k, grain, start, value, ttl_seconds, 0)
    }
}

fn versioned(
    k: &[u8],
    grain: i64,
    start: i64,
    value: &[u8],
    ttl_seconds: i64,
    version: i64,
) -> TileWrite {
    TileWrite {
        key: TileKey {
            entity_key: k.to_vec(),
            grain,
            start,
        },
        value: value.to_vec(),
        ttl_seconds,
        version,
    }
}

/// The fence against a deposed writer: a write of a lower version than the
/// stored tile's changes nothing, in the same batch as other writes or
/// alone; a higher (or the same) version replaces it.
pub async fn a_tile_write_never_replaces_a_higher_version(store: &dyn OnlineStore) {
    let t = tile_table();
    store.ensure_tiles(&t).await.unwrap();
    let (a, b) = (key(1), key(2));
    let get = |keys: Vec<TileKey>| {
        let t = &t;
        async move { store.get_tiles(t, &keys).await.unwrap() }
    };
    let at = |k: &[u8]| TileKey {
        entity_key: k.to_vec(),
        grain: 10,
        start: 0,
    };
    store
        .put_tiles(&t, &[versioned(&a, 10, 0, b"folded to 50", 0, 50)])
        .await
        .unwrap();
    // A stale fold (to offset 30) arriving late, beside a new tile.
    store
        .put_tiles(
            &t,
            &[
                versioned(&a, 10, 0, b"folded to 30", 0, 30),
                versioned(&b, 10, 0, b"b to 31", 0, 31),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        get(vec![at(&a), at(&b)]).await,
        vec![Some(b"folded to 50".to_vec()), Some(b"b to 31".to_vec())]
    );
    store
        .put_tiles(&t, &[versioned(&a, 10, 0, b"folded to 70", 3600, 70)])
        .await
        .unwrap();
    store
        .put_tiles(&t, &[versioned(&a, 10, 0, b"folded to 60", 0, 60)])
        .await
        .unwrap();
    assert_eq!(
        get(vec![at(&a)]).await,
        vec![Some(b"folded to 70".to_vec())]
    );
}

/// A write with a deadline: written before it; past it, refused as late
/// and nothing written (what a correction's read-back relies on).
pub async fn tile_writes_past_their_deadline_are_not_written(store: &dyn OnlineStore) {
    let t = tile_table();
    store.ensure_tiles(&t).await.unwrap();
    let a = key(1);
    let at = TileKey {
        entity_key: a.clone(),
        grain: 10,
        start: 0,
    };
    let soon = std::time::Instant::now() + Duration::from_secs(60);
    store
        .put_tiles_by(&t, &[versioned(&a, 10, 0, b"in time", 0, 5)], Some(soon))
        .await
        .unwrap();
    let past = std::time::Instant::now();
    let late = store
        .put_tiles_by(&t, &[versioned(&a, 10, 0, b"too late", 0, 7)], Some(past))
        .await
        .unwrap_err();
    assert!(matches!(late, OnlineStoreError::Late(_)), "{late:?}");
    assert_eq!(
        store.get_tiles(&t, &[at]).await.unwrap(),
        vec![Some(b"in time".to_vec())]
    );
}

/// A fold's worth of tiles: 250 tiles of each of 3 keys, interleaved,
/// some large (a full HyperLogLog is ~4 KiB), read back in request order
/// with tiles never written among them.
pub async fn hundreds_of_large_tiles_of_interleaved_keys_round_trip(store: &dyn OnlineStore) {
    let t = tile_table();
    store.ensure_tiles(&t).await.unwrap();
    let value = |k: u8, start: i64| {
        let size = if start % 7 == 0 { 9000 } else { 40 };
        let mut v = vec![k; size];
        v.extend_from_slice(&start.to_le_bytes());
        v
    };
    let keys: Vec<Vec<u8>> = (0..3).map(|k| key(100 + k)).collect();
    let writes: Vec<TileWrite> = (0..250)
        .flat_map(|start| keys.iter().enumerate().map(move |(k, key)| (k, key, start)))
        .map(|(k, key, start)| tile(key, 10, start * 10, &value(k as u8, start * 10), 0))
        .collect();
    store.put_tiles(&t, &writes).await.unwrap();
    // Every written tile and, in between, one never written per key.
    let mut asked: Vec<TileKey> = writes.iter().map(|w| w.key.clone()).collect();
    for (i, k) in keys.iter().enumerate() {
        asked.insert(
            100 * i + 1,
            TileKey {
                entity_key: k.clone(),
                grain: 10,
                start: 5,
            },
        );
    }
    let got = store.get_tiles(&t, &asked).await.unwrap();
    assert_eq!(got.len(), asked.len());
    for (key, got) in asked.iter().zip(got) {
        let want = writes
            .iter()
            .find(|w| w.key == *key)
            .map(|w| w.value.clone());
        assert_eq!(got, want, "{key:?}");
    }
}

/// Tiles come back whole; a range read returns one key's tiles of one grain
/// whose start is in `[from, to)`, ordered, and nothing of another key
/// (including a key that extends this one), grain or range.
pub async fn tiles_round_trip_and_ranges_read_one_keys_grain(store: &dyn OnlineStore) {
    let t = tile_table();
    store.ensure_tiles(&t).await.unwrap();
    store.ensure_tiles(&t).await.unwrap();
    let a = key(1);
    let mut longer = a.clone();
    longer.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
    let mut writes = Vec::new();
    for start in [-20, -10, 0, 10, 20, 30] {
        writes.push(tile(&a, 10, start, format!("a{start}").as_bytes(), 0));
        writes.push(tile(&longer, 10, start, b"longer", 0));
    }
    writes.push(tile(&a, 100, 0, b"coarse", 0));
    writes.push(tile(&a, 0, 0, b"lifetime", 0));
    store.put_tiles(&t, &writes).await.unwrap();
    // Written whole again: the new value replaces the old.
    store
        .put_tiles(&t, &[tile(&a, 10, 20, b"a20 again", 0)])
        .await
        .unwrap();

    let got = store
        .get_tiles(
            &t,
            &[
                writes[0].key.clone(),
                TileKey {
                    entity_key: a.clone(),
                    grain: 10,
                    start: 20,
                },
                TileKey {
                    entity_key: a.clone(),
                    grain: 10,
                    start: 40,
                },
                TileKey {
                    entity_key: a.clone(),
                    grain: 0,
                    start: 0,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            Some(b"a-20".to_vec()),
            Some(b"a20 again".to_vec()),
            None,
            Some(b"lifetime".to_vec())
        ]
    );
    let ranges = [
        TileRange {
            grain: 100,
            from: 0,
            to: 100,
        },
        TileRange {
            grain: 10,
            from: -10,
            to: 30,
        },
    ];
    let scanned = store
        .scan_tiles(&t, &[a.clone(), key(2), longer.clone()], &ranges)
        .await
        .unwrap();
    let starts = |tiles: &[StoredTile]| -> Vec<(i64, i64)> {
        tiles.iter().map(|t| (t.grain, t.start)).collect()
    };
    assert_eq!(
        starts(&scanned[0]),
        vec![(10, -10), (10, 0), (10, 10), (10, 20), (100, 0)]
    );
    assert_eq!(scanned[0][3].value, b"a20 again".to_vec());
    assert_eq!(scanned[0][4].value, b"coarse".to_vec());
    assert!(scanned[1].is_empty(), "a key with no tiles");
    assert_eq!(
        starts(&scanned[2]),
        vec![(10, -10), (10, 0), (10, 10), (10, 20)]
    );
    assert!(scanned[2].iter().all(|t| t.value == b"longer".to_vec()));
}

pub async fn tiles_expire_after_their_ttl_and_unknown_tables_are_unknown(store: &dyn OnlineStore) {
    let never = tile_table();
    assert!(matches!(
        store
            .get_tiles(
                &never,
                &[TileKey {
                    entity_key: key(1),
                    grain: 1,
                    start: 0
                }]
            )
            .await,
        Err(OnlineStoreError::UnknownTable(_))
    ));
    assert!(matches!(
        store
            .scan_tiles(
                &never,
                &[key(1)],
                &[TileRange {
                    grain: 1,
                    from: 0,
                    to: 9
                }]
            )
            .await,
        Err(OnlineStoreError::UnknownTable(_))
    ));
    let t = tile_table();
    store.ensure_tiles(&t).await.unwrap();
    store
        .put_tiles(
            &t,
            &[
                tile(&key(1), 1, 0, b"short", 2),
                tile(&key(1), 1, 1, b"kept", 0),
            ],
        )
        .await
        .unwrap();
    let range = [TileRange {
        grain: 1,
        from: 0,
        to: 9,
    }];
    assert_eq!(
        store.scan_tiles(&t, &[key(1)], &range).await.unwrap()[0].len(),
        2
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let left = store.scan_tiles(&t, &[key(1)], &range).await.unwrap();
    assert_eq!(left[0].len(), 1, "the tile with a TTL expired");
    assert_eq!(left[0][0].value, b"kept".to_vec());
}
