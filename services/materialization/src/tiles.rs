//! Folding a batch's events into the tiles of their group's aggregations:
//! per entity key, one tile per grain holding the event's time (and the
//! lifetime tile), read, folded in log order and written back whole.
//!
//! A late event lands in the tiles of its own event time, so arrival order
//! never changes a result; an event already in a tile (a batch retried, or
//! replayed after a crash from an older committed offset) is skipped by the
//! tile's recorded offsets (`featurestore_aggregation::tile_value`). Each
//! key's events all come from one partition, owned by one materializer at a
//! time; a tile is written with (twice) the offset of its last event as its version,
//! which the online store compares, so a materializer deposed by a
//! rebalance whose fold lands late cannot replace the new owner's tile.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use hashbrown::HashMap;

use featurestore_aggregation::{Input, Tile, TileValue, tile_value::streamed_version};
use featurestore_domain::aggregation::{Aggregations, input_value};
use featurestore_onlinestore::{OnlineStore, OnlineStoreError, TileKey, TileTable, TileWrite};
use featurestore_proto::v1::{FeatureGroup, Value};

/// A fold sends its writes within this long of reading the tiles they
/// replace, or reads them again (`OnlineStore::put_tiles_by`)…
pub const FOLD_DEADLINE: Duration = Duration::from_secs(2);
/// …at most this many times before its batch fails (and is retried).
const FOLD_ATTEMPTS: u32 = 3;
/// How long after a tile write any stream write of a fold that read the
/// tile before it has landed: the fold deadline, and time for a write sent
/// just before it to be applied (Cassandra drops a mutation that waited
/// past its 2-second write timeout). A correction reads its writes back no
/// sooner (`correction`).
pub const STREAM_WRITES_LAND_WITHIN: Duration = Duration::from_secs(5);

/// The lifetime tile: grain 0, start 0.
pub const LIFETIME: Tile = Tile { grain: 0, start: 0 };

/// One event of an aggregated group.
#[derive(Debug, Clone, PartialEq)]
pub struct TileEvent {
    pub entity_key: Vec<u8>,
    /// `(partition, offset)` of its record.
    pub seq: (i32, i64),
    pub time: i64,
    /// The input of each aggregated feature, in definition order.
    pub inputs: Vec<Option<Input>>,
}

impl TileEvent {
    pub fn new(
        aggregations: &Aggregations,
        entity_key: Vec<u8>,
        seq: (i32, i64),
        time: i64,
        values: &[Value],
    ) -> Self {
        let inputs = aggregations
            .features
            .iter()
            .map(|f| {
                f.input
                    .and_then(|i| values.get(i))
                    .and_then(|v| input_value(f.function, v))
            })
            .collect();
        Self {
            entity_key,
            seq,
            time,
            inputs,
        }
    }
}

/// What one fold wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// Events folded into at least one tile (not already there).
    pub events: u64,
    pub tiles_written: u64,
}

/// The tiles an event at `time` belongs to: one per grain when a feature
/// has a window, and always the lifetime tile (it holds the lifetime
/// features, and tells serving whether a key ever had an event).
pub fn tiles_of(aggregations: &Aggregations, time: i64) -> impl Iterator<Item = Tile> + '_ {
    let windows = aggregations
        .has_windows()
        .then(|| aggregations.grains.tiles_of(time))
        .into_iter()
        .flatten();
    windows.chain(std::iter::once(LIFETIME))
}

/// Folds `e` into `value`, the tile `tile` of its key: the lifetime
/// features into the lifetime tile, the windowed ones into the grain tiles.
/// False when the event is already in it.
pub fn fold_event(
    aggregations: &Aggregations,
    value: &mut TileValue,
    tile: Tile,
    e: &TileEvent,
) -> bool {
    let lifetime = tile == LIFETIME;
    let features = aggregations
        .features
        .iter()
        .zip(&e.inputs)
        .filter(|(f, _)| f.window.is_none() == lifetime)
        .map(|(f, x)| (f.index, f.function, *x));
    value.fold(features, e.time, e.seq)
}

