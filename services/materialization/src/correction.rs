//! Tile corrections: the tiles of a time range recomputed from the event
//! group's Delta table, compared with the online store, and those that
//! differ replaced, while the stream goes on folding into the same tiles.
//!
//! **The boundary is the log offset.** A pass first reads, per partition,
//! the next offset the Delta table holds (`O_p`: every event of `p` before
//! it is in the table, once) and folds only those events, so the tiles it
//! computes hold exactly the events before `O_p`. A stored tile that holds
//! an event at or after `O_p` (the stream got there first: Delta commits
//! follow online writes) is left for the next pass, which reads a newer
//! snapshot. Any other stored tile holds a subset of those events, so it is
//! replaced by the recomputed one, which records the events up to `O_p − 1`
//! as folded (a replay of them is skipped) and is written with the version
//! `corrected_version(O_p − 1)`: above any fold of those events by the
//! stream, below the stream's fold of any later event. A stream write that
//! read the old tile and lands after the correction therefore wins — no
//! event is lost, but the correction is undone. A stream fold sends its
//! writes within a deadline of its read (`tiles::FOLD_DEADLINE`), so every
//! such write has landed `tiles::STREAM_WRITES_LAND_WITHIN` after the
//! correction's: the correction reads its tiles back no sooner, and
//! retries a tile it finds replaced in the next pass. Tiles still left
//! after the last pass are reported as deferred, never silently skipped.
//!
//! The range is widened to whole tiles of the coarsest grain, so every
//! grain tile in it is recomputed whole. Lifetime tiles are compared only
//! when the range holds every event of the snapshot (a correction of the
//! whole history: what fills an aggregation added in place). Grain tiles
//! that would have expired (their end plus the tile TTL is past) are
//! neither compared nor written. The keys visited are those with events in
//! the range: a key whose stored tiles hold events the offline table does
//! not have in the range at all is not visited.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    time::Duration,
};

use tokio::time::Instant;
use xxhash_rust::xxh3::xxh3_64;

use featurestore_aggregation::{
    Function, Tile, TileValue,
    drift::{Difference, difference},
    tile_value::corrected_version,
};
use featurestore_domain::{aggregation::Aggregations, names::topic_name};
use featurestore_offlinestore::{DeltaStore, OfflineStoreError, OfflineTable};
use featurestore_onlinestore::{OnlineStore, TileKey, TileRange, TileTable, TileWrite};
use featurestore_proto::v1::{DriftReport, FeatureGroup};

use crate::{
    history,
    tiles::{LIFETIME, TileEvent, fold_event, tiles_of},
};

/// Most keys read, compared and written together…
const KEYS_PER_ROUND: usize = 500;
/// …most events folded for them (at least one key's)…
const EVENTS_PER_ROUND: usize = 200_000;
/// …and most grain tiles those events can make (each event makes at most
/// one per grain). A round holds its recomputed and stored tiles, their
/// encodings and the write transaction's pages at once (about 3 KB per
/// tile of eight features): rounds of this size keep that near 100 MB, and
/// the memory of one round is reused by the next instead of the process
/// growing by the whole history's tiles (faulting fresh pages in was a
/// fifth of a windowed bootstrap's CPU).
const TILES_PER_ROUND: usize = 32_768;

/// What a correction works on.
pub struct Correction<'a> {
    pub online: &'a dyn OnlineStore,
    pub offline: &'a DeltaStore,
    /// The materialization consumer whose offsets the Delta table records.
    pub consumer: &'a str,
    /// Partitions of the group's topic.
    pub partitions: i32,
    pub group: &'a FeatureGroup,
    pub aggregations: &'a Aggregations,
    /// Most events of the table held in memory at once (keys are split
    /// into as many hash buckets as that takes, each a scan of the table).
    pub max_events: u64,
    /// Whether the grain tiles are recomputed and compared. False only for
    /// the bootstrap of lifetime aggregations, which live in the lifetime
    /// tiles alone: the grain tiles of the whole history would be folded
    /// and compared for nothing.
    pub grain_tiles: bool,
    /// How long after replacing a tile the correction reads it back:
    /// [`crate::tiles::STREAM_WRITES_LAND_WITHIN`] (less only in tests that control the
    /// stream).
    pub settle: Duration,
}

/// How hard a correction retries tiles the stream keeps ahead of Delta.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Passes in all (the first included).
    pub passes: usize,
    /// How long a pass waits for the Delta table to move before the next.
    pub wait: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            passes: 6,
            wait: Duration::from_secs(10),
        }
    }
}

/// The events of one key a pass folds, and the tiles they make.
#[derive(Default)]
struct KeyTiles {
    partition: i32,
    tiles: BTreeMap<Tile, TileValue>,
}

/// What a pass decides about one stored tile.
enum Verdict {
    Agrees,
    Replace(Difference),
    /// The stream holds events the snapshot lacks.
    Later,
}

/// A correction's events of a table of `rows` events are split into at
/// least this many per part when replicas share it (fewer rows: one part,
/// unless the memory budget asks for more).
const EVENTS_PER_SHARED_PART: u64 = 100_000;

/// How many parts a correction is split into: as many as the memory
/// budget needs, and when replicas share it (`shared`) one per
/// `EVENTS_PER_SHARED_PART` events up to the number of partitions of the
/// topic (the most replicas that consume it). Each part scans the table
/// once, so a sole replica splits only as memory asks.
pub async fn parts(c: &Correction<'_>, shared: bool) -> u32 {
    let rows = c
        .offline
        .row_count(&OfflineTable::for_group(c.group))
        .await
        .unwrap_or(0) as u64;
    let by_budget = rows.div_ceil(c.max_events.max(1));
    let by_size = if shared {
        rows.div_ceil(EVENTS_PER_SHARED_PART)
            .min(c.partitions.max(1) as u64)
    } else {
        1
    };
    u32::try_from(by_budget.max(by_size).max(1)).unwrap_or(u32::MAX)
}

