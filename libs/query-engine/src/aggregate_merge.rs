//! Aggregated features in training data when a group's events do not fit
//! in memory: DataFusion sorts the entity rows and the events by
//! `(keys, time)` (external sorts that spill), one pass over both reads one
//! key's events at a time, each batch of entity rows is computed as the
//! in-memory path does ([`AggregatePlan::values`]: same window rule, same
//! folds, same bits) on blocking threads, a few batches at once, and the
//! result is sorted back by `_row_id`.
//!
//! Memory: the sorts' share of the query memory pool, plus the events of
//! the keys of the batches being computed (not counted in the pool: a key
//! with more events than memory is the one case this path does not bound).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, UInt64Array,
    cast::AsArray,
    types::{Int32Type, Int64Type},
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::{
    error::DataFusionError, execution::SendableRecordBatchStream,
    physical_plan::stream::RecordBatchStreamAdapter, prelude::SessionContext,
};
use featurestore_pitjoin::{KEY, ROW_ID, TIME};
use futures::{StreamExt, stream::BoxStream};

use crate::{
    QueryError, Result,
    aggregate::{AggregatePlan, InputColumn, KeyRun},
    group::{Sorted, by_row_id},
};

type Batches = BoxStream<'static, Result<RecordBatch, DataFusionError>>;

