//! The streaming as-of merge.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, UInt64Array, new_null_array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use futures::{Stream, StreamExt, stream::BoxStream};

use crate::{FEATURE_TIME, KEY, ROW_ID, TIME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOfOptions {
    /// Feature rows older than `t - ttl` (µs) don't count; `None` = no limit.
    pub ttl_micros: Option<i64>,
    /// Rows per output batch.
    pub batch_size: usize,
}

impl Default for AsOfOptions {
    fn default() -> Self {
        Self {
            ttl_micros: None,
            batch_size: 8192,
        }
    }
}

/// `_row_id`, `_feature_time`, then the `payload` columns of `features`
/// (all nullable: an entity row without a match gets nulls).
pub fn output_schema(features: &Schema, payload: &[String]) -> Result<SchemaRef, ArrowError> {
    let mut fields = vec![
        Field::new(ROW_ID, DataType::UInt64, false),
        Field::new(FEATURE_TIME, DataType::Int64, true),
    ];
    for name in payload {
        let field = features.field_with_name(name)?;
        fields.push(Field::new(name, field.data_type().clone(), true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Merges `entities` (columns [`KEY`], [`TIME`], [`ROW_ID`]) with `features`
/// (columns [`KEY`], [`TIME`] and the `payload` columns), both sorted by
/// `(key, time)` ascending, features additionally by tie-break. Yields one
/// output row per entity row, in the entities' order, with the schema of
/// [`output_schema`]. An input that is not sorted gives wrong matches, not
/// an error: sorting is the caller's contract.
pub fn asof_merge<E>(
    entities: BoxStream<'static, Result<RecordBatch, E>>,
    features: BoxStream<'static, Result<RecordBatch, E>>,
    feature_schema: &Schema,
    payload: &[String],
    options: AsOfOptions,
) -> Result<impl Stream<Item = Result<RecordBatch, E>> + Send + 'static, E>
where
    E: From<ArrowError> + Send + 'static,
{
    let schema = output_schema(feature_schema, payload)?;
    let payload_columns = payload
        .iter()
        .map(|name| feature_schema.index_of(name))
        .collect::<Result<Vec<_>, _>>()?;
    let nulls = payload_columns
        .iter()
        .map(|c| new_null_array(feature_schema.field(*c).data_type(), 1))
        .collect();
    let state = Merge {
        entities,
        features,
        schema,
        payload_columns,
        nulls,
        options: AsOfOptions {
            batch_size: options.batch_size.max(1),
            ..options
        },
        entity: None,
        feature: None,
        features_done: false,
        sources: Vec::new(),
        last: None,
        current_key: Vec::new(),
        has_key: false,
        out_ids: Vec::new(),
        out_times: Vec::new(),
        out_rows: Vec::new(),
        finished: false,
    };
    Ok(futures::stream::unfold(state, |mut state| async move {
        state.next_batch().await.map(|batch| (batch, state))
    }))
}

/// The key and time columns of a batch, as plain arrays.
struct Cursor {
    keys: BinaryArray,
    times: Int64Array,
    row_ids: Option<UInt64Array>,
    pos: usize,
    /// Index of the batch in `Merge::sources` (feature side only).
    source: usize,
}

impl Cursor {
    fn new(batch: &RecordBatch, with_row_ids: bool) -> Result<Self, ArrowError> {
        let keys = arrow_cast::cast(column(batch, KEY)?, &DataType::Binary)?;
        let times = arrow_cast::cast(column(batch, TIME)?, &DataType::Int64)?;
        let row_ids = if with_row_ids {
            let ids = arrow_cast::cast(column(batch, ROW_ID)?, &DataType::UInt64)?;
            Some(downcast::<UInt64Array>(&ids, ROW_ID)?.clone())
        } else {
            None
        };
        let keys = downcast::<BinaryArray>(&keys, KEY)?.clone();
        let times = downcast::<Int64Array>(&times, TIME)?.clone();
        if keys.null_count() > 0 || times.null_count() > 0 {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{KEY} and {TIME} must not be null"
            )));
        }
        Ok(Self {
            keys,
            times,
            row_ids,
            pos: 0,
            source: 0,
        })
    }

    fn exhausted(&self) -> bool {
        self.pos >= self.keys.len()
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("column {name:?} is missing")))
}

fn downcast<'a, T: 'static>(array: &'a ArrayRef, name: &str) -> Result<&'a T, ArrowError> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| ArrowError::SchemaError(format!("column {name:?} has the wrong type")))
}

struct Merge<E> {
    entities: BoxStream<'static, Result<RecordBatch, E>>,
    features: BoxStream<'static, Result<RecordBatch, E>>,
    schema: SchemaRef,
    payload_columns: Vec<usize>,
    /// One null row per payload column: what unmatched rows take.
    nulls: Vec<ArrayRef>,
    options: AsOfOptions,
    entity: Option<Cursor>,
    feature: Option<Cursor>,
    features_done: bool,
    /// Feature batches the pending output rows point into.
    sources: Vec<RecordBatch>,
    /// The newest feature row (source, row, time) of the current key whose
    /// time is <= the current entity row's time.
    last: Option<(usize, usize, i64)>,
    current_key: Vec<u8>,
    has_key: bool,
    out_ids: Vec<u64>,
    out_times: Vec<Option<i64>>,
    /// (source + 1, row); source 0 = the null row.
    out_rows: Vec<(usize, usize)>,
    finished: bool,
}