/// Corrects the tiles of `[from, to)` of the keys of `part`
/// ([`Bucket::ALL`]: every key); `report` sees the counts after each round
/// of keys. Returns the final report (`finished_micros` unset).
pub async fn correct(
    c: &Correction<'_>,
    from: i64,
    to: i64,
    part: Bucket,
    retries: Retries,
    now_micros: i64,
    mut report: impl FnMut(&DriftReport),
) -> Result<DriftReport, String> {
    let coarsest = c.aggregations.grains.all().last().copied().unwrap_or(1);
    let from = from.div_euclid(coarsest) * coarsest;
    let to = to.div_euclid(coarsest) * coarsest + if to % coarsest == 0 { 0 } else { coarsest };
    let mut drift = DriftReport {
        start_time_micros: from,
        end_time_micros: to,
        ..Default::default()
    };
    report(&drift);
    let ttl = c.aggregations.tile_ttl_seconds();
    let expired =
        |t: &Tile| t != &LIFETIME && t.end().saturating_add(ttl * 1_000_000) <= now_micros;
    let mut snapshot = snapshot(c).await?;
    // The part's keys are split again by hash so that one bucket's events
    // fit the budget; each bucket is a correction of its own (the boundary
    // holds per key and tile).
    let rows = c
        .offline
        .row_count(&OfflineTable::for_group(c.group))
        .await
        .unwrap_or(0) as u64;
    let split = (rows / u64::from(part.of.max(1)))
        .div_ceil(c.max_events.max(1))
        .max(1);
    let split = u32::try_from(split).unwrap_or(u32::MAX);
    let mut lifetime = None;
    for index in 0..split {
        let bucket = part.split(index, split);
        let range = Range {
            from,
            to,
            retries,
            expired: &expired,
            ttl,
        };
        correct_bucket(
            c,
            &range,
            bucket,
            &mut snapshot,
            &mut lifetime,
            &mut drift,
            &mut report,
        )
        .await?;
    }
    report(&drift);
    Ok(drift)
}

/// The report of a correction done in parts: counts summed, the largest
/// differences, lifetime tiles compared when every part compared them.
pub fn sum(parts: &[&DriftReport]) -> DriftReport {
    let mut total = DriftReport {
        lifetime_compared: !parts.is_empty(),
        ..Default::default()
    };
    for part in parts {
        total.start_time_micros = part.start_time_micros;
        total.end_time_micros = part.end_time_micros;
        total.events_read += part.events_read;
        total.tiles_compared += part.tiles_compared;
        total.tiles_changed += part.tiles_changed;
        total.tiles_deferred += part.tiles_deferred;
        total.max_abs_diff = total.max_abs_diff.max(part.max_abs_diff);
        total.max_rel_diff = total.max_rel_diff.max(part.max_rel_diff);
        total.lifetime_compared &= part.lifetime_compared;
        if total.started_micros == 0 || part.started_micros < total.started_micros {
            total.started_micros = part.started_micros;
        }
        total.finished_micros = total.finished_micros.max(part.finished_micros);
    }
    total
}

/// Which keys a correction works on: those whose key hash (xxh3, the same
/// in every replica and release) is `index` modulo `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub index: u32,
    pub of: u32,
}

impl Bucket {
    /// Every key.
    pub const ALL: Bucket = Bucket { index: 0, of: 1 };

    fn holds(&self, key: &[u8]) -> bool {
        self.of <= 1 || xxh3_64(key) % u64::from(self.of) == u64::from(self.index)
    }

    /// The `index`th of `n` buckets that split this one: keys whose hash is
    /// `self.index + index · self.of` modulo `self.of · n`.
    fn split(self, index: u32, n: u32) -> Bucket {
        if n <= 1 {
            return self;
        }
        let of = self.of.max(1);
        Bucket {
            index: self.index + index * of,
            of: of * n,
        }
    }
}

/// What every bucket of a correction shares.
struct Range<'a, E> {
    from: i64,
    to: i64,
    retries: Retries,
    expired: &'a E,
    ttl: i64,
}

