//! Serving aggregated features: the tiles of each key's windows, read in
//! one range read per grain, merged per feature at the request time.
//!
//! The value at request time T of a feature with window W covers the events
//! with event time in `[E − W, E)`, E the end of the feature's finest-grain
//! tile holding T (`featurestore_aggregation::tiles`, the one place the
//! rule is defined). A key whose lifetime tile is missing never had an
//! event: NOT_FOUND. Otherwise an empty window gives count and sum 0 and
//! the other functions null (status NULL).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use featurestore_aggregation::{State, Tile, TileValue};
use featurestore_domain::aggregation::{AggregatedFeature, output_value};
use featurestore_onlinestore::{OnlineStoreError, StoredTile, TileRange};
use featurestore_proto::v1::Value;

use crate::error::ServingError;

/// The lifetime tile (grain 0, start 0), as materialization keeps it.
const LIFETIME: Tile = Tile { grain: 0, start: 0 };

/// The values of a group's aggregated features for one key (`None`: the
/// key never had an event; a `None` value is null).
pub type KeyValues = Option<Vec<Option<Value>>>;

/// An aggregated feature of a plan, and where its value goes.
#[derive(Debug, Clone)]
pub struct AggregateOutput {
    pub feature: AggregatedFeature,
    pub position: usize,
    /// Its history is being computed (`FEATURE_STATUS_BACKFILLING`).
    pub backfilling: bool,
}

/// The tiles each output reads at `at`, and the ranges that hold
/// them: per grain, the runs of adjacent or shared tiles (a long window's
/// fine tiles at its two edges are two short ranges, not one that spans it).
pub fn windows(outputs: &[AggregateOutput], at: i64) -> (Vec<Vec<Tile>>, Vec<TileRange>) {
    let tiles: Vec<Vec<Tile>> = outputs
        .iter()
        .map(|o| match o.feature.window {
            None => vec![LIFETIME],
            Some(w) => o
                .feature
                .grains
                .window(at, w)
                .expect("a validated window is a multiple of its grain"),
        })
        .collect();
    let mut all: Vec<Tile> = tiles.iter().flatten().copied().collect();
    all.push(LIFETIME);
    all.sort();
    all.dedup();
    let mut ranges: Vec<TileRange> = Vec::new();
    for t in all {
        match ranges.last_mut() {
            // The next tile of the same grain: the run goes on.
            Some(r) if r.grain == t.grain && t.start <= r.to - 1 + t.grain => {
                r.to = t.start + 1;
            }
            _ => ranges.push(TileRange {
                grain: t.grain,
                from: t.start,
                to: t.start + 1,
            }),
        }
    }
    (tiles, ranges)
}

/// Per tile, the outputs whose window holds it (the same for every key of
/// a request): a stored tile's states go straight to those.
#[derive(Debug)]
pub struct Readers(HashMap<Tile, Vec<usize>>);

impl Readers {
    /// From the tiles of each output ([`windows`]).
    pub fn of(windows: &[Vec<Tile>]) -> Self {
        let mut readers: HashMap<Tile, Vec<usize>> = HashMap::new();
        for (output, tiles) in windows.iter().enumerate() {
            for tile in tiles {
                readers.entry(*tile).or_default().push(output);
            }
        }
        Self(readers)
    }
}

/// What a read of `outputs` at a time asks the store for, and who reads
/// each tile.
#[derive(Debug)]
pub struct Reading {
    /// Per output, the finest tile holding the time (`None`: lifetime):
    /// a window's tiles depend on the time through it alone.
    at: Vec<Option<i64>>,
    pub ranges: Vec<TileRange>,
    pub readers: Readers,
}

impl Reading {
    pub fn of(outputs: &[AggregateOutput], at: i64) -> Self {
        let (windows, ranges) = windows(outputs, at);
        Self {
            at: outputs.iter().map(|o| finest_tile(o, at)).collect(),
            ranges,
            readers: Readers::of(&windows),
        }
    }

    fn holds(&self, outputs: &[AggregateOutput], at: i64) -> bool {
        self.at.len() == outputs.len()
            && outputs
                .iter()
                .zip(&self.at)
                .all(|(o, t)| finest_tile(o, at) == *t)
    }
}

fn finest_tile(output: &AggregateOutput, at: i64) -> Option<i64> {
    let finest = output.feature.grains.finest();
    output.feature.window.map(|_| at.div_euclid(finest))
}

/// The last [`Reading`] of a plan's outputs, kept with the plan: requests
/// in the same finest tile (5 minutes, say) share it instead of each
/// computing a few hundred tiles and their readers.
#[derive(Debug, Default)]
pub struct Readings(Mutex<Option<Arc<Reading>>>);

