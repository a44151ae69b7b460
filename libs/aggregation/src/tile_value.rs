//! What one stored tile holds: the partial aggregate of each aggregated
//! feature over the tile's events, and, per log partition, the offset of the
//! last event folded in.
//!
//! **Replays never count twice.** Events reach a tile in log order per
//! partition, and a tile is written whole (states and offsets together), so
//! every event of a partition at or before the tile's recorded offset is
//! already in it: [`TileValue::fold`] skips it. A batch retried after a
//! crash, or replayed from an older committed offset, leaves the tile as it
//! was. Events of other partitions (a late event of another key's partition
//! never shares a tile row: rows are per key) are kept apart by partition.

use serde::{
    Deserialize, Serialize,
    de::{DeserializeSeed, SeqAccess, Visitor},
};
use smallvec::SmallVec;

use crate::{Event, Function, Input, State};

/// The stored contents of one tile of one entity key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TileValue {
    /// Per partition (sorted; encoded like a map), the offset of the last
    /// event folded in. A key's events come from one partition: inline.
    offsets: SmallVec<[(i32, i64); 1]>,
    /// Events folded in.
    events: u64,
    /// Per aggregated feature (by its place among the group's aggregations,
    /// which never changes: new ones are appended), its partial aggregate;
    /// `None` for one this tile does not hold or that was added after the
    /// tile was first written.
    states: Vec<Option<State>>,
}

#[derive(Debug, thiserror::Error)]
#[error("tile value does not decode: {0}")]
pub struct DecodeError(String);

impl TileValue {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        // Most tiles of numeric features fit: one allocation, no regrowth.
        postcard::to_extend(self, Vec::with_capacity(64 + 40 * self.states.len()))
            .expect("a tile value always encodes")
    }

    /// Calls `visit(place, state)` for each feature state an encoded tile
    /// holds, without building the tile (no per-tile allocation: serving
    /// merges hundreds of tiles per key and keeps only the merged states).
    pub fn visit_states(bytes: &[u8], visit: impl FnMut(usize, State)) -> Result<(), DecodeError> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        serde::Deserializer::deserialize_struct(
            &mut de,
            "TileValue",
            &["offsets", "events", "states"],
            Visit(visit),
        )
        .map_err(|e| DecodeError(e.to_string()))
    }

    /// The offset of the last event of `partition` folded in.
    pub fn offset(&self, partition: i32) -> Option<i64> {
        self.offsets
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
    }

    /// Whether the event at `seq` is already folded in.
    pub fn contains(&self, (partition, offset): (i32, i64)) -> bool {
        self.offsets
            .iter()
            .find(|(p, _)| *p == partition)
            .is_some_and(|(_, o)| offset <= *o)
    }

    /// Folds one event into the states of `features`: (place among the
    /// group's aggregations, function, the event's input). Returns false
    /// (and changes nothing) when the event is already in the tile.
    pub fn fold(
        &mut self,
        features: impl IntoIterator<Item = (usize, Function, Option<Input>)>,
        time: i64,
        seq: (i32, i64),
    ) -> bool {
        if self.contains(seq) {
            return false;
        }
        for (at, function, value) in features {
            if self.states.len() <= at {
                self.states.resize(at + 1, None);
            }
            self.states[at]
                .get_or_insert_with(|| State::new(function))
                .fold(&Event { time, seq, value });
        }
        match self.offsets.binary_search_by_key(&seq.0, |(p, _)| *p) {
            Ok(at) => self.offsets[at].1 = seq.1,
            Err(at) => self.offsets.insert(at, seq),
        }
        self.events += 1;
        true
    }

    /// Merges this tile's state of the feature at `at` into `into`.
    pub fn merge_into(&self, at: usize, into: &mut State) {
        if let Some(Some(state)) = self.states.get(at) {
            into.merge(state);
        }
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// The state of the feature at `at`, if the tile holds one.
    pub fn state(&self, at: usize) -> Option<&State> {
        self.states.get(at).and_then(Option::as_ref)
    }

    /// The partitions whose events the tile holds, with the offset of the
    /// last one folded in.
    pub fn offsets(&self) -> &[(i32, i64)] {
        &self.offsets
    }

    /// Records that every event of `partition` up to `offset` is accounted
    /// for (a correction's tile, recomputed from every event of the
    /// partition before `offset + 1`): replays of them are skipped.
    pub fn account_up_to(&mut self, partition: i32, offset: i64) {
        self.offsets.clear();
        self.offsets.push((partition, offset));
    }
}