/// Each event's entity key as a number, its place among the distinct keys
/// in order of first appearance; with those keys (by place).
pub(crate) fn key_places(events: &[TileEvent]) -> (Vec<&[u8]>, Vec<u32>) {
    let mut places: HashMap<&[u8], u32> = HashMap::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    let of_event = events
        .iter()
        .map(|e| {
            *places.entry(e.entity_key.as_slice()).or_insert_with(|| {
                keys.push(e.entity_key.as_slice());
                (keys.len() - 1) as u32
            })
        })
        .collect();
    (keys, of_event)
}

/// Folds `events` into the tiles of `group` and writes the tiles they
/// changed; returns once they are durable, with what was folded per
/// partition (a key's tiles take events of one partition only).
pub async fn fold(
    online: &dyn OnlineStore,
    group: &FeatureGroup,
    aggregations: &Aggregations,
    mut events: Vec<TileEvent>,
) -> Result<BTreeMap<i32, Folded>, OnlineStoreError> {
    events.sort_by_key(|e| e.seq);
    // Each entity key once, by its place; then each tile once, by
    // (key place, grain, start): look-ups hash three integers instead of
    // comparing key bytes.
    let (_, key_of) = key_places(&events);
    let mut slots: HashMap<(u32, i64, i64), usize> = HashMap::new();
    let mut keys: Vec<TileKey> = Vec::new();
    // Per event, per tile it belongs to: the tile's place.
    let mut event_tiles: Vec<usize> = Vec::new();
    for (e, &key) in events.iter().zip(&key_of) {
        for t in tiles_of(aggregations, e.time) {
            let at = *slots.entry((key, t.grain, t.start)).or_insert_with(|| {
                keys.push(TileKey {
                    entity_key: e.entity_key.clone(),
                    grain: t.grain,
                    start: t.start,
                });
                keys.len() - 1
            });
            event_tiles.push(at);
        }
    }
    let table = TileTable::for_group(group);
    let mut attempt = 1;
    loop {
        let deadline = Instant::now() + FOLD_DEADLINE;
        let stored = online.get_tiles(&table, &keys).await?;
        let (folded, writes) =
            fold_into(aggregations, &table, &events, &keys, &event_tiles, stored)?;
        match online.put_tiles_by(&table, &writes, Some(deadline)).await {
            Ok(()) => return Ok(folded),
            // Read too long ago: read again (a correction may have written
            // since), a few times before the batch fails.
            Err(OnlineStoreError::Late(e)) if attempt < FOLD_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "tiles read over {FOLD_DEADLINE:?} ago; reading them again");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The fold of `events` into the `stored` values of `keys` (`event_tiles`:
/// per event, per tile it belongs to, the tile's place): what was folded
/// per partition and the writes of the tiles that changed.
fn fold_into(
    aggregations: &Aggregations,
    table: &TileTable,
    events: &[TileEvent],
    keys: &[TileKey],
    event_tiles: &[usize],
    stored: Vec<Option<Vec<u8>>>,
) -> Result<(BTreeMap<i32, Folded>, Vec<TileWrite>), OnlineStoreError> {
    // Per tile (in `keys` order): its value, whether it changed.
    let mut tiles: Vec<(TileValue, bool)> = Vec::with_capacity(keys.len());
    for value in stored {
        let value = match value {
            Some(bytes) => TileValue::decode(&bytes)
                .map_err(|e| OnlineStoreError::Internal(format!("{}: {e}", table.label)))?,
            None => TileValue::default(),
        };
        tiles.push((value, false));
    }
    let mut folded: BTreeMap<i32, Folded> = BTreeMap::new();
    // Each tile's partition: that of its key's events.
    let mut partitions = vec![0; keys.len()];
    let mut places = event_tiles.iter();
    for e in events {
        let mut any = false;
        for (t, &at) in tiles_of(aggregations, e.time).zip(&mut places) {
            let (value, changed) = &mut tiles[at];
            partitions[at] = e.seq.0;
            if fold_event(aggregations, value, t, e) {
                *changed = true;
                any = true;
            }
        }
        if any {
            folded.entry(e.seq.0).or_default().events += 1;
        }
    }
    let ttl = aggregations.tile_ttl_seconds();
    let writes: Vec<TileWrite> = keys
        .iter()
        .zip(tiles)
        .zip(partitions)
        .filter(|((_, (_, changed)), _)| *changed)
        .map(|((key, (value, _)), partition)| {
            folded.entry(partition).or_default().tiles_written += 1;
            TileWrite {
                ttl_seconds: if key.grain == LIFETIME.grain { 0 } else { ttl },
                // The fence: from the offset of the last event in it. A
                // key's events come from one partition, so a tile folded
                // further holds every event an earlier fold of it held.
                version: streamed_version(value.offset(partition).unwrap_or_default()),
                key: key.clone(),
                value: value.encode(),
            }
        })
        .collect();
    Ok((folded, writes))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use featurestore_aggregation::{Function, Output, State};
    use featurestore_domain::fixtures;
    use featurestore_onlinestore::{RedbOnlineStore, TileRange};
    use featurestore_proto::v1::{Aggregation, AggregationFunction, ScalarType};

    use super::*;

    const MIN: i64 = 60_000_000;

    /// Rides per driver: a 1-hour count and a lifetime sum of fares.
    pub(crate) fn group() -> FeatureGroup {
        let mut g = fixtures::group("rides", "trips", "driver", &[("fare", "float64")]);
        g.aggregations = vec![
            Aggregation {
                name: "n_1h".into(),
                function: AggregationFunction::Count as i32,
                window_seconds: 3600,
                ..Default::default()
            },
            Aggregation {
                name: "fare_life".into(),
                function: AggregationFunction::Sum as i32,
                input: "fare".into(),
                ..Default::default()
            },
        ];
        let driver = fixtures::entity("rides", "driver", &[("driver_id", ScalarType::Int64)]);
        featurestore_domain::schema::normalize_feature_group(&mut g, &driver, 2).unwrap();
        g
    }

    fn event(a: &Aggregations, offset: i64, time: i64, fare: f64) -> TileEvent {
        let v = Value {
            kind: Some(featurestore_proto::v1::value::Kind::Float64Value(fare)),
        };
        TileEvent::new(a, b"k".to_vec(), (0, offset), time, &[v])
    }

    /// An embedded store with the tile table of [`group`].
    async fn setup() -> (
        tempfile::TempDir,
        Arc<RedbOnlineStore>,
        FeatureGroup,
        Aggregations,
        TileTable,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RedbOnlineStore::open(&dir.path().join("o.redb")).unwrap());
        let g = group();
        let a = Aggregations::of(&g).unwrap();
        let table = TileTable::for_group(&g);
        store.ensure_tiles(&table).await.unwrap();
        (dir, store, g, a, table)
    }

    #[tokio::test]
    async fn replayed_and_late_events_fold_once_into_their_own_tiles() {
        let (_dir, store, g, a, table) = setup().await;
        let batch = vec![event(&a, 1, 10 * MIN, 2.0), event(&a, 2, 70 * MIN, 3.0)];
        let first = fold(&*store, &g, &a, batch.clone()).await.unwrap();
        assert_eq!(first.len(), 1, "one partition");
        assert_eq!(first[&0].events, 2);
        assert!(first[&0].tiles_written >= 2);
        // Replayed whole, and then with a late event (older time, newer offset).
        let again = fold(&*store, &g, &a, batch).await.unwrap();
        assert!(again.is_empty(), "a replay folds and writes nothing");
        let late = fold(&*store, &g, &a, vec![event(&a, 3, 11 * MIN, 4.0)])
            .await
            .unwrap();
        assert_eq!(late[&0].events, 1);

        let life = store
            .get_tiles(
                &table,
                &[TileKey {
                    entity_key: b"k".to_vec(),
                    grain: 0,
                    start: 0,
                }],
            )
            .await
            .unwrap();
        let life = TileValue::decode(life[0].as_ref().unwrap()).unwrap();
        let mut sum = State::new(Function::Sum);
        life.merge_into(1, &mut sum);
        assert_eq!(sum.output(Function::Sum), Output::Float(9.0));
        let five = store
            .scan_tiles(
                &table,
                &[b"k".to_vec()],
                &[TileRange {
                    grain: 5 * MIN,
                    from: 0,
                    to: 120 * MIN,
                }],
            )
            .await
            .unwrap();
        let counts: Vec<(i64, u64)> = five[0]
            .iter()
            .map(|t| (t.start / MIN, TileValue::decode(&t.value).unwrap().events()))
            .collect();
        assert_eq!(counts, vec![(10, 2), (70, 1)]);
    }

    /// A materializer deposed by a rebalance read the tiles before the new
    /// owner folded further; its late write of the older fold is fenced off
    /// by the tiles' versions, and the new owner's events stay counted.
    #[tokio::test]
    async fn a_deposed_materializers_late_write_cannot_undo_a_newer_fold() {
        let (_dir, store, g, a, table) = setup().await;
        let events: Vec<TileEvent> = (1..=5).map(|o| event(&a, o, 10 * MIN, 1.0)).collect();
        // The deposed owner's fold of offsets 1..=3, computed from the empty
        // tile it read, written after the new owner's fold of 1..=5.
        let mut stale = TileValue::default();
        for e in &events[..3] {
            let features = a.features.iter().zip(&e.inputs);
            stale.fold(
                features.map(|(f, x)| (f.index, f.function, *x)),
                e.time,
                e.seq,
            );
        }
        fold(&*store, &g, &a, events).await.unwrap();
        let lifetime = TileKey {
            entity_key: b"k".to_vec(),
            grain: 0,
            start: 0,
        };
        store
            .put_tiles(
                &table,
                &[TileWrite {
                    key: lifetime.clone(),
                    value: stale.encode(),
                    ttl_seconds: 0,
                    version: streamed_version(stale.offset(0).unwrap()),
                }],
            )
            .await
            .unwrap();
        let stored = store.get_tiles(&table, &[lifetime]).await.unwrap();
        let stored = TileValue::decode(stored[0].as_ref().unwrap()).unwrap();
        assert_eq!(stored.events(), 5, "the newer fold stays");
        assert_eq!(stored.offset(0), Some(5));
    }

    /// A fold whose read is older than the fold deadline when it would
    /// write reads again: a correction written meanwhile is folded into,
    /// not overwritten by the fold of the older read.
    #[tokio::test]
    async fn a_fold_that_read_too_long_ago_reads_again() {
        let dir = tempfile::tempdir().unwrap();
        let inner = RedbOnlineStore::open(&dir.path().join("o.redb")).unwrap();
        let store = crate::gated_store::GatedStore::new(inner, false);
        let g = group();
        let a = Aggregations::of(&g).unwrap();
        let table = TileTable::for_group(&g);
        store.ensure_tiles(&table).await.unwrap();
        fold(&store, &g, &a, vec![event(&a, 1, 10 * MIN, 1.0)])
            .await
            .unwrap();
        let lifetime = TileKey {
            entity_key: b"k".to_vec(),
            grain: 0,
            start: 0,
        };
        // What a correction finds the lifetime tile should hold: offsets
        // 0 and 1 (the stream missed the first).
        let mut corrected = TileValue::default();
        for e in [event(&a, 0, 5 * MIN, 10.0), event(&a, 1, 10 * MIN, 1.0)] {
            fold_event(&a, &mut corrected, LIFETIME, &e);
        }
        corrected.account_up_to(0, 1);
        *store.slow_read.lock().unwrap() = Some(FOLD_DEADLINE + Duration::from_millis(200));
        let mut reads = store.reads.subscribe();
        let correction = async {
            reads.changed().await.unwrap();
            store
                .put_tiles(
                    &table,
                    &[TileWrite {
                        key: lifetime.clone(),
                        value: corrected.encode(),
                        ttl_seconds: 0,
                        version: featurestore_aggregation::tile_value::corrected_version(1),
                    }],
                )
                .await
                .unwrap();
        };
        let streamed = fold(&store, &g, &a, vec![event(&a, 2, 20 * MIN, 100.0)]);
        let ((), streamed) = tokio::join!(correction, streamed);
        assert_eq!(streamed.unwrap()[&0].events, 1);
        let stored = store.get_tiles(&table, &[lifetime]).await.unwrap();
        let stored = TileValue::decode(stored[0].as_ref().unwrap()).unwrap();
        let mut sum = State::new(Function::Sum);
        stored.merge_into(1, &mut sum);
        assert_eq!(sum.output(Function::Sum), Output::Float(111.0));
    }
}
