//! The events of an event group's Delta table as tile events, read a record
//! batch at a time: the columns a correction needs (keys, event time,
//! source partition and offset, the aggregations' inputs), and a row
//! turned into an event only once it is known to be wanted — before its
//! snapshot offset, in the time range, of the keys asked for. A correction
//! split into key-hash buckets scans the table once per bucket, so a row
//! of another bucket costs its key's encoding and hash, nothing more.

use std::collections::{BTreeMap, HashMap};

use arrow_array::{RecordBatch, cast::AsArray, types};
use featurestore_domain::{
    EntityKeyEncoder,
    aggregation::{Aggregations, input_value},
    arrow::to_values,
};
use featurestore_offlinestore::{
    DeltaStore, EVENT_TIME, OfflineStoreError, OfflineTable, SOURCE_OFFSET, SOURCE_PARTITION,
};
use featurestore_proto::v1::{FeatureGroup, Value};

use crate::tiles::TileEvent;

/// Which of the table's rows to turn into events.
pub struct Wanted<'a> {
    /// Per partition, the first offset not wanted (the snapshot's
    /// boundary: a partition not in it has none wanted).
    pub before: &'a BTreeMap<i32, i64>,
    /// Event times wanted, `[from, to)`, unless `all_times`.
    pub times: (i64, i64),
    /// Every event time of the keys wanted (their lifetime tiles need all).
    pub all_times: bool,
    /// Whether an encoded key is wanted.
    pub key: &'a (dyn Fn(&[u8]) -> bool + Sync),
}

/// The wanted events of `group`'s table, unsorted; with the count of its
/// events (before the snapshot boundary, of any key) outside the time
/// range.
pub async fn events(
    offline: &DeltaStore,
    group: &FeatureGroup,
    aggregations: &Aggregations,
    wanted: &Wanted<'_>,
) -> std::result::Result<(Vec<TileEvent>, u64), String> {
    let table = OfflineTable::for_group(group);
    let encoder = EntityKeyEncoder::new(&group.primary_key);
    let inputs = Inputs::of(group, aggregations);
    let mut events = Vec::new();
    let mut outside = 0u64;
    let names: Vec<&str> = inputs.names.iter().map(String::as_str).collect();
    offline
        .visit_batches(&table, Some(&names), |batch| {
            let read = Batch::read(batch, &table, &encoder, &inputs, aggregations)?;
            outside += read.events(wanted, &mut events)?;
            Ok(())
        })
        .await
        .map_err(|e| format!("{}: {e}", table.label))?;
    Ok((events, outside))
}

/// The feature columns the aggregations read, and where each aggregated
/// feature's input is among them.
struct Inputs {
    names: Vec<String>,
    /// Per aggregated feature (definition order), its column in `names`.
    of_feature: Vec<Option<usize>>,
}

impl Inputs {
    fn of(group: &FeatureGroup, aggregations: &Aggregations) -> Self {
        let mut names: Vec<String> = Vec::new();
        let of_feature = aggregations
            .features
            .iter()
            .map(|f| {
                let name = &group.features.get(f.input?)?.name;
                Some(match names.iter().position(|n| n == name) {
                    Some(at) => at,
                    None => {
                        names.push(name.clone());
                        names.len() - 1
                    }
                })
            })
            .collect();
        Self { names, of_feature }
    }
}

/// One record batch's columns, as a correction reads them.
struct Batch<'a> {
    rows: usize,
    partition: &'a arrow_array::PrimitiveArray<types::Int32Type>,
    offset: &'a arrow_array::PrimitiveArray<types::Int64Type>,
    time: &'a arrow_array::PrimitiveArray<types::TimestampMicrosecondType>,
    /// Per key column, its values.
    keys: Vec<Vec<Value>>,
    /// Per input column, its values.
    inputs: Vec<Vec<Value>>,
    encoder: &'a EntityKeyEncoder,
    of_feature: &'a [Option<usize>],
    aggregations: &'a Aggregations,
}

type Result<T> = std::result::Result<T, OfflineStoreError>;