/// The passes of one bucket: until no tile is left for the next, or the
/// last pass (what is left then counts as deferred).
async fn correct_bucket<E: Fn(&Tile) -> bool>(
    c: &Correction<'_>,
    range: &Range<'_, E>,
    bucket: Bucket,
    snapshot: &mut BTreeMap<i32, i64>,
    lifetime: &mut Option<bool>,
    drift: &mut DriftReport,
    report: &mut impl FnMut(&DriftReport),
) -> Result<(), String> {
    let Range {
        from,
        to,
        retries,
        expired,
        ttl,
    } = *range;
    // Tiles left by a pass for the next, by key.
    let mut left: Option<HashMap<Vec<u8>, HashSet<Tile>>> = None;
    for pass in 0..retries.passes.max(1) {
        let (events, outside) = events_of(c, snapshot, from, to, left.as_ref(), bucket).await?;
        let lifetime = *lifetime.get_or_insert(outside == 0 && c.aggregations.has_lifetime());
        drift.lifetime_compared = lifetime;
        if pass == 0 {
            drift.events_read += events.len() as u64;
        }
        // Keys in order, each with its events (in log order) next to each
        // other; a round folds and compares a run of keys whose events
        // stay under the budget, so only its tiles are in memory.
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for e in &events {
            if keys.last() != Some(&e.entity_key) {
                keys.push(e.entity_key.clone());
            }
        }
        if let Some(left) = &left {
            keys.extend(left.keys().cloned());
        }
        keys.sort();
        keys.dedup();
        let mut later: HashMap<Vec<u8>, HashSet<Tile>> = HashMap::new();
        let mut written = VecDeque::new();
        let round = Round {
            c,
            snapshot,
            from,
            to,
            lifetime,
            ttl,
            expired,
        };
        // A round's tiles (stored and recomputed) take far more memory than
        // its events: a tenth of the budget, and no more than
        // `TILES_PER_ROUND` grain tiles (without them, a round's tiles are
        // its keys' lifetime tiles).
        let grains = if c.grain_tiles && c.aggregations.has_windows() {
            c.aggregations.grains.all().len()
        } else {
            0
        };
        let events_per_round = usize::try_from(c.max_events / 10)
            .unwrap_or(usize::MAX)
            .min(EVENTS_PER_ROUND)
            .min(TILES_PER_ROUND.checked_div(grains).unwrap_or(usize::MAX))
            .max(1);
        let (mut key_at, mut event_at) = (0, 0);
        while key_at < keys.len() {
            let (mut key_end, mut event_end) = (key_at, event_at);
            while key_end < keys.len()
                && (key_end == key_at
                    || (key_end - key_at < KEYS_PER_ROUND
                        && event_end - event_at < events_per_round))
            {
                while events
                    .get(event_end)
                    .is_some_and(|e| e.entity_key == keys[key_end])
                {
                    event_end += 1;
                }
                key_end += 1;
            }
            let tiles = fold_all(
                c.aggregations,
                &events[event_at..event_end],
                (from, to),
                (c.grain_tiles, lifetime),
                expired,
            );
            round
                .run(
                    &keys[key_at..key_end],
                    &tiles,
                    left.as_ref(),
                    drift,
                    &mut later,
                    &mut written,
                )
                .await?;
            read_back(c, &mut written, false, drift, &mut later).await?;
            report(drift);
            (key_at, event_at) = (key_end, event_end);
        }
        read_back(c, &mut written, true, drift, &mut later).await?;
        report(drift);
        if later.is_empty() {
            return Ok(());
        }
        if pass + 1 == retries.passes.max(1) {
            drift.tiles_deferred += later.values().map(|t| t.len() as u64).sum::<u64>();
        } else {
            *snapshot = moved(c, snapshot, retries.wait).await?;
        }
        left = Some(later);
    }
    Ok(())
}

/// Per partition, the next offset the Delta table holds (0: none).
async fn snapshot(c: &Correction<'_>) -> Result<BTreeMap<i32, i64>, String> {
    let table = OfflineTable::for_group(c.group);
    let topic = topic_name(&c.group.project, &c.group.name, c.group.version);
    let offsets = match c
        .offline
        .committed_offsets(&table, c.consumer, &topic, c.partitions)
        .await
    {
        Ok(offsets) => offsets,
        // Not created yet: it holds nothing.
        Err(OfflineStoreError::UnknownTable(_)) => Vec::new(),
        Err(e) => return Err(format!("{}: {e}", table.label)),
    };
    Ok((0..c.partitions)
        .map(|p| (p, offsets.get(p as usize).copied().flatten().unwrap_or(0)))
        .collect())
}

/// The tiles a round replaced, to read back once every stream write of a
/// fold that read them before has landed.
struct Written {
    due: Instant,
    /// Per entity key, its tiles written.
    keys: Vec<(Vec<u8>, Vec<WrittenTile>)>,
    tiles: usize,
}

/// One tile written: 40 bytes while it waits (its key is its key's).
struct WrittenTile {
    tile: Tile,
    /// The xxh3 of the value written.
    value: u64,
    difference: Difference,
}

impl Written {
    /// The round's `writes` (runs of a key's tiles) and the difference
    /// each replaced.
    fn of(due: Instant, writes: &[TileWrite], differences: &[Difference]) -> Self {
        let mut keys: Vec<(Vec<u8>, Vec<WrittenTile>)> = Vec::new();
        for (w, d) in writes.iter().zip(differences) {
            if keys.last().is_none_or(|(k, _)| k != &w.key.entity_key) {
                keys.push((w.key.entity_key.clone(), Vec::new()));
            }
            keys.last_mut().expect("pushed").1.push(WrittenTile {
                tile: Tile {
                    grain: w.key.grain,
                    start: w.key.start,
                },
                value: xxh3_64(&w.value),
                difference: *d,
            });
        }
        Self {
            due,
            keys,
            tiles: writes.len(),
        }
    }
}

/// Most replaced tiles waiting to be read back (20 MB of them): past it, a
/// round waits for the oldest. Enough for several seconds of a bootstrap's
/// writes, so that the wait rarely slows one down.
const WRITTEN_TILES_WAITING: usize = 16 * TILES_PER_ROUND;