impl Readings {
    pub fn at(&self, outputs: &[AggregateOutput], at: i64) -> Arc<Reading> {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_ref() {
            Some(reading) if reading.holds(outputs, at) => reading.clone(),
            _ => {
                let reading = Arc::new(Reading::of(outputs, at));
                *last = Some(reading.clone());
                reading
            }
        }
    }
}

/// The values of `outputs` for one key from its stored tiles; `None` when
/// the key never had an event (no lifetime tile).
pub fn values(
    outputs: &[AggregateOutput],
    readers: &Readers,
    stored: &[StoredTile],
    label: &str,
) -> Result<KeyValues, ServingError> {
    let lifetime = |t: &&StoredTile| t.grain == LIFETIME.grain && t.start == LIFETIME.start;
    if !stored.iter().any(|t| lifetime(&t)) {
        return Ok(None);
    }
    let mut states: Vec<State> = outputs
        .iter()
        .map(|o| State::new(o.feature.function))
        .collect();
    for t in stored {
        let tile = Tile {
            grain: t.grain,
            start: t.start,
        };
        // Each state the tile holds goes to the outputs of its feature
        // whose window holds the tile.
        let Some(reading) = readers.0.get(&tile) else {
            continue;
        };
        TileValue::visit_states(&t.value, |at, state| {
            for &o in reading {
                if outputs[o].feature.index == at {
                    states[o].merge(&state);
                }
            }
        })
        .map_err(|e| ServingError::Store(OnlineStoreError::Internal(format!("{label}: {e}"))))?;
    }
    let values = outputs
        .iter()
        .zip(states)
        .map(|(o, state)| output_value(state.output(o.feature.function)))
        .collect();
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use featurestore_aggregation::Grains;
    use featurestore_domain::aggregation::output_type;

    use super::*;

    const MIN: i64 = 60_000_000;
    const DAY: i64 = 24 * 60 * MIN;

    fn output(window: Option<i64>) -> AggregateOutput {
        let function = featurestore_aggregation::Function::Count;
        AggregateOutput {
            feature: AggregatedFeature {
                index: 0,
                name: "n".into(),
                function,
                input: None,
                window,
                grains: Grains::new(vec![5 * MIN, 60 * MIN, DAY]).unwrap(),
                output: output_type(function),
            },
            position: 0,
            backfilling: false,
        }
    }

    #[test]
    fn ranges_hold_every_tile_and_no_long_run_of_fine_ones() {
        let outputs = [output(Some(90 * DAY)), output(Some(60 * MIN)), output(None)];
        let at = 1_790_000_123_456_789;
        let (tiles, ranges) = windows(&outputs, at);
        for t in tiles.iter().flatten() {
            assert!(
                ranges
                    .iter()
                    .any(|r| r.grain == t.grain && r.from <= t.start && t.start < r.to),
                "{t:?} not in a range"
            );
        }
        // Each range spans at most one day of its grain's tiles (the fine
        // tiles of the 90-day window's two edges are separate ranges).
        for r in &ranges {
            let tiles = (r.to - r.from + r.grain - 1) / r.grain.max(1);
            assert!(r.grain == 0 || tiles <= 90, "{r:?}: {tiles} tiles");
        }
        assert!(ranges.len() <= 8, "{ranges:?}");
    }

    #[test]
    fn a_kept_reading_serves_its_finest_tile_and_no_other() {
        let outputs = [output(Some(90 * DAY)), output(Some(60 * MIN)), output(None)];
        let readings = Readings::default();
        let tile_start = 1_790_000_100_000_000 / (5 * MIN) * (5 * MIN);
        let first = readings.at(&outputs, tile_start);
        // Later in the same 5-minute tile: the same reading.
        let same = readings.at(&outputs, tile_start + 5 * MIN - 1);
        assert!(Arc::ptr_eq(&first, &same));
        // The next tile: a new one, equal to one computed afresh.
        let next = readings.at(&outputs, tile_start + 5 * MIN);
        assert!(!Arc::ptr_eq(&first, &next));
        let fresh = Reading::of(&outputs, tile_start + 5 * MIN);
        assert_eq!(next.ranges, fresh.ranges);
        assert_eq!(next.readers.0, fresh.readers.0);
        assert_ne!(first.ranges, next.ranges);
        // Other outputs (another plan's) never take a kept reading.
        assert!(!next.holds(&outputs[..2], tile_start + 5 * MIN));
    }
}
