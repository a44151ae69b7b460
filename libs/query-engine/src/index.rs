//! The in-memory as-of join, for groups whose feature rows fit in memory:
//! a group's rows are held sorted by `(key, time, tie-break)` with a hash
//! index from each key to its run of rows, and the entity rows stream
//! through in their own order, each batch probed against every group (a
//! hash lookup and a binary search per row). No entity spool, no sort of the
//! entity rows, no sort back into their order.
//!
//! The rows are counted against the query memory pool as they are read; a
//! group that does not fit in its share returns `None` and the query takes
//! the sorting (spilling) path instead. Results are the same either way
//! (both are checked against the naive join).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, UInt32Array, builder::UInt32Builder, cast::AsArray,
    types::Int64Type,
};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{DataType, TimeUnit};
use datafusion::{
    execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation},
    prelude::DataFrame,
};
use featurestore_pitjoin::TIME;
use featurestore_proto::v1::FeatureGroup;
use futures::StreamExt;
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use crate::{
    QueryError, Result,
    group::{TIE_BREAK, feature_projection, key_columns},
};

/// One group's feature rows, sorted and indexed by key.
pub(crate) struct GroupIndex {
    keys: Vec<(String, DataType)>,
    converter: RowConverter,
    /// Event times (µs), sorted within each key's run.
    times: Vec<i64>,
    /// The selected features, rows in index order.
    features: Vec<ArrayRef>,
    /// Key (Arrow row format) → `start..end` of its run.
    runs: KeyRuns,
    /// `(partition, offset)` of each row in index order, when asked for
    /// (aggregations break ties in time by the log position).
    seq: Vec<(i32, i64)>,
    ttl_micros: Option<i64>,
    memory: MemoryReservation,
}

impl std::fmt::Debug for GroupIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupIndex")
            .field("rows", &self.times.len())
            .field("keys", &self.runs.table.len())
            .finish_non_exhaustive()
    }
}

fn int64(array: &ArrayRef) -> Result<&Int64Array> {
    array
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| QueryError::Internal(format!("expected Int64, got {}", array.data_type())))
}

/// The least memory building the index of `rows` rows takes: fixed-width
/// columns at their width, variable-width ones at 8 bytes, twice (the rows
/// as read and their ordered copy exist together). An underestimate on
/// purpose: it only rules out groups that surely don't fit.
pub(crate) fn least_bytes(rows: u64, group: &FeatureGroup, features: &[(String, DataType)]) -> u64 {
    let width = |ty: &DataType| ty.primitive_width().unwrap_or(8) as u64;
    // A key of no type counts nothing here; building the index refuses it.
    let keys: u64 = key_columns(group)
        .unwrap_or_default()
        .iter()
        .map(|(_, ty)| width(ty))
        .sum();
    let values: u64 = features.iter().map(|(_, ty)| width(ty)).sum();
    // Event time and the tie-break (ingest time, partition, offset).
    let fixed = 8 + 8 + 4 + 8;
    2 * rows * (keys + values + fixed)
}

/// Bytes a map entry costs besides its key bytes (a rough upper bound).
const ENTRY_OVERHEAD: usize = 48;

impl GroupIndex {
    /// Reads and indexes the group's rows, or `None` when they do not fit in
    /// `limit_bytes` (or the pool).
    pub(crate) async fn build(
        rows: DataFrame,
        group: &FeatureGroup,
        features: &[(String, DataType)],
        pool: &Arc<dyn MemoryPool>,
        limit_bytes: usize,
    ) -> Result<Option<Self>> {
        Self::build_with(rows, group, features, false, pool, limit_bytes).await
    }