impl<E: From<ArrowError>> Merge<E> {
    async fn next_batch(&mut self) -> Option<Result<RecordBatch, E>> {
        if self.finished {
            return None;
        }
        match self.fill().await {
            Ok(()) => {}
            Err(e) => {
                self.finished = true;
                return Some(Err(e));
            }
        }
        if self.out_ids.is_empty() {
            self.finished = true;
            return None;
        }
        Some(self.emit().map_err(E::from))
    }

    /// Matches entity rows until a batch is full or the entities end.
    async fn fill(&mut self) -> Result<(), E> {
        while self.out_ids.len() < self.options.batch_size {
            if !self.next_entity_batch().await? {
                self.finished = true;
                break;
            }
            let entity = self.entity.as_mut().expect("entity batch");
            let i = entity.pos;
            entity.pos += 1;
            let key = entity.keys.value(i);
            let time = entity.times.value(i);
            let row_id = entity.row_ids.as_ref().expect("row ids").value(i);
            if !self.has_key || self.current_key != key {
                self.current_key.clear();
                self.current_key.extend_from_slice(key);
                self.has_key = true;
                self.last = None;
            }
            self.advance_features(time).await?;
            let matched = self.last.filter(|(_, _, t)| {
                self.options
                    .ttl_micros
                    .is_none_or(|ttl| *t >= time.saturating_sub(ttl))
            });
            self.out_ids.push(row_id);
            match matched {
                Some((source, row, t)) => {
                    self.out_rows.push((source + 1, row));
                    self.out_times.push(Some(t));
                }
                None => {
                    self.out_rows.push((0, 0));
                    self.out_times.push(None);
                }
            }
        }
        Ok(())
    }

    /// Ensures the entity cursor has a row; false once entities are done.
    async fn next_entity_batch(&mut self) -> Result<bool, E> {
        while self.entity.as_ref().is_none_or(Cursor::exhausted) {
            match self.entities.next().await {
                None => return Ok(false),
                Some(batch) => self.entity = Some(Cursor::new(&batch?, true)?),
            }
        }
        Ok(true)
    }

    /// Moves the feature cursor past every row before `(current key, time]`,
    /// remembering the last row of the current key on the way.
    async fn advance_features(&mut self, time: i64) -> Result<(), E> {
        loop {
            if self.feature.as_ref().is_none_or(Cursor::exhausted) {
                if self.features_done {
                    return Ok(());
                }
                match self.features.next().await {
                    None => {
                        self.features_done = true;
                        return Ok(());
                    }
                    Some(batch) => {
                        let batch = batch?;
                        let mut cursor = Cursor::new(&batch, false)?;
                        cursor.source = self.sources.len();
                        self.sources.push(batch);
                        self.feature = Some(cursor);
                        continue;
                    }
                }
            }
            let feature = self.feature.as_mut().expect("feature batch");
            let i = feature.pos;
            match feature.keys.value(i).cmp(self.current_key.as_slice()) {
                std::cmp::Ordering::Less => feature.pos += 1,
                std::cmp::Ordering::Equal if feature.times.value(i) <= time => {
                    self.last = Some((feature.source, i, feature.times.value(i)));
                    feature.pos += 1;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Builds the output batch and lets go of feature batches no longer
    /// referenced.
    fn emit(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        columns.push(Arc::new(UInt64Array::from(std::mem::take(
            &mut self.out_ids,
        ))));
        columns.push(Arc::new(Int64Array::from(std::mem::take(
            &mut self.out_times,
        ))));
        for (j, c) in self.payload_columns.iter().enumerate() {
            let mut arrays: Vec<&dyn Array> = Vec::with_capacity(self.sources.len() + 1);
            arrays.push(self.nulls[j].as_ref());
            arrays.extend(self.sources.iter().map(|b| b.column(*c).as_ref()));
            columns.push(arrow_select::interleave::interleave(
                &arrays,
                &self.out_rows,
            )?);
        }
        self.out_rows.clear();
        // Keep only the batches later rows can still point into: the one
        // holding `last` and the one under the feature cursor.
        let mut kept = Vec::with_capacity(2);
        let mut remap = |source: usize, sources: &[RecordBatch]| -> usize {
            match kept.iter().position(|(old, _)| *old == source) {
                Some(i) => i,
                None => {
                    kept.push((source, sources[source].clone()));
                    kept.len() - 1
                }
            }
        };
        if let Some((source, _, _)) = &mut self.last {
            *source = remap(*source, &self.sources);
        }
        if let Some(feature) = &mut self.feature {
            feature.source = remap(feature.source, &self.sources);
        }
        self.sources = kept.into_iter().map(|(_, b)| b).collect();
        RecordBatch::try_new(self.schema.clone(), columns)
    }
}