/// Reads back the rounds of `written` that are due (`all`: every one,
/// waiting until it is due; also the oldest while too many wait). A tile
/// read back as written is changed; one a stream write replaced since
/// (it folded an event into the old tile: its version is higher) is left
/// for the next pass, which sees that event in a newer snapshot.
async fn read_back(
    c: &Correction<'_>,
    written: &mut VecDeque<Written>,
    all: bool,
    drift: &mut DriftReport,
    later: &mut HashMap<Vec<u8>, HashSet<Tile>>,
) -> Result<(), String> {
    let table = TileTable::for_group(c.group);
    loop {
        let waiting: usize = written.iter().map(|w| w.tiles).sum();
        let Some(oldest) = written.front() else {
            return Ok(());
        };
        if !(all || waiting > WRITTEN_TILES_WAITING || oldest.due <= Instant::now()) {
            return Ok(());
        }
        tokio::time::sleep_until(oldest.due).await;
        let Written { keys, .. } = written.pop_front().expect("the oldest");
        let tile_keys: Vec<TileKey> = keys
            .iter()
            .flat_map(|(key, tiles)| {
                tiles.iter().map(|t| TileKey {
                    entity_key: key.clone(),
                    grain: t.tile.grain,
                    start: t.tile.start,
                })
            })
            .collect();
        let back = c
            .online
            .get_tiles(&table, &tile_keys)
            .await
            .map_err(|e| e.to_string())?;
        let mut back = back.into_iter();
        for (key, tiles) in keys {
            for (t, back) in tiles.into_iter().zip(&mut back) {
                if back.is_some_and(|b| xxh3_64(&b) == t.value) {
                    drift.tiles_changed += 1;
                    drift.max_abs_diff = drift.max_abs_diff.max(t.difference.abs);
                    drift.max_rel_diff = drift.max_rel_diff.max(t.difference.rel);
                } else {
                    drift.tiles_compared -= 1;
                    later.entry(key.clone()).or_default().insert(t.tile);
                }
            }
        }
    }
}

/// A newer snapshot than `old`, or `old` once `wait` has passed.
async fn moved(
    c: &Correction<'_>,
    old: &BTreeMap<i32, i64>,
    wait: Duration,
) -> Result<BTreeMap<i32, i64>, String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let now = snapshot(c).await?;
        if &now != old || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The snapshot's events to fold, by key and in log order per key: those
/// in `[from, to)`, and
/// on a retry (`only`) every event of the keys left (their lifetime tiles
/// need them all); with the count of the snapshot's events outside the
/// range.
async fn events_of(
    c: &Correction<'_>,
    snapshot: &BTreeMap<i32, i64>,
    from: i64,
    to: i64,
    only: Option<&HashMap<Vec<u8>, HashSet<Tile>>>,
    bucket: Bucket,
) -> Result<(Vec<TileEvent>, u64), String> {
    if snapshot.values().all(|next| *next == 0) {
        return Ok((Vec::new(), 0));
    }
    let key = |key: &[u8]| bucket.holds(key) && only.is_none_or(|only| only.contains_key(key));
    let wanted = history::Wanted {
        before: snapshot,
        times: (from, to),
        all_times: only.is_some(),
        key: &key,
    };
    let (events, outside) = history::events(c.offline, c.group, c.aggregations, &wanted).await?;
    Ok((by_key(events), outside))
}

/// `events` by key (keys in byte order), in log order per key. Sorted as
/// integers — each key's rank among the keys, then its log position — not
/// by comparing keys: a table has few keys and many events each, and
/// comparing their bytes was most of a lifetime bootstrap's CPU.
fn by_key(events: Vec<TileEvent>) -> Vec<TileEvent> {
    let (keys, of_event) = crate::tiles::key_places(&events);
    let mut keys: Vec<(&[u8], u32)> = keys.into_iter().zip(0..).collect();
    keys.sort_unstable();
    let mut rank = vec![0u32; keys.len()];
    for (at, (_, id)) in keys.iter().enumerate() {
        rank[*id as usize] = at as u32;
    }
    let mut order: Vec<(u32, (i32, i64), u32)> = events
        .iter()
        .zip(&of_event)
        .enumerate()
        .map(|(at, (e, id))| (rank[*id as usize], e.seq, at as u32))
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<TileEvent>> = events.into_iter().map(Some).collect();
    order
        .iter()
        .map(|(_, _, at)| slots[*at as usize].take().expect("each event once"))
        .collect()
}

/// Folds `events` (by key, in log order per key) into the tiles of their
/// keys: when `grain_tiles`, the grain tiles of events in `[from, to)` that
/// have not expired; the lifetime tiles when `lifetime`.
fn fold_all(
    aggregations: &Aggregations,
    events: &[TileEvent],
    (from, to): (i64, i64),
    (grain_tiles, lifetime): (bool, bool),
    expired: &impl Fn(&Tile) -> bool,
) -> HashMap<Vec<u8>, KeyTiles> {
    let mut keys: HashMap<Vec<u8>, KeyTiles> = HashMap::new();
    // Events come by key: one look-up (and one copy of the key) per key.
    for run in events.chunk_by(|a, b| a.entity_key == b.entity_key) {
        let key = keys.entry(run[0].entity_key.clone()).or_default();
        for e in run {
            let inside = (from..to).contains(&e.time);
            key.partition = e.seq.0;
            for t in tiles_of(aggregations, e.time) {
                let wanted = if t == LIFETIME {
                    lifetime
                } else {
                    grain_tiles && inside && !expired(&t)
                };
                if wanted {
                    fold_event(aggregations, key.tiles.entry(t).or_default(), t, e);
                }
            }
        }
    }
    keys
}

/// One round of keys of a pass.
struct Round<'a, 'c, E> {
    c: &'a Correction<'c>,
    snapshot: &'a BTreeMap<i32, i64>,
    from: i64,
    to: i64,
    lifetime: bool,
    ttl: i64,
    expired: &'a E,
}

