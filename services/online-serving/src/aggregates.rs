//! Serving aggregated features: the tiles of each key's windows, read in
//! one range read per grain, merged per feature at the request time.
//!
//! The value at request time T of a feature with window W covers the events
//! with event time in `[E − W, E)`, E the end of the feature's finest-grain
//! tile holding T (`featurestore_aggregation::tiles`, the one place the
//! rule is defined). A key whose lifetime tile is missing never had an
//! event: NOT_FOUND. Otherwise an empty window gives count and sum 0 and
//! the other functions null (status NULL).

use std::collections::HashMap;

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
}

/// The tiles each output reads at `at`, and the ranges that hold them all
/// (per grain, from the first tile's start to past the last one's).
pub fn windows(outputs: &[AggregateOutput], at: i64) -> (Vec<Vec<Tile>>, Vec<TileRange>) {
    let mut ranges: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut include = |t: &Tile| {
        let r = ranges.entry(t.grain).or_insert((t.start, t.start + 1));
        r.0 = r.0.min(t.start);
        r.1 = r.1.max(t.start + 1);
    };
    include(&LIFETIME);
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
    tiles.iter().flatten().for_each(&mut include);
    let mut ranges: Vec<TileRange> = ranges
        .into_iter()
        .map(|(grain, (from, to))| TileRange { grain, from, to })
        .collect();
    ranges.sort_by_key(|r| r.grain);
    (tiles, ranges)
}

/// The values of `outputs` for one key from its stored tiles; `None` when
/// the key never had an event (no lifetime tile).
pub fn values(
    outputs: &[AggregateOutput],
    windows: &[Vec<Tile>],
    stored: &[StoredTile],
    label: &str,
) -> Result<KeyValues, ServingError> {
    let decoded: HashMap<(i64, i64), TileValue> = stored
        .iter()
        .map(|t| {
            TileValue::decode(&t.value)
                .map(|v| ((t.grain, t.start), v))
                .map_err(|e| {
                    ServingError::Store(OnlineStoreError::Internal(format!("{label}: {e}")))
                })
        })
        .collect::<Result<_, _>>()?;
    if !decoded.contains_key(&(LIFETIME.grain, LIFETIME.start)) {
        return Ok(None);
    }
    let values = outputs
        .iter()
        .zip(windows)
        .map(|(o, tiles)| {
            let mut state = State::new(o.feature.function);
            for t in tiles {
                if let Some(value) = decoded.get(&(t.grain, t.start)) {
                    value.merge_into(&o.feature.name, &mut state);
                }
            }
            output_value(state.output(o.feature.function))
        })
        .collect();
    Ok(Some(values))
}