impl<'a> Batch<'a> {
    fn read(
        batch: &'a RecordBatch,
        table: &OfflineTable,
        encoder: &'a EntityKeyEncoder,
        inputs: &'a Inputs,
        aggregations: &'a Aggregations,
    ) -> Result<Self> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                OfflineStoreError::Internal(format!("{}: no column {name}", table.label))
            })
        };
        let values = |name: &str| {
            to_values(name, column(name)?.as_ref())
                .map_err(|e| OfflineStoreError::Internal(format!("{}: {e}", table.label)))
        };
        Ok(Self {
            rows: batch.num_rows(),
            partition: column(SOURCE_PARTITION)?.as_primitive(),
            offset: column(SOURCE_OFFSET)?.as_primitive(),
            time: column(EVENT_TIME)?.as_primitive(),
            keys: encoder.column_names().map(values).collect::<Result<_>>()?,
            // A column the batch's file predates reads as nulls.
            inputs: inputs
                .names
                .iter()
                .map(|n| match batch.column_by_name(n) {
                    Some(_) => values(n),
                    None => Ok(Vec::new()),
                })
                .collect::<Result<_>>()?,
            encoder,
            of_feature: &inputs.of_feature,
            aggregations,
        })
    }

    /// Pushes the wanted rows onto `events`; returns how many rows before
    /// the boundary are outside the time range.
    fn events(&self, wanted: &Wanted<'_>, events: &mut Vec<TileEvent>) -> Result<u64> {
        let (from, to) = wanted.times;
        // The boundary of each partition, looked up once per run of rows
        // of one partition (a file holds a few partitions' rows in order).
        let mut boundary: HashMap<i32, i64> = HashMap::new();
        let mut outside = 0;
        let mut key = Vec::new();
        for row in 0..self.rows {
            let partition = self.partition.value(row);
            let offset = self.offset.value(row);
            let before = *boundary
                .entry(partition)
                .or_insert_with(|| wanted.before.get(&partition).copied().unwrap_or(0));
            if offset >= before {
                continue;
            }
            let time = self.time.value(row);
            let inside = (from..to).contains(&time);
            outside += u64::from(!inside);
            if !inside && !wanted.all_times {
                continue;
            }
            key.clear();
            self.encoder
                .encode_into(self.keys.iter().map(|k| k[row].kind.as_ref()), &mut key)
                .map_err(|e| OfflineStoreError::Internal(format!("a row's key: {e}")))?;
            if !(wanted.key)(&key) {
                continue;
            }
            let inputs = self
                .aggregations
                .features
                .iter()
                .zip(self.of_feature)
                .map(|(f, at)| {
                    let value = self.inputs.get((*at)?)?.get(row)?;
                    input_value(f.function, value)
                })
                .collect();
            events.push(TileEvent {
                entity_key: key.clone(),
                seq: (partition, offset),
                time,
                inputs,
            });
        }
        Ok(outside)
    }
}

#[cfg(test)]
mod tests {
    use featurestore_offlinestore::OfflineRow;
    use featurestore_proto::v1::value::Kind;

    use super::*;

    fn int(v: i64) -> Value {
        Value {
            kind: Some(Kind::Int64Value(v)),
        }
    }

    /// Rows of keys 0..4 at times 0..20 in partitions 0 and 1; only the
    /// rows the boundary, range and key filter let through become events,
    /// with the inputs of the aggregated features.
    #[tokio::test]
    async fn only_wanted_rows_become_events() {
        let dir = tempfile::tempdir().unwrap();
        let offline = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
        let group = crate::tiles::tests::group();
        let aggregations = Aggregations::of(&group).unwrap();
        let table = OfflineTable::for_group(&group);
        offline.ensure_table(&table).await.unwrap();
        let encoder = EntityKeyEncoder::new(&group.primary_key);
        let rows: Vec<OfflineRow> = (0..20)
            .map(|i| OfflineRow {
                key_values: vec![int(i % 4)],
                event_time_micros: i,
                feature_values: vec![Value {
                    kind: Some(Kind::Float64Value(i as f64 * 10.0)),
                }],
                ingest_time_micros: i,
                partition: (i % 2) as i32,
                offset: i / 2,
            })
            .collect();
        offline.append(&table, "m", "topic", &rows).await.unwrap();
        // Partition 0 up to offset 8 (rows 0, 2, …, 14), partition 1 none
        // past 5 (rows 1, 3, …, 9); times [4, 12); keys 0 and 1.
        let before = BTreeMap::from([(0, 8), (1, 5)]);
        let keys: Vec<Vec<u8>> = [0, 1]
            .iter()
            .map(|k| encoder.encode([Some(&Kind::Int64Value(*k))]).unwrap())
            .collect();
        let wanted_key = |k: &[u8]| keys.iter().any(|w| w == k);
        let wanted = Wanted {
            before: &before,
            times: (4, 12),
            all_times: false,
            key: &wanted_key,
        };
        let (mut events, outside) = events(&offline, &group, &aggregations, &wanted)
            .await
            .unwrap();
        events.sort_by_key(|e| e.time);
        let times: Vec<i64> = events.iter().map(|e| e.time).collect();
        // Rows before the boundary: 0..=15 even, 1..=9 odd; in [4, 12):
        // 4, 5, 6, 7, 8, 9, 10; of keys 0 and 1: 4, 5, 8, 9.
        assert_eq!(times, [4, 5, 8, 9]);
        // Before the boundary, outside [4, 12): 0, 1, 2, 3, 12, 14.
        assert_eq!(outside, 6);
        let event = &events[0];
        assert_eq!(event.seq, (0, 2));
        assert_eq!(event.entity_key, keys[0]);
        let expected = TileEvent::new(
            &aggregations,
            keys[0].clone(),
            (0, 2),
            4,
            &rows[4].feature_values,
        );
        assert_eq!(event, &expected);
        // Every time of the keys wanted.
        let all = Wanted {
            all_times: true,
            ..wanted
        };
        let (events, _) = events_of_all(&offline, &group, &aggregations, &all).await;
        assert_eq!(events, 7, "rows 0, 1, 4, 5, 8, 9, 12 of keys 0 and 1");
    }

    async fn events_of_all(
        offline: &DeltaStore,
        group: &FeatureGroup,
        aggregations: &Aggregations,
        wanted: &Wanted<'_>,
    ) -> (usize, u64) {
        let (events, outside) = events(offline, group, aggregations, wanted).await.unwrap();
        (events.len(), outside)
    }
}
