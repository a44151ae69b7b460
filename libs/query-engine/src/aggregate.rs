//! Aggregated features in training data: for an entity row `(key, t)`, the
//! value serving would have returned at `T = t`, computed from the event
//! group's rows held in memory ([`GroupIndex`], each key's events sorted by
//! time, with their log positions).
//!
//! The window rule is serving's (`featurestore_aggregation::tiles`): a
//! window `W` at `t` starts at `E − W`, `E` the end of the feature's grain
//! tile holding `t`; it ends at `t` itself (an event after `t` is never
//! seen — point-in-time correctness; serving, which reads whole tiles,
//! agrees whenever no event is dated after the time it is read at).
//! Lifetime covers every event up to `t`. The same mergeable states fold
//! the events, with ties in time broken by the log position, so results
//! are the same bits serving computes. A key with no event up to `t` gets
//! nulls (serving: NOT_FOUND); an empty window count and sum 0, the other
//! functions null.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray,
    cast::AsArray,
    types::{Float64Type, Int64Type},
};
use arrow_schema::DataType;
use datafusion::{execution::memory_pool::MemoryPool, prelude::DataFrame};
use featurestore_aggregation::{
    Event, Function, Input, State,
    sketch::{item_of_int, item_of_str},
};
use featurestore_domain::aggregation::{AggregatedFeature, Aggregations, output_value};
use featurestore_proto::v1::{FeatureGroup, ScalarType, Value};

use crate::{QueryError, Result, index::GroupIndex};

/// Results are typed by this module: a mismatch is a bug, not bad input.
fn internal(e: featurestore_domain::DomainError) -> QueryError {
    QueryError::Internal(e.to_string())
}

/// The aggregated features of one group to compute, and the input
/// columns they read.
pub(crate) struct AggregatePlan {
    /// The input columns to read, each at the type its functions read it.
    pub inputs: Vec<(String, DataType)>,
    /// Per feature: its definition, its input's place in `inputs`, its
    /// output column name and Arrow type.
    pub features: Vec<(AggregatedFeature, Option<usize>, String, DataType)>,
}

impl AggregatePlan {
    pub(crate) fn new(group: &FeatureGroup, features: Vec<AggregatedFeature>) -> Result<Self> {
        let mut inputs: Vec<(String, DataType)> = Vec::new();
        let mut planned = Vec::with_capacity(features.len());
        for f in features {
            let input = match f.input {
                None => None,
                Some(i) => {
                    let read = (group.features[i].name.clone(), input_type(group, i, &f));
                    Some(match inputs.iter().position(|r| *r == read) {
                        Some(at) => at,
                        None => {
                            inputs.push(read);
                            inputs.len() - 1
                        }
                    })
                }
            };
            let column = featurestore_domain::feature_column(&group.name, &f.name);
            let ty = data_type(&f)?;
            planned.push((f, input, column, ty));
        }
        Ok(Self {
            inputs,
            features: planned,
        })
    }