/// The fence version of a tile the stream folded up to the event at
/// `offset` (see `TileWrite::version` in the online store: the highest
/// version stays).
pub fn streamed_version(offset: i64) -> i64 {
    offset.max(0).saturating_mul(2)
}

/// The fence version of a tile a correction recomputed from every event up
/// to `offset`: above the stream's fold up to the same event (which holds
/// no more events; Cassandra keeps either of two equal versions), below the
/// stream's fold of any later event.
pub fn corrected_version(offset: i64) -> i64 {
    streamed_version(offset).saturating_add(1)
}

/// Reads a tile's fields in order, handing each state to the callback
/// (the layout `#[derive(Deserialize)]` of [`TileValue`] reads).
struct Visit<F>(F);

impl<'de, F: FnMut(usize, State)> Visitor<'de> for Visit<F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tile value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let missing = || serde::de::Error::custom("a tile value ends early");
        seq.next_element::<SmallVec<[(i32, i64); 1]>>()?
            .ok_or_else(missing)?;
        seq.next_element::<u64>()?.ok_or_else(missing)?;
        seq.next_element_seed(States(self.0))?.ok_or_else(missing)
    }
}

/// The states sequence of a tile, visited one by one.
struct States<F>(F);

impl<'de, F: FnMut(usize, State)> DeserializeSeed<'de> for States<F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, State)> Visitor<'de> for States<F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the states of a tile")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut place = 0;
        while let Some(state) = seq.next_element::<Option<State>>()? {
            if let Some(state) = state {
                (self.0)(place, state);
            }
            place += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Output;

    #[test]
    fn inline_fields_encode_as_the_map_and_vec_tiles_were_written_with() {
        let map: std::collections::BTreeMap<i32, i64> = [(1, 5), (3, 900)].into();
        let inline: SmallVec<[(i32, i64); 1]> = map.iter().map(|(p, o)| (*p, *o)).collect();
        assert_eq!(
            postcard::to_allocvec(&map).unwrap(),
            postcard::to_allocvec(&inline).unwrap()
        );
        let partials = vec![1.5f64, -2e-300, 7.0];
        let inline: SmallVec<[f64; 2]> = partials.iter().copied().collect();
        assert_eq!(
            postcard::to_allocvec(&partials).unwrap(),
            postcard::to_allocvec(&inline).unwrap()
        );
    }

    #[test]
    fn replayed_events_are_skipped_and_the_value_round_trips() {
        let features = || {
            [
                (0, Function::Count, None),
                (1, Function::Sum, Some(Input::Number(2.5))),
                (3, Function::ApproxDistinct, Some(Input::Item(42))),
                (4, Function::Percentile(0.5), Some(Input::Number(2.5))),
            ]
        };
        let mut tile = TileValue::default();
        assert!(tile.fold(features(), 10, (0, 7)));
        assert!(tile.fold(features(), 11, (1, 3)));
        assert!(!tile.fold(features(), 10, (0, 7)), "same event");
        assert!(!tile.fold(features(), 9, (0, 5)), "earlier offset");
        assert!(tile.fold(features(), 12, (0, 8)));
        let back = TileValue::decode(&tile.encode()).unwrap();
        assert_eq!(back, tile);
        assert_eq!(back.events(), 3);
        let mut n = State::new(Function::Count);
        back.merge_into(0, &mut n);
        assert_eq!(n, State::Count(3));
        let mut missing = State::new(Function::Max);
        back.merge_into(2, &mut missing);
        assert_eq!(missing, State::Max(None));
        let mut distinct = State::new(Function::ApproxDistinct);
        back.merge_into(3, &mut distinct);
        assert_eq!(distinct.output(Function::ApproxDistinct), Output::Int(1));
        let mut median = State::new(Function::Percentile(0.5));
        back.merge_into(4, &mut median);
        let Output::Float(m) = median.output(Function::Percentile(0.5)) else {
            panic!("a median");
        };
        assert!((m - 2.5).abs() <= 0.025, "{m}");
        assert!(TileValue::decode(b"\xff\xff").is_err());
        // Visiting the encoded states sees what decoding holds.
        let mut seen = Vec::new();
        TileValue::visit_states(&tile.encode(), |at, state| seen.push((at, state))).unwrap();
        let held: Vec<(usize, State)> = back
            .states
            .iter()
            .enumerate()
            .filter_map(|(at, s)| s.clone().map(|s| (at, s)))
            .collect();
        assert_eq!(seen, held);
        assert!(TileValue::visit_states(b"\x01", |_, _| {}).is_err());
    }
}