/// Merges sorted `entities` (`keys..., _time, _row_id, _key`) with the
/// group's sorted `events` (see [`crate::group::sorted_features`], read
/// with `plan.inputs`): `(_row_id, _time, features...)` in `_row_id` order.
pub(crate) fn join(
    ctx: &SessionContext,
    entities: Sorted,
    events: Sorted,
    keys: usize,
    plan: AggregatePlan,
    parallelism: usize,
) -> Result<SendableRecordBatchStream> {
    let column = |schema: &SchemaRef, name: &str| -> Result<usize> { Ok(schema.index_of(name)?) };
    let inputs = plan.inputs.len();
    // Events: keys, time, inputs, then ingest time, partition, offset; key.
    let tie = keys + 1 + inputs;
    let places = Places {
        entity_time: column(&entities.schema, TIME)?,
        entity_row_id: column(&entities.schema, ROW_ID)?,
        entity_key: column(&entities.schema, KEY)?,
        event_time: keys,
        first_input: keys + 1,
        partition: tie + 1,
        offset: tie + 2,
        event_key: column(&events.schema, KEY)?,
    };
    let mut fields = vec![
        Field::new(ROW_ID, DataType::UInt64, false),
        Field::new(TIME, DataType::Int64, false),
    ];
    fields.extend(
        plan.features
            .iter()
            .map(|(_, _, name, ty)| Field::new(name, ty.clone(), true)),
    );
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let shared = Arc::new(Shared {
        plan,
        places,
        schema: schema.clone(),
    });
    let merge = Merge {
        entities: entities.stream,
        events: events.stream,
        head: None,
        events_ended: false,
        held: None,
        shared: shared.clone(),
    };
    // Reading both sides is sequential; computing a batch's values runs on
    // blocking threads, several batches at a time, in order.
    let work = futures::stream::unfold(Some(merge), |merge| async move {
        let mut merge = merge?;
        match merge.next_work().await {
            Ok(Some(work)) => Some((Ok(work), Some(merge))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let stream = work
        .map(move |work| {
            let shared = shared.clone();
            async move {
                let work = work?;
                tokio::task::spawn_blocking(move || work.compute(&shared))
                    .await
                    .map_err(|e| QueryError::Internal(format!("aggregate task: {e}")))?
            }
        })
        .buffered(parallelism)
        .map(|batch| batch.map_err(DataFusionError::from));
    by_row_id(ctx, Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
}

/// What the computing threads read.
struct Shared {
    plan: AggregatePlan,
    places: Places,
    schema: SchemaRef,
}

/// A batch of sorted entity rows and, per run of rows of one key, that
/// key's events (`None`: it has none).
struct Work {
    batch: RecordBatch,
    runs: Vec<(usize, usize, Option<Arc<Held>>)>,
}

impl Work {
    /// `(_row_id, _time, features...)` of the batch's rows.
    fn compute(self, shared: &Shared) -> Result<RecordBatch> {
        let Shared {
            plan,
            places,
            schema,
        } = shared;
        let n = self.batch.num_rows();
        let times = int64(self.batch.column(places.entity_time))?;
        let mut values = vec![Vec::with_capacity(n); plan.features.len()];
        for (start, end, held) in &self.runs {
            match held {
                // A key without events: nulls.
                None => {
                    for values in &mut values {
                        values.extend(std::iter::repeat_n(None, end - start));
                    }
                }
                Some(held) => {
                    let run: KeyRun = (&held.times[..], &held.seq[..], 0);
                    let rows: Vec<(i64, Option<KeyRun>)> = (*start..*end)
                        .map(|i| (times.value(i), Some(run)))
                        .collect();
                    let inputs: Vec<InputColumn> = (0..plan.inputs.len())
                        .map(|i| InputColumn::of(held.events.column(places.first_input + i)))
                        .collect();
                    plan.values(&rows, &inputs, &mut values);
                }
            }
        }
        let row_ids = arrow_cast::cast(self.batch.column(places.entity_row_id), &DataType::UInt64)?;
        let row_ids: &UInt64Array = row_ids.as_primitive();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(row_ids.clone()), Arc::new(times.clone())];
        columns.extend(plan.arrays(&values)?);
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

/// Column positions in the two sorted inputs.
struct Places {
    entity_time: usize,
    entity_row_id: usize,
    entity_key: usize,
    event_time: usize,
    first_input: usize,
    partition: usize,
    offset: usize,
    event_key: usize,
}

/// One key's events, all of them, in order.
struct Held {
    key: Vec<u8>,
    events: RecordBatch,
    times: Vec<i64>,
    seq: Vec<(i32, i64)>,
}

struct Merge {
    entities: Batches,
    events: Batches,
    /// The events batch being read and its first row not yet held.
    head: Option<(RecordBatch, usize)>,
    events_ended: bool,
    /// The events of the key last read (the smallest key not below the
    /// entity rows' current one), `None` past the last key.
    held: Option<Arc<Held>>,
    shared: Arc<Shared>,
}

fn binary(batch: &RecordBatch, column: usize) -> Result<&BinaryArray> {
    batch
        .column(column)
        .as_binary_opt::<i32>()
        .ok_or_else(|| QueryError::Internal("_key is not binary".into()))
}

fn int64(array: &ArrayRef) -> Result<&Int64Array> {
    array
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| QueryError::Internal(format!("expected Int64, got {}", array.data_type())))
}

impl Merge {
    /// The next batch of entity rows with its keys' events, `None` after
    /// the last.
    async fn next_work(&mut self) -> Result<Option<Work>> {
        let batch = loop {
            match self.entities.next().await {
                None => return Ok(None),
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        break batch;
                    }
                }
            }
        };
        let n = batch.num_rows();
        let keys = binary(&batch, self.shared.places.entity_key)?;
        let mut runs = Vec::new();
        let mut start = 0;
        while start < n {
            let key = keys.value(start);
            let end = (start + 1..n).find(|i| keys.value(*i) != key).unwrap_or(n);
            self.seek(key).await?;
            let held = self.held.clone().filter(|h| h.key == key);
            runs.push((start, end, held));
            start = end;
        }
        Ok(Some(Work { batch, runs }))
    }

    /// Reads events until the held key is `key` or past it.
    async fn seek(&mut self, key: &[u8]) -> Result<()> {
        loop {
            if let Some(held) = &self.held
                && held.key.as_slice() >= key
            {
                return Ok(());
            }
            if !self.hold_next().await? {
                return Ok(());
            }
        }
    }

    /// The next events batch with rows left, `false` at the end.
    async fn fill(&mut self) -> Result<bool> {
        loop {
            if let Some((batch, at)) = &self.head
                && *at < batch.num_rows()
            {
                return Ok(true);
            }
            self.head = None;
            if self.events_ended {
                return Ok(false);
            }
            match self.events.next().await {
                None => self.events_ended = true,
                Some(batch) => self.head = Some((batch?, 0)),
            }
        }
    }

    /// Holds the next key's events (they may span batches); `false` (and
    /// nothing held) when there are none left.
    async fn hold_next(&mut self) -> Result<bool> {
        self.held = None;
        let mut parts = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        while self.fill().await? {
            let (batch, at) = self.head.as_mut().expect("filled");
            let keys = binary(batch, self.shared.places.event_key)?;
            let this = key.get_or_insert_with(|| keys.value(*at).to_vec());
            if keys.value(*at) != this.as_slice() {
                break;
            }
            let end = (*at + 1..batch.num_rows())
                .find(|i| keys.value(*i) != this.as_slice())
                .unwrap_or(batch.num_rows());
            parts.push(batch.slice(*at, end - *at));
            *at = end;
            if end < batch.num_rows() {
                break;
            }
        }
        let Some(key) = key else {
            return Ok(false);
        };
        let events = match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => arrow_select::concat::concat_batches(&parts[0].schema(), &parts)?,
        };
        let times = int64(events.column(self.shared.places.event_time))?
            .values()
            .to_vec();
        let partition = arrow_cast::cast(
            events.column(self.shared.places.partition),
            &DataType::Int32,
        )?;
        let offset = arrow_cast::cast(events.column(self.shared.places.offset), &DataType::Int64)?;
        let seq = partition
            .as_primitive::<Int32Type>()
            .values()
            .iter()
            .zip(int64(&offset)?.values())
            .map(|(p, o)| (*p, *o))
            .collect();
        self.held = Some(Arc::new(Held {
            key,
            events,
            times,
            seq,
        }));
        Ok(true)
    }
}