    /// Appends to `values` (one list per feature) the features of rows
    /// `(time, its key's events)` whose key's inputs are `inputs` (`None`:
    /// the key has no events).
    pub(crate) fn values<'a>(
        &self,
        rows: &[(i64, Option<KeyRun<'a>>)],
        inputs: &[InputColumn<'a>],
        values: &mut [Vec<Option<Value>>],
    ) {
        for ((feature, input, ..), values) in self.features.iter().zip(values) {
            let input = input.map(|c| &inputs[c]);
            values.extend(rows.iter().map(|(at, run)| {
                let (times, seq, first) = (*run)?;
                let events = KeyEvents {
                    times,
                    seq,
                    input,
                    first,
                };
                value_at(feature, events, *at)
            }));
        }
    }

    /// The feature columns of [`values`](Self::values).
    pub(crate) fn arrays(&self, values: &[Vec<Option<Value>>]) -> Result<Vec<ArrayRef>> {
        self.features
            .iter()
            .zip(values)
            .map(|((_, _, column, ty), values)| {
                featurestore_domain::arrow::to_array(column, ty, values.iter().map(Option::as_ref))
                    .map_err(internal)
            })
            .collect()
    }
}

/// One key's events sorted by time and log position: their times, log
/// positions, and the row of the first in the input columns.
pub(crate) type KeyRun<'a> = (&'a [i64], &'a [(i32, i64)], usize);

/// One group's events in memory, and the aggregated features to compute.
pub(crate) struct AggregateIndex {
    index: GroupIndex,
    plan: AggregatePlan,
}

impl std::fmt::Debug for AggregateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateIndex")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The Arrow type of an aggregated feature's values.
pub(crate) fn data_type(feature: &AggregatedFeature) -> Result<DataType> {
    featurestore_domain::arrow::data_type(&feature.name, &feature.output).map_err(internal)
}

/// The aggregated features `names` of `group` (each one of its
/// aggregations).
pub(crate) fn features_of(group: &FeatureGroup, names: &[String]) -> Vec<AggregatedFeature> {
    let Some(all) = Aggregations::of(group) else {
        return Vec::new();
    };
    names.iter().filter_map(|n| all.get(n).cloned()).collect()
}

/// The Arrow type `feature` reads its input as: FLOAT64, or for
/// approx_distinct INT64 (bool and integers) or UTF8 (strings).
fn input_type(group: &FeatureGroup, input: usize, feature: &AggregatedFeature) -> DataType {
    if feature.function != Function::ApproxDistinct {
        return DataType::Float64;
    }
    let ty = group.features[input].r#type.unwrap_or_default();
    match ty.scalar() {
        ScalarType::String => DataType::Utf8,
        _ => DataType::Int64,
    }
}

/// An input column as [`input_type`] read it.
pub(crate) enum InputColumn<'a> {
    Numbers(&'a Float64Array),
    Integers(&'a Int64Array),
    Strings(&'a StringArray),
}

impl<'a> InputColumn<'a> {
    pub(crate) fn of(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Int64 => Self::Integers(array.as_primitive::<Int64Type>()),
            DataType::Utf8 => Self::Strings(array.as_string::<i32>()),
            _ => Self::Numbers(array.as_primitive::<Float64Type>()),
        }
    }

    /// Row `i` as the functions read it (the same items as
    /// `featurestore_domain::aggregation::input_value` for served values).
    fn at(&self, i: usize) -> Option<Input> {
        match self {
            Self::Numbers(a) => a.is_valid(i).then(|| Input::Number(a.value(i))),
            Self::Integers(a) => a.is_valid(i).then(|| Input::Item(item_of_int(a.value(i)))),
            Self::Strings(a) => a.is_valid(i).then(|| Input::Item(item_of_str(a.value(i)))),
        }
    }
}

impl AggregateIndex {
    /// Reads the group's events (keys, time, the inputs as their functions
    /// read them, log positions), or `None` when they do not fit in
    /// `limit_bytes`.
    pub(crate) async fn build(
        rows: DataFrame,
        group: &FeatureGroup,
        features: Vec<AggregatedFeature>,
        pool: &Arc<dyn MemoryPool>,
        limit_bytes: usize,
    ) -> Result<Option<Self>> {
        let plan = AggregatePlan::new(group, features)?;
        let Some(index) =
            GroupIndex::build_with(rows, group, &plan.inputs, true, pool, limit_bytes).await?
        else {
            return Ok(None);
        };
        Ok(Some(Self { index, plan }))
    }

    pub(crate) fn memory(&self) -> usize {
        self.index.memory()
    }

    /// One column per feature, in order, for the rows of `entities`.
    pub(crate) fn probe(
        &self,
        entities: &RecordBatch,
        timestamp_column: &str,
    ) -> Result<Vec<ArrayRef>> {
        let runs = self.index.runs(entities, timestamp_column)?;
        let times = self.index.times();
        let seq = self.index.seq();
        let inputs: Vec<InputColumn> = self.index.features().iter().map(InputColumn::of).collect();
        let rows: Vec<_> = runs
            .iter()
            .map(|(at, run)| {
                let run = run.map(|(start, end)| (&times[start..end], &seq[start..end], start));
                (*at, run)
            })
            .collect();
        let mut values = vec![Vec::with_capacity(rows.len()); self.plan.features.len()];
        self.plan.values(&rows, &inputs, &mut values);
        self.plan.arrays(&values)
    }
}

/// One key's events for one feature: a [`KeyRun`] and the input column.
#[derive(Clone, Copy)]
struct KeyEvents<'a> {
    times: &'a [i64],
    seq: &'a [(i32, i64)],
    input: Option<&'a InputColumn<'a>>,
    first: usize,
}

/// `feature`'s value at `at` from one key's events (see the module docs
/// for the window rule); `None` when the key had no event up to `at`.
fn value_at(feature: &AggregatedFeature, events: KeyEvents, at: i64) -> Option<Value> {
    let times = events.times;
    // Events up to `at`; none: the key had no event yet.
    let upto = times.partition_point(|t| *t <= at);
    if upto == 0 {
        return None;
    }
    let from = match feature.window {
        None => 0,
        Some(w) => {
            let (first, _) = feature
                .grains
                .span(at, w)
                .expect("a validated window is a multiple of its grain");
            times.partition_point(|t| *t < first)
        }
    };
    let mut state = State::new(feature.function);
    let window = times[from..upto].iter().zip(&events.seq[from..upto]);
    for (i, (time, seq)) in (from..).zip(window) {
        state.fold(&Event {
            time: *time,
            seq: *seq,
            value: events.input.and_then(|c| c.at(events.first + i)),
        });
    }
    output_value(state.output(feature.function))
}

#[cfg(test)]
mod tests {
    use arrow_array::{
        Array, Float64Array, Int32Array, Int64Array, ListArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema, TimeUnit};
    use datafusion::{execution::memory_pool::GreedyMemoryPool, prelude::SessionContext};
    use featurestore_aggregation::{Function, Output};
    use featurestore_domain::fixtures;
    use featurestore_offlinestore::{EVENT_TIME, INGEST_TIME, SOURCE_OFFSET, SOURCE_PARTITION};
    use featurestore_proto::v1::{Aggregation, AggregationFunction, ScalarType};
    use proptest::prelude::*;

    use super::*;

    const MIN: i64 = 60_000_000;

    /// Group `trips` of driver: `fare`, with every function over 10 min,
    /// 1 h at a 1 h grain, and lifetime (grains 5 min, 1 h).
    fn group() -> FeatureGroup {
        let mut g = fixtures::group(
            "rides",
            "trips",
            "driver",
            &[("fare", "float64"), ("card", "string"), ("seats", "int64")],
        );
        g.tile_grain_seconds = vec![300, 3600];
        let agg = |name: &str, f: AggregationFunction, window: i64, grain: i64| Aggregation {
            name: name.into(),
            function: f as i32,
            input: match f {
                AggregationFunction::Count => String::new(),
                AggregationFunction::ApproxDistinct => "card".into(),
                _ => "fare".into(),
            },
            percentile: if f == AggregationFunction::ApproxPercentile {
                0.75
            } else {
                0.0
            },
            window_seconds: window,
            grain_seconds: grain,
            k: if f == AggregationFunction::LastK {
                2
            } else {
                0
            },
            ..Default::default()
        };
        use AggregationFunction as F;
        g.aggregations = vec![
            agg("n_10m", F::Count, 600, 0),
            agg("sum_10m", F::Sum, 600, 0),
            agg("min_1h", F::Min, 3600, 3600),
            agg("mean_10m", F::Mean, 600, 0),
            agg("last2_10m", F::LastK, 600, 0),
            agg("first_life", F::First, 0, 0),
            agg("last_10m", F::Last, 600, 0),
            agg("cards_1h", F::ApproxDistinct, 3600, 0),
            agg("fare_p75_10m", F::ApproxPercentile, 600, 0),
            // One int column read as numbers and as distinct items.
            Aggregation {
                input: "seats".into(),
                ..agg("seats_10m", F::Sum, 600, 0)
            },
            Aggregation {
                input: "seats".into(),
                ..agg("seat_kinds_1h", F::ApproxDistinct, 3600, 0)
            },
        ];
        let driver = fixtures::entity("rides", "driver", &[("driver_id", ScalarType::Int64)]);
        featurestore_domain::schema::normalize_feature_group(&mut g, &driver, 1).unwrap();
        g
    }

    /// The card an event's fare stands for (few cards: repeats are common).
    fn card(fare: f64) -> String {
        format!("card-{}", (fare as i64).rem_euclid(7))
    }

    /// The seats of an event's fare.
    fn seats(fare: f64) -> i64 {
        (fare as i64).rem_euclid(4)
    }

    /// `(key, time, fare)` events as a Delta scan gives them, in log order
    /// (offset = position: arrival order, not time order); each has the
    /// card of its fare.
    fn events(events: &[(i64, i64, Option<f64>)]) -> RecordBatch {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new(EVENT_TIME, ts(), false),
            Field::new("fare", DataType::Float64, true),
            Field::new("card", DataType::Utf8, true),
            Field::new("seats", DataType::Int64, true),
            Field::new(INGEST_TIME, ts(), false),
            Field::new(SOURCE_PARTITION, DataType::Int32, false),
            Field::new(SOURCE_OFFSET, DataType::Int64, false),
        ]));
        let n = events.len() as i64;
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.0))),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.1))
                        .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from_iter(events.iter().map(|e| e.2))),
                Arc::new(StringArray::from_iter(events.iter().map(|e| e.2.map(card)))),
                Arc::new(Int64Array::from_iter(events.iter().map(|e| e.2.map(seats)))),
                // Ingest times against the log order: the tie-break is the offset.
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values((0..n).rev()).with_timezone("UTC"),
                ),
                Arc::new(Int32Array::from(vec![0; events.len()])),
                Arc::new(Int64Array::from_iter_values(0..n)),
            ],
        )
        .unwrap()
    }

    fn entities(rows: &[(i64, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("driver_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap()
    }

    /// The naive reference: every event of the key at or before `at` and at
    /// or after the window's start (the end of the grain tile holding `at`
    /// minus the window), folded in time and log order.
    /// `(key, time, fare)`.
    type Raw = (i64, i64, Option<f64>);

    fn naive(f: &AggregatedFeature, all: &[Raw], key: i64, at: i64) -> Option<Output> {
        let mine: Vec<(usize, &Raw)> = all
            .iter()
            .enumerate()
            .filter(|(_, e)| e.0 == key && e.1 <= at)
            .collect();
        if mine.is_empty() {
            return None;
        }
        let start = f.window.map_or(i64::MIN, |w| {
            let g = f.grains.finest();
            (at.div_euclid(g) + 1) * g - w
        });
        let mut state = State::new(f.function);
        let mut sorted: Vec<_> = mine.into_iter().filter(|(_, e)| e.1 >= start).collect();
        sorted.sort_by_key(|(i, e)| (e.1, *i));
        for (i, e) in sorted {
            state.fold(&Event {
                time: e.1,
                seq: (0, i as i64),
                value: match (f.function, f.input) {
                    (Function::Count, _) => None,
                    (_, Some(1)) => e.2.map(|x| Input::Item(item_of_str(&card(x)))),
                    (Function::ApproxDistinct, _) => {
                        e.2.map(|x| Input::Item(item_of_int(seats(x))))
                    }
                    (_, Some(2)) => e.2.map(|x| Input::Number(seats(x) as f64)),
                    _ => e.2.map(Input::Number),
                },
            });
        }
        Some(state.output(f.function))
    }

    fn cell(column: &ArrayRef, row: usize) -> Option<Output> {
        if column.is_null(row) {
            return Some(Output::Null);
        }
        Some(match column.data_type() {
            DataType::Int64 => Output::Int(
                column
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .value(row),
            ),
            DataType::Float64 => Output::Float(column.as_primitive::<Float64Type>().value(row)),
            _ => {
                let list = column
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .unwrap()
                    .value(row);
                Output::Floats(list.as_primitive::<Float64Type>().values().to_vec())
            }
        })
    }

    async fn computed(
        all: &[(i64, i64, Option<f64>)],
        probes: &[(i64, i64)],
    ) -> (Vec<AggregatedFeature>, Vec<ArrayRef>) {
        let g = group();
        let features = Aggregations::of(&g).unwrap().features;
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
        let rows = SessionContext::new().read_batch(events(all)).unwrap();
        let index = AggregateIndex::build(rows, &g, features.clone(), &pool, 64 << 20)
            .await
            .unwrap()
            .unwrap();
        (
            features,
            index.probe(&entities(probes), "event_timestamp").unwrap(),
        )
    }

    /// The same through the sorting path (`aggregate_merge`), with
    /// `batch_size`-row batches: a key's events and entity rows span them.
    async fn merged(
        all: &[(i64, i64, Option<f64>)],
        probes: &[(i64, i64)],
        batch_size: usize,
    ) -> Vec<ArrayRef> {
        use datafusion::prelude::SessionConfig;
        let g = group();
        let features = Aggregations::of(&g).unwrap().features;
        let plan = AggregatePlan::new(&g, features).unwrap();
        let ctx = SessionContext::new_with_config(
            SessionConfig::new()
                .with_batch_size(batch_size)
                .with_target_partitions(1),
        );
        let probes = entities(probes);
        let row_ids = arrow_array::UInt64Array::from_iter_values(0..probes.num_rows() as u64);
        let mut fields: Vec<Field> = probes
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            featurestore_pitjoin::ROW_ID,
            DataType::UInt64,
            false,
        ));
        let mut columns = probes.columns().to_vec();
        columns.push(Arc::new(row_ids));
        let probes = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let probes = ctx.read_batch(probes).unwrap();
        let probes = crate::group::sorted_entities(probes, "event_timestamp", &g)
            .await
            .unwrap();
        let rows = ctx.read_batch(events(all)).unwrap();
        let rows = crate::group::sorted_features(rows, &g, &plan.inputs)
            .await
            .unwrap();
        let stream = crate::aggregate_merge::join(&ctx, probes, rows, 1, plan, 2).unwrap();
        let batches: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        let all = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        let row_ids = all
            .column(0)
            .as_primitive::<arrow_array::types::UInt64Type>();
        assert!(
            row_ids
                .values()
                .iter()
                .copied()
                .eq(0..all.num_rows() as u64)
        );
        all.columns()[2..].to_vec()
    }

    fn check(
        all: &[(i64, i64, Option<f64>)],
        probes: &[(i64, i64)],
        features: &[AggregatedFeature],
        columns: &[ArrayRef],
    ) {
        for (f, column) in features.iter().zip(columns) {
            for (row, (key, at)) in probes.iter().enumerate() {
                // A key without events up to `at`: null, whatever the function.
                let want = naive(f, all, *key, *at).unwrap_or(Output::Null);
                let got = cell(column, row).unwrap();
                assert_eq!(got, want, "{} of key {key} at {at}", f.name);
            }
        }
    }

    #[tokio::test]
    async fn windows_end_at_the_entity_time_and_start_at_the_grain_edge() {
        // Key 1: events at 0, 5 min (a tile edge), 9 min and 12 min, the
        // 9-minute one arriving last; key 2 only at 30 min.
        let all = [
            (1, 0, Some(1.0)),
            (1, 5 * MIN, Some(2.0)),
            (1, 12 * MIN, Some(4.0)),
            (2, 30 * MIN, None),
            (1, 9 * MIN, Some(3.0)),
        ];
        let probes = [
            (1, 12 * MIN),
            (1, 11 * MIN),
            (1, 14 * MIN + 59_999_999),
            (2, 29 * MIN),
            (2, 31 * MIN),
            (3, 0),
        ];
        let (features, columns) = computed(&all, &probes).await;
        check(&all, &probes, &features, &columns);
        for batch_size in [1, 2, 8192] {
            assert_eq!(
                merged(&all, &probes, batch_size).await,
                columns,
                "{batch_size}"
            );
        }
        // Spelled out: at 12 min the 10-minute window starts at 15 − 10 =
        // 5 min (the grain edge), so it holds 2, 3 and 4.
        assert_eq!(cell(&columns[0], 0), Some(Output::Int(3)));
        assert_eq!(cell(&columns[1], 0), Some(Output::Float(9.0)));
        // At 11 min the 12-minute event is in the future: never seen.
        assert_eq!(cell(&columns[1], 1), Some(Output::Float(5.0)));
        // Key 2's only event has no fare: count 1, sum 0, mean null.
        assert_eq!(cell(&columns[0], 4), Some(Output::Int(1)));
        assert_eq!(cell(&columns[1], 4), Some(Output::Float(0.0)));
        assert_eq!(cell(&columns[3], 4), Some(Output::Null));
        // Before its first event, and a key never seen: null.
        assert_eq!(cell(&columns[0], 3), Some(Output::Null));
        assert_eq!(cell(&columns[0], 5), Some(Output::Null));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_feature_matches_the_naive_reference(
            all in proptest::collection::vec(
                // Times on a 1-minute lattice: equal times and tile edges are common.
                (1i64..4, (0i64..180).prop_map(|m| m * MIN), proptest::option::of(-50.0f64..50.0)),
                0..60,
            ),
            probes in proptest::collection::vec(
                (1i64..5, prop_oneof![(0i64..200).prop_map(|m| m * MIN), 0i64..200 * MIN]),
                1..20,
            ),
            batch_size in 1usize..5,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (features, columns) = runtime.block_on(computed(&all, &probes));
            check(&all, &probes, &features, &columns);
            // The sorting path computes the same columns.
            prop_assert_eq!(runtime.block_on(merged(&all, &probes, batch_size)), columns);
        }
    }
}