impl<E: Fn(&Tile) -> bool> Round<'_, '_, E> {
    /// Compares the stored tiles of `chunk` with the recomputed ones and
    /// replaces those that differ, to be read back later (`written`);
    /// counts into `drift` and leaves in `later` what the next pass must
    /// look at again.
    async fn run(
        &self,
        chunk: &[Vec<u8>],
        keys: &HashMap<Vec<u8>, KeyTiles>,
        only: Option<&HashMap<Vec<u8>, HashSet<Tile>>>,
        drift: &mut DriftReport,
        later: &mut HashMap<Vec<u8>, HashSet<Tile>>,
        written: &mut VecDeque<Written>,
    ) -> Result<(), String> {
        let table = TileTable::for_group(self.c.group);
        let mut ranges: Vec<TileRange> = Vec::new();
        if self.c.aggregations.has_windows() && self.c.grain_tiles {
            ranges.extend(
                self.c
                    .aggregations
                    .grains
                    .all()
                    .iter()
                    .map(|&grain| TileRange {
                        grain,
                        from: self.from,
                        to: self.to,
                    }),
            );
        }
        if self.lifetime {
            ranges.push(TileRange {
                grain: LIFETIME.grain,
                from: LIFETIME.start,
                to: LIFETIME.start + 1,
            });
        }
        let stored = self
            .c
            .online
            .scan_tiles(&table, chunk, &ranges)
            .await
            .map_err(|e| e.to_string())?;
        let empty = KeyTiles::default();
        let no_events = TileValue::default();
        let mut writes = Vec::new();
        let mut differences = Vec::new();
        for (key, stored) in chunk.iter().zip(stored) {
            let computed = keys.get(key).unwrap_or(&empty);
            let mut online: BTreeMap<Tile, Vec<u8>> = stored
                .into_iter()
                .map(|s| {
                    let tile = Tile {
                        grain: s.grain,
                        start: s.start,
                    };
                    (tile, s.value)
                })
                .filter(|(t, _)| !(self.expired)(t))
                .collect();
            let mut tiles: Vec<Tile> = computed
                .tiles
                .keys()
                .chain(online.keys())
                .copied()
                .collect();
            tiles.sort();
            tiles.dedup();
            for tile in tiles {
                // A retry looks only at the tiles left for it.
                if only.is_some_and(|only| !only.get(key).is_some_and(|w| w.contains(&tile))) {
                    continue;
                }
                let truth = computed.tiles.get(&tile).unwrap_or(&no_events);
                let bytes = online.remove(&tile);
                let (verdict, partition) = self.judge(&tile, computed, bytes.as_deref(), truth);
                match verdict {
                    Verdict::Later => {
                        later.entry(key.clone()).or_default().insert(tile);
                    }
                    Verdict::Agrees => drift.tiles_compared += 1,
                    Verdict::Replace(d) => {
                        drift.tiles_compared += 1;
                        let next = self.snapshot.get(&partition).copied().unwrap_or(0);
                        let mut value = truth.clone();
                        value.account_up_to(partition, next - 1);
                        writes.push(TileWrite {
                            key: TileKey {
                                entity_key: key.clone(),
                                grain: tile.grain,
                                start: tile.start,
                            },
                            value: value.encode(),
                            ttl_seconds: if tile == LIFETIME { 0 } else { self.ttl },
                            version: corrected_version(next - 1),
                        });
                        differences.push(d);
                    }
                }
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.c
            .online
            .put_tiles(&table, &writes)
            .await
            .map_err(|e| e.to_string())?;
        written.push_back(Written::of(
            Instant::now() + self.c.settle,
            &writes,
            &differences,
        ));
        Ok(())
    }

    /// What to do with one stored tile (`bytes`, `None`: none) given the
    /// recomputed `truth`; with the partition of the key's events.
    fn judge(
        &self,
        tile: &Tile,
        computed: &KeyTiles,
        bytes: Option<&[u8]>,
        truth: &TileValue,
    ) -> (Verdict, i32) {
        // The common case, cheaply: the stream folded exactly these events
        // in the same order, so the tile is the same bytes.
        if !computed.tiles.is_empty() && bytes.is_some_and(|b| b == truth.encode()) {
            return (Verdict::Agrees, computed.partition);
        }
        let stored = bytes.map(TileValue::decode);
        let partition = match (&stored, computed.tiles.is_empty()) {
            (_, false) => computed.partition,
            (Some(Ok(v)), true) => match v.offsets().first() {
                Some((p, _)) => *p,
                // A stored tile without events: nothing to correct.
                None => return (Verdict::Agrees, 0),
            },
            // Unreadable, and no event of the key in the snapshot: the
            // partition is unknown; the key's events decide next time.
            (_, true) => return (Verdict::Later, 0),
        };
        let next = self.snapshot.get(&partition).copied().unwrap_or(0);
        let features: Vec<(usize, Function)> = self
            .c
            .aggregations
            .features
            .iter()
            .filter(|f| f.window.is_none() == (tile == &LIFETIME))
            .map(|f| (f.index, f.function))
            .collect();
        match stored {
            Some(Ok(v))
                if v.offsets()
                    .iter()
                    .any(|&(p, o)| p == partition && o >= next) =>
            {
                (Verdict::Later, partition)
            }
            // Nothing of the partition in Delta yet, and nothing stored.
            _ if next == 0 => (Verdict::Later, partition),
            Some(Ok(v)) => match difference(&features, Some(&v), truth) {
                None => (Verdict::Agrees, partition),
                Some(d) => (Verdict::Replace(d), partition),
            },
            // A tile that does not decode is replaced whatever it held.
            Some(Err(_)) => (
                Verdict::Replace(Difference { abs: 0.0, rel: 1.0 }),
                partition,
            ),
            None => match difference(&features, None, truth) {
                None => (Verdict::Agrees, partition),
                Some(d) => (Verdict::Replace(d), partition),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use featurestore_domain::EntityKeyEncoder;
    use featurestore_offlinestore::OfflineRow;
    use featurestore_onlinestore::RedbOnlineStore;
    use featurestore_proto::v1::{Value, value::Kind};

    use featurestore_aggregation::tile_value::streamed_version;

    use super::*;
    use crate::{gated_store::GatedStore, tiles::fold};

    const MIN: i64 = 60_000_000;
    /// The events' day (midnight UTC, late 2026).
    const DAY0: i64 = 1_796_000_000_000_000 - 1_796_000_000_000_000 % (1440 * MIN);
    const CONSUMER: &str = "materializer";

    struct Setup {
        _dir: tempfile::TempDir,
        online: GatedStore,
        offline: DeltaStore,
        group: FeatureGroup,
        aggregations: Aggregations,
        key: Vec<u8>,
        max_events: u64,
        grain_tiles: bool,
        settle: Duration,
        /// How long a pass waits for the table to move.
        wait: Duration,
    }

    /// A group of rides per driver: a 1-hour count and a lifetime sum of
    /// fares, on an embedded online store and a local Delta table.
    async fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let online = GatedStore::new(
            RedbOnlineStore::open(&dir.path().join("o.redb")).unwrap(),
            false,
        );
        let offline = DeltaStore::new(dir.path().join("delta").to_str().unwrap()).unwrap();
        let group = crate::tiles::tests::group();
        let aggregations = Aggregations::of(&group).unwrap();
        online
            .ensure_tiles(&TileTable::for_group(&group))
            .await
            .unwrap();
        offline
            .ensure_table(&OfflineTable::for_group(&group))
            .await
            .unwrap();
        let key = EntityKeyEncoder::new(&group.primary_key)
            .encode([Some(&Kind::Int64Value(7))])
            .unwrap();
        Setup {
            _dir: dir,
            online,
            offline,
            group,
            aggregations,
            key,
            max_events: u64::MAX,
            grain_tiles: true,
            // No stream runs beside these corrections unless a test
            // runs one (and sets how long its writes take to land).
            settle: Duration::ZERO,
            wait: Duration::from_millis(10),
        }
    }

    fn float(x: f64) -> Value {
        Value {
            kind: Some(Kind::Float64Value(x)),
        }
    }

    /// Rides of driver 7 at `DAY0 + minutes`, fares 1, 2, 3…, at offsets
    /// `first..` of partition 0.
    fn rides(first: i64, minutes: &[i64]) -> Vec<OfflineRow> {
        minutes
            .iter()
            .enumerate()
            .map(|(i, m)| OfflineRow {
                key_values: vec![Value {
                    kind: Some(Kind::Int64Value(7)),
                }],
                event_time_micros: DAY0 + m * MIN,
                feature_values: vec![float(first as f64 + i as f64 + 1.0)],
                ingest_time_micros: DAY0,
                partition: 0,
                offset: first + i as i64,
            })
            .collect()
    }

    impl Setup {
        fn correction(&self) -> Correction<'_> {
            Correction {
                online: &self.online,
                offline: &self.offline,
                consumer: CONSUMER,
                partitions: 1,
                group: &self.group,
                aggregations: &self.aggregations,
                max_events: self.max_events,
                grain_tiles: self.grain_tiles,
                settle: self.settle,
            }
        }

        /// What the stream does with `rows`: folds them into the tiles.
        async fn stream(&self, rows: &[OfflineRow]) {
            let events = rows
                .iter()
                .map(|r| {
                    TileEvent::new(
                        &self.aggregations,
                        self.key.clone(),
                        (r.partition, r.offset),
                        r.event_time_micros,
                        &r.feature_values,
                    )
                })
                .collect();
            fold(&self.online, &self.group, &self.aggregations, events)
                .await
                .unwrap();
        }

        /// What the Delta writer does with `rows`.
        async fn commit(&self, rows: &[OfflineRow]) {
            let topic = topic_name(&self.group.project, &self.group.name, self.group.version);
            self.offline
                .append(
                    &OfflineTable::for_group(&self.group),
                    CONSUMER,
                    &topic,
                    rows,
                )
                .await
                .unwrap();
        }

        async fn correct(&self, passes: usize) -> DriftReport {
            self.correct_part(passes, Bucket::ALL).await
        }

        async fn correct_part(&self, passes: usize, part: Bucket) -> DriftReport {
            let retries = Retries {
                passes,
                wait: self.wait,
            };
            correct(
                &self.correction(),
                DAY0,
                DAY0 + 1440 * MIN,
                part,
                retries,
                DAY0,
                |_| {},
            )
            .await
            .unwrap()
        }

        async fn tile(&self, grain: i64, start: i64) -> Option<TileValue> {
            let key = TileKey {
                entity_key: self.key.clone(),
                grain,
                start,
            };
            self.online
                .get_tiles(&TileTable::for_group(&self.group), &[key])
                .await
                .unwrap()
                .remove(0)
                .map(|b| TileValue::decode(&b).unwrap())
        }

        /// Rides at 1 and 10 minutes streamed and committed, then the hour
        /// tile at 0 overwritten as the stream would with one ride too many
        /// (returned).
        async fn two_rides_and_a_corrupt_hour(&self) -> TileValue {
            let rows = rides(0, &[1, 10]);
            self.stream(&rows).await;
            self.commit(&rows).await;
            let hour = 60 * MIN;
            let mut wrong = self.tile(hour, DAY0).await.unwrap();
            wrong.fold([(0, Function::Count, None)], DAY0, (0, 50));
            wrong.account_up_to(0, 1);
            self.put(hour, DAY0, &wrong, streamed_version(1)).await;
            wrong
        }

        async fn put(&self, grain: i64, start: i64, value: &TileValue, version: i64) {
            let write = TileWrite {
                key: TileKey {
                    entity_key: self.key.clone(),
                    grain,
                    start,
                },
                value: value.encode(),
                ttl_seconds: 0,
                version,
            };
            self.online
                .put_tiles(&TileTable::for_group(&self.group), &[write])
                .await
                .unwrap();
        }
    }

    fn count(tile: &TileValue) -> i64 {
        match tile.state(0).unwrap().output(Function::Count) {
            featurestore_aggregation::Output::Int(n) => n,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn corrupted_tiles_are_replaced_and_counted_exactly() {
        let s = setup().await;
        let rows = rides(0, &[1, 10, 70, 130]);
        s.stream(&rows).await;
        s.commit(&rows).await;
        // Stream and table agree: every tile compared, none changed.
        // Tiles: 5-min ×4, 1-hour ×3, 1-day ×1, lifetime.
        let clean = s.correct(1).await;
        assert_eq!(
            (clean.tiles_compared, clean.tiles_changed, clean.events_read),
            (9, 0, 4),
            "{clean:?}"
        );
        assert!(clean.lifetime_compared);
        // Corrupt two tiles: the first hour counts 5 events, the lifetime
        // tile lost its fares.
        let hour = 60 * MIN;
        let truth_hour = s.tile(hour, DAY0).await.unwrap();
        let truth_life = s.tile(0, 0).await.unwrap();
        let mut wrong_hour = truth_hour.clone();
        for offset in 100..103 {
            wrong_hour.fold([(0, Function::Count, None)], DAY0, (0, offset));
        }
        wrong_hour.account_up_to(0, 1);
        // (Written as the stream would have: its version, so they take.)
        s.put(hour, DAY0, &wrong_hour, streamed_version(1)).await;
        s.put(0, 0, &TileValue::default(), streamed_version(3))
            .await;
        let fixed = s.correct(1).await;
        assert_eq!(
            (
                fixed.tiles_compared,
                fixed.tiles_changed,
                fixed.tiles_deferred
            ),
            (9, 2, 0),
            "{fixed:?}"
        );
        // Lifetime sum 0 where 1+2+3+4 = 10 is right.
        assert_eq!((fixed.max_abs_diff, fixed.max_rel_diff), (10.0, 1.0));
        let features = [(0, Function::Count)];
        assert_eq!(
            difference(&features, s.tile(hour, DAY0).await.as_ref(), &truth_hour),
            None
        );
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 2);
        let life = [(1, Function::Sum)];
        assert_eq!(
            difference(&life, s.tile(0, 0).await.as_ref(), &truth_life),
            None
        );
        // A replay of the corrected events is skipped; a new one counts.
        s.stream(&rows).await;
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 2);
        s.stream(&rides(4, &[20])).await;
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 3);
    }

    /// The bootstrap of lifetime aggregations recomputes the lifetime tiles
    /// only: a wrong grain tile is neither compared nor touched (a
    /// correction of the range fixes it), the lifetime tile is fixed.
    #[tokio::test]
    async fn a_lifetime_only_correction_leaves_grain_tiles_alone() {
        let mut s = setup().await;
        let rows = rides(0, &[1, 10, 70, 130]);
        s.stream(&rows).await;
        s.commit(&rows).await;
        let hour = 60 * MIN;
        let mut wrong_hour = s.tile(hour, DAY0).await.unwrap();
        wrong_hour.fold([(0, Function::Count, None)], DAY0, (0, 100));
        wrong_hour.account_up_to(0, 1);
        s.put(hour, DAY0, &wrong_hour, streamed_version(1)).await;
        s.put(0, 0, &TileValue::default(), streamed_version(3))
            .await;
        s.grain_tiles = false;
        let fixed = s.correct(1).await;
        assert_eq!(
            (fixed.tiles_compared, fixed.tiles_changed, fixed.events_read),
            (1, 1, 4),
            "{fixed:?}"
        );
        assert!(fixed.lifetime_compared);
        assert_eq!(s.tile(hour, DAY0).await.unwrap(), wrong_hour);
        assert_eq!((fixed.max_abs_diff, fixed.max_rel_diff), (10.0, 1.0));
        // The correction of the range finds it.
        s.grain_tiles = true;
        let fixed = s.correct(1).await;
        assert_eq!(
            (fixed.tiles_compared, fixed.tiles_changed),
            (9, 1),
            "{fixed:?}"
        );
    }

    /// A table larger than the budget is read once per hash bucket of
    /// keys, each bucket corrected on its own: the same result.
    #[tokio::test]
    async fn a_table_larger_than_the_budget_is_corrected_bucket_by_bucket() {
        let mut s = setup().await;
        s.max_events = 1;
        let rows = rides(0, &[1, 10, 70, 130]);
        s.stream(&rows).await;
        s.commit(&rows).await;
        // (Counted from the commit statistics.)
        let table = OfflineTable::for_group(&s.group);
        assert_eq!(s.offline.row_count(&table).await.unwrap(), 4);
        s.put(0, 0, &TileValue::default(), streamed_version(3))
            .await;
        let fixed = s.correct(1).await;
        assert_one_of_four_fixed(&fixed);
    }

    /// The report of the rides at 1, 10, 70 and 130 minutes with the
    /// 5-minute tile at 0 emptied: that tile replaced, lifetime compared.
    fn assert_one_of_four_fixed(fixed: &DriftReport) {
        assert_eq!(
            (
                fixed.tiles_compared,
                fixed.tiles_changed,
                fixed.events_read,
                fixed.max_abs_diff
            ),
            (9, 1, 4, 10.0),
            "{fixed:?}"
        );
        assert!(fixed.lifetime_compared, "{fixed:?}");
    }

    /// Replicas correct a part each: the parts' reports add up to the
    /// report of the whole.
    #[tokio::test]
    async fn a_correction_done_in_parts_adds_up_to_the_whole() {
        let s = setup().await;
        let rows = rides(0, &[1, 10, 70, 130]);
        s.stream(&rows).await;
        s.commit(&rows).await;
        s.put(0, 0, &TileValue::default(), streamed_version(3))
            .await;
        let mut reports = Vec::new();
        for index in 0..3 {
            reports.push(s.correct_part(1, Bucket { index, of: 3 }).await);
        }
        assert_one_of_four_fixed(&sum(&reports.iter().collect::<Vec<_>>()));
        // The one key is in one part: the others found nothing.
        assert_eq!(reports.iter().filter(|r| r.events_read > 0).count(), 1);
        assert_eq!(s.correct(1).await.tiles_changed, 0);
    }

    /// Events by key in byte order, each key's in log order: the order
    /// the rounds walk them in.
    #[test]
    fn events_come_by_key_then_log_position() {
        let keys: [&[u8]; 4] = [b"b", b"a\xff", b"a", b"ab"];
        let events: Vec<TileEvent> = (0..400i64)
            .map(|i| TileEvent {
                entity_key: keys[(i * 7 % 4) as usize].to_vec(),
                seq: ((i % 3) as i32, (i * 7919) % 1000),
                time: i,
                inputs: Vec::new(),
            })
            .collect();
        let mut want = events.clone();
        want.sort_by(|a, b| (&a.entity_key, a.seq).cmp(&(&b.entity_key, b.seq)));
        assert_eq!(by_key(events), want);
        assert!(by_key(Vec::new()).is_empty());
    }

    #[test]
    fn the_buckets_of_a_part_share_its_keys_out_once() {
        let keys: Vec<[u8; 4]> = (0..2_000u32).map(u32::to_be_bytes).collect();
        for of in 1..5 {
            for key in &keys {
                let parts = (0..of).filter(|&index| Bucket { index, of }.holds(key));
                assert_eq!(parts.count(), 1);
            }
            for index in 0..of {
                let part = Bucket { index, of };
                let held = keys.iter().filter(|k| part.holds(&k[..])).count();
                // xxh3 spreads 2,000 keys evenly enough.
                assert!(held * of as usize > 1_500, "{part:?} holds {held}");
                for n in 1..4 {
                    for key in &keys {
                        let holding = (0..n).filter(|&j| part.split(j, n).holds(key)).count();
                        assert_eq!(holding, usize::from(part.holds(key)), "{part:?} / {n}");
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn a_tile_the_stream_folded_past_the_table_waits_for_the_table() {
        let s = setup().await;
        let rows = rides(0, &[1, 10, 70]);
        s.stream(&rows).await;
        s.commit(&rows[..2]).await;
        // The 1-hour tile at 70 minutes (and its 5-minute and the day and
        // lifetime tiles) hold offset 2, which the table does not yet.
        let early = s.correct(2).await;
        assert_eq!(early.tiles_deferred, 4, "{early:?}");
        assert_eq!(early.tiles_changed, 0, "{early:?}");
        assert_eq!(early.tiles_compared, 3, "{early:?}");
        s.commit(&rows[2..]).await;
        let late = s.correct(1).await;
        assert_eq!(
            (late.tiles_deferred, late.tiles_changed, late.tiles_compared),
            (0, 0, 7),
            "{late:?}"
        );
    }

    #[tokio::test]
    async fn a_stream_write_after_the_correction_keeps_its_event() {
        let s = setup().await;
        let hour = 60 * MIN;
        // A corrupt tile, replaced by the correction…
        let wrong = s.two_rides_and_a_corrupt_hour().await;
        let fixed = s.correct(1).await;
        assert_eq!(fixed.tiles_changed, 1, "{fixed:?}");
        // …and a deposed stream write of the old fold, late: ignored.
        s.put(hour, DAY0, &wrong, streamed_version(1)).await;
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 2);
        // The stream's next event folds on top of the corrected tile.
        s.stream(&rides(2, &[30])).await;
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 3);
    }

    /// The race a loaded machine runs: the stream reads a corrupt tile, the
    /// correction replaces it, and the stream's write of the corrupt tile
    /// with a new event lands after (its version is higher). The correction
    /// reads back only once such writes have landed, finds the tile
    /// replaced, and corrects it again with the new event: the tile ends
    /// true, not corrupt.
    #[tokio::test]
    async fn a_correction_undone_by_a_racing_stream_write_is_done_again() {
        let mut s = setup().await;
        let hour = 60 * MIN;
        s.two_rides_and_a_corrupt_hour().await;
        s.online.fold_writes = Some(tokio::sync::Semaphore::new(0));
        s.settle = Duration::from_millis(500);
        s.wait = Duration::from_secs(30);
        let (mut reads, mut corrections) =
            (s.online.reads.subscribe(), s.online.corrections.subscribe());
        let late = rides(2, &[30]);
        let stream = async {
            // Reads the corrupt hour tile, writes when let through.
            s.stream(&late).await;
            s.commit(&late).await;
        };
        let correction = async {
            reads.changed().await.unwrap();
            s.correct(3).await
        };
        let release = async {
            corrections.changed().await.unwrap();
            // The stream's write lands a moment after the correction's.
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.online.fold_writes.as_ref().unwrap().add_permits(1);
        };
        let ((), fixed, ()) = tokio::join!(stream, correction, release);
        assert_eq!(count(&s.tile(hour, DAY0).await.unwrap()), 3, "{fixed:?}");
        assert_eq!(
            (fixed.tiles_changed, fixed.tiles_deferred),
            (1, 0),
            "{fixed:?}"
        );
    }
}