    /// [`build`](Self::build), also keeping each row's log position when
    /// `keep_seq`.
    pub(crate) async fn build_with(
        rows: DataFrame,
        group: &FeatureGroup,
        features: &[(String, DataType)],
        keep_seq: bool,
        pool: &Arc<dyn MemoryPool>,
        limit_bytes: usize,
    ) -> Result<Option<Self>> {
        let mut memory =
            MemoryConsumer::new(format!("in-memory as-of index of {}", group.name)).register(pool);
        let fits = |memory: &mut MemoryReservation, more: usize| {
            memory.size() + more <= limit_bytes && memory.try_grow(more).is_ok()
        };
        // Partitions are read concurrently: the order is rebuilt below.
        let streams = feature_projection(rows, group, features)?
            .execute_stream_partitioned()
            .await?;
        let Some(schema) = streams.first().map(|s| s.schema()) else {
            return Err(QueryError::Internal("a scan without partitions".into()));
        };
        let mut stream = futures::stream::select_all(streams);
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if !fits(&mut memory, batch.get_array_memory_size()) {
                return Ok(None);
            }
            batches.push(batch);
        }
        drop(stream);
        let read = memory.size();
        // The concatenation, then the ordered copy, exist next to the input.
        if !fits(&mut memory, read) {
            return Ok(None);
        }
        let all = arrow_select::concat::concat_batches(&schema, &batches)?;
        drop(batches);
        let keys = key_columns(group)?;
        let converter = RowConverter::new(
            keys.iter()
                .map(|(_, ty)| SortField::new(ty.clone()))
                .collect(),
        )?;
        let key_arrays: Vec<ArrayRef> = (0..keys.len()).map(|i| all.column(i).clone()).collect();
        let rows_of_keys = converter.convert_columns(&key_arrays)?;
        if !fits(&mut memory, rows_of_keys.size() + all.num_rows() * 12) {
            return Ok(None);
        }
        let (order, spans) = group_by_key(&all, &rows_of_keys)?;
        let indices = UInt32Array::from(order);
        let times_at = all.column(keys.len());
        let times = arrow_select::take::take(times_at, &indices, None)?;
        let times = int64(&times)?.values().to_vec();
        let first_feature = keys.len() + 1;
        let features = (first_feature..first_feature + features.len())
            .map(|i| arrow_select::take::take(all.column(i), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = if keep_seq {
            let tie = first_feature + features.len();
            let partition = arrow_select::take::take(all.column(tie + 1), &indices, None)?;
            let partition = arrow_cast::cast(&partition, &DataType::Int32)?;
            let offset = arrow_select::take::take(all.column(tie + 2), &indices, None)?;
            let offset = arrow_cast::cast(&offset, &DataType::Int64)?;
            partition
                .as_primitive::<arrow_array::types::Int32Type>()
                .values()
                .iter()
                .zip(int64(&offset)?.values())
                .map(|(p, o)| (*p, *o))
                .collect()
        } else {
            Vec::new()
        };
        let runs = KeyRuns::new(&rows_of_keys, &spans);
        let key_bytes = runs.bytes.len() + runs.table.len() * ENTRY_OVERHEAD;
        drop(rows_of_keys);
        drop(all);
        let held: usize = features
            .iter()
            .map(|f| f.get_array_memory_size())
            .sum::<usize>()
            + times.len() * 8
            + seq.len() * 16
            + key_bytes;
        // What stays: the sorted features, times and the key map.
        let reserved = memory.size();
        if held > reserved && !fits(&mut memory, held - reserved) {
            return Ok(None);
        }
        memory.resize(held);
        Ok(Some(Self {
            keys,
            converter,
            times,
            features,
            runs,
            seq,
            ttl_micros: (group.ttl_seconds > 0)
                .then(|| group.ttl_seconds.saturating_mul(1_000_000)),
            memory,
        }))
    }

    /// Bytes held (counted in the memory pool).
    pub(crate) fn memory(&self) -> usize {
        self.memory.size()
    }

    /// Event times (µs) in index order.
    pub(crate) fn times(&self) -> &[i64] {
        &self.times
    }

    /// The indexed feature columns, rows in index order.
    pub(crate) fn features(&self) -> &[ArrayRef] {
        &self.features
    }

    /// `(partition, offset)` per row in index order (empty unless built
    /// with `keep_seq`).
    pub(crate) fn seq(&self) -> &[(i32, i64)] {
        &self.seq
    }

    /// For each row of `entities`, its time (µs) and its key's run
    /// `start..end` in index order (`None`: the key has no rows).
    pub(crate) fn runs(
        &self,
        entities: &RecordBatch,
        timestamp_column: &str,
    ) -> Result<Vec<EntityRun>> {
        let keys = self.entity_keys(entities)?;
        let times = entity_micros(entities, timestamp_column)?;
        Ok(times
            .values()
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let run = self.runs.find(keys.row(i).as_ref());
                (*at, run.map(|(s, e)| (s as usize, e as usize)))
            })
            .collect())
    }

    /// The entity rows' keys in the index's row format.
    fn entity_keys(&self, entities: &RecordBatch) -> Result<Rows> {
        let key_arrays = self
            .keys
            .iter()
            .map(|(name, ty)| {
                let column = entities.column_by_name(name).ok_or_else(|| {
                    QueryError::Internal(format!("entity column {name} vanished"))
                })?;
                Ok(arrow_cast::cast(column, ty)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.converter.convert_columns(&key_arrays)?)
    }

    /// The group's feature columns for each row of `entities`: the latest
    /// row at or before the row's time (within the TTL), else nulls.
    pub(crate) fn probe(
        &self,
        entities: &RecordBatch,
        timestamp_column: &str,
    ) -> Result<Vec<ArrayRef>> {
        let keys = self.entity_keys(entities)?;
        let times = entity_micros(entities, timestamp_column)?;
        let mut picked = UInt32Builder::with_capacity(entities.num_rows());
        for (i, at) in times.values().iter().enumerate() {
            picked.append_option(self.pick(keys.row(i).as_ref(), *at));
        }
        let picked = picked.finish();
        Ok(self
            .features
            .iter()
            .map(|f| arrow_select::take::take(f, &picked, None))
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn pick(&self, key: &[u8], at: i64) -> Option<u32> {
        let (start, end) = self.runs.find(key)?;
        let run = &self.times[start as usize..end as usize];
        let after = run.partition_point(|t| *t <= at);
        let last = after.checked_sub(1)?;
        if let Some(ttl) = self.ttl_micros
            && run[last] < at.saturating_sub(ttl)
        {
            return None;
        }
        Some(start + last as u32)
    }
}

/// The entity rows' times as µs since the epoch; a null time is refused.
fn entity_micros(entities: &RecordBatch, column: &str) -> Result<Int64Array> {
    let array = entities
        .column_by_name(column)
        .ok_or_else(|| QueryError::Internal(format!("entity column {column} vanished")))?;
    let micros = arrow_cast::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let micros = arrow_cast::cast(&micros, &DataType::Int64)?;
    if micros.null_count() > 0 {
        return Err(crate::entities::null_time(column));
    }
    Ok(int64(&micros)?.clone())
}

/// An entity row's time (µs) and its key's run `start..end` in index
/// order (`None`: the key has no rows).
pub(crate) type EntityRun = (i64, Option<(usize, usize)>);

/// One key's run: `(one of its rows, start, end)` in index order.
type Span = (u32, u32, u32);

/// Each key's `start..end`, found by its bytes: the bytes of all keys in one
/// buffer and a table of precomputed hashes (no allocation per key).
struct KeyRuns {
    /// `(hash, key offset, key length, start, end)`.
    table: HashTable<(u64, u32, u32, u32, u32)>,
    bytes: Vec<u8>,
}

impl KeyRuns {
    /// From [`group_by_key`]'s spans (one row of each key and its run).
    fn new(keys: &Rows, spans: &[Span]) -> Self {
        let mut table = HashTable::with_capacity(spans.len());
        let mut bytes = Vec::new();
        for &(row, start, end) in spans {
            let key = keys.row(row as usize).data();
            let hash = xxh3_64(key);
            let at = bytes.len() as u32;
            bytes.extend_from_slice(key);
            table.insert_unique(hash, (hash, at, key.len() as u32, start, end), |e| e.0);
        }
        Self { table, bytes }
    }

    fn find(&self, key: &[u8]) -> Option<(u32, u32)> {
        let hash = xxh3_64(key);
        self.table
            .find(hash, |&(h, at, len, _, _)| {
                h == hash && &self.bytes[at as usize..(at + len) as usize] == key
            })
            .map(|&(_, _, _, start, end)| (start, end))
    }
}

/// Row positions grouped by key (keys in order of first appearance), each
/// key's rows sorted by event time then the tie-break; and per key, one of
/// its rows and its `start..end` in that order. Hashing, then small sorts:
/// no comparison sort of the whole table.
fn group_by_key(all: &RecordBatch, keys: &Rows) -> Result<(Vec<u32>, Vec<Span>)> {
    let schema = all.schema();
    let column = |name: &str| -> Result<Int64Array> {
        let array = all.column(schema.index_of(name)?);
        Ok(int64(&arrow_cast::cast(array, &DataType::Int64)?)?.clone())
    };
    let time = column(TIME)?;
    let tie = TIE_BREAK
        .iter()
        .map(|name| column(name))
        .collect::<Result<Vec<_>>>()?;
    let n = all.num_rows();
    // Dense key ids in order of first appearance: `(hash, id)` entries.
    let mut ids: HashTable<(u64, u32)> = HashTable::new();
    let mut first_rows: Vec<u32> = Vec::new();
    let mut key_of: Vec<u32> = Vec::with_capacity(n);
    for i in 0..n {
        let key = keys.row(i).data();
        let hash = xxh3_64(key);
        let same = |&(h, id): &(u64, u32)| {
            h == hash && keys.row(first_rows[id as usize] as usize).data() == key
        };
        let id = match ids.find(hash, same) {
            Some(&(_, id)) => id,
            None => {
                let id = first_rows.len() as u32;
                first_rows.push(i as u32);
                ids.insert_unique(hash, (hash, id), |e| e.0);
                id
            }
        };
        key_of.push(id);
    }
    drop(ids);
    // Counting sort by key id, then each key's rows by time and tie-break.
    let mut starts = vec![0u32; first_rows.len() + 1];
    for id in &key_of {
        starts[*id as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0u32; n];
    for (i, id) in key_of.iter().enumerate() {
        let slot = &mut next[*id as usize];
        order[*slot as usize] = i as u32;
        *slot += 1;
    }
    let spans: Vec<Span> = first_rows
        .iter()
        .enumerate()
        .map(|(id, first)| (*first, starts[id], starts[id + 1]))
        .collect();
    for &(_, start, end) in &spans {
        order[start as usize..end as usize].sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            time.value(a).cmp(&time.value(b)).then_with(|| {
                tie.iter()
                    .map(|c| c.value(a).cmp(&c.value(b)))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
    }
    Ok((order, spans))
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int32Array, TimestampMicrosecondArray};
    use arrow_schema::{Field, Schema};
    use datafusion::{execution::memory_pool::GreedyMemoryPool, prelude::SessionContext};
    use featurestore_offlinestore::{EVENT_TIME, INGEST_TIME, SOURCE_OFFSET, SOURCE_PARTITION};
    use featurestore_proto::v1::{KeyColumn, ScalarType};

    use super::*;

    fn group(ttl_seconds: i64) -> FeatureGroup {
        FeatureGroup {
            name: "orders".into(),
            primary_key: vec![KeyColumn {
                name: "customer_id".into(),
                r#type: ScalarType::Int64 as i32,
                description: String::new(),
            }],
            ttl_seconds,
            ..FeatureGroup::default()
        }
    }

    fn micros(values: Vec<i64>) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    }

    /// `(key, event time, ingest time, amount)` rows as a Delta scan gives them.
    fn rows(rows: &[(i64, i64, i64, i64)]) -> RecordBatch {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new(EVENT_TIME, ts(), false),
            Field::new("amount", DataType::Int64, true),
            Field::new(INGEST_TIME, ts(), false),
            Field::new(SOURCE_PARTITION, DataType::Int32, false),
            Field::new(SOURCE_OFFSET, DataType::Int64, false),
        ]));
        let n = rows.len() as i64;
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                micros(rows.iter().map(|r| r.1).collect()),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
                micros(rows.iter().map(|r| r.2).collect()),
                Arc::new(Int32Array::from(vec![0; rows.len()])),
                Arc::new(Int64Array::from_iter_values(0..n)),
            ],
        )
        .unwrap()
    }

    fn entities(rows: &[(i64, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                micros(rows.iter().map(|r| r.1).collect()),
            ],
        )
        .unwrap()
    }

    async fn build(batch: RecordBatch, ttl: i64, limit: usize) -> Option<GroupIndex> {
        let ctx = SessionContext::new();
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
        let typed = [("amount".to_string(), DataType::Int64)];
        GroupIndex::build(
            ctx.read_batch(batch).unwrap(),
            &group(ttl),
            &typed,
            &pool,
            limit,
        )
        .await
        .unwrap()
    }

    fn amounts(index: &GroupIndex, probe: &[(i64, i64)]) -> Vec<Option<i64>> {
        let out = index.probe(&entities(probe), "event_timestamp").unwrap();
        int64(&out[0]).unwrap().iter().collect()
    }

    #[tokio::test]
    async fn latest_at_or_before_within_the_ttl_ties_to_the_last_ingested() {
        // Out of order on purpose: the index sorts.
        let batch = rows(&[
            (1, 30, 5, 300),
            (1, 10, 1, 100),
            (2, 20, 1, 200),
            (1, 30, 9, 301),
            (1, 30, 7, 302),
        ]);
        let index = build(batch.clone(), 0, 64 << 20).await.unwrap();
        assert_eq!(
            amounts(
                &index,
                &[(1, 9), (1, 10), (1, 29), (1, 30), (1, 99), (2, 5), (3, 50)]
            ),
            [None, Some(100), Some(100), Some(301), Some(301), None, None]
        );
        // TTL 1 s (times here are µs): a row exactly 1 s old still counts.
        let index = build(batch, 1, 64 << 20).await.unwrap();
        assert_eq!(
            amounts(&index, &[(1, 30), (1, 1_000_030), (1, 1_000_031)]),
            [Some(301), Some(301), None]
        );
    }

    #[tokio::test]
    async fn rows_beyond_the_limit_give_up_instead_of_growing() {
        let many: Vec<_> = (0..10_000).map(|i| (i % 100, i, i, i)).collect();
        assert!(build(rows(&many), 0, 16 << 10).await.is_none());
        let index = build(rows(&many), 0, 8 << 20).await.unwrap();
        assert!(index.memory() > 0 && index.memory() <= 8 << 20);
    }

    #[test]
    fn the_least_size_counts_every_column_twice() {
        let typed = [
            ("amount".to_string(), DataType::Int64),
            ("label".to_string(), DataType::Utf8),
        ];
        // key 8 + amount 8 + label 8 + time/tie 28 = 52 bytes a row, twice.
        assert_eq!(least_bytes(1_000, &group(0), &typed), 104_000);
    }

    #[tokio::test]
    async fn a_null_entity_time_is_named() {
        let index = build(rows(&[(1, 10, 1, 100)]), 0, 64 << 20).await.unwrap();
        let schema = entities(&[]).schema();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(TimestampMicrosecondArray::from(vec![None]).with_timezone("UTC")),
            ],
        )
        .unwrap();
        let err = index.probe(&batch, "event_timestamp").unwrap_err();
        assert!(
            err.to_string().contains("entity_rows.event_timestamp"),
            "{err}"
        );
    }
}
