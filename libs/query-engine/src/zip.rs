//! Zips the spooled entity rows with each group's result, all in `_row_id`
//! order, slicing batches so rows line up whatever the batch sizes; checks
//! that the row ids agree (a mismatch is an internal error, never a silent
//! mix-up).

use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::SchemaRef;
use datafusion::{error::DataFusionError, execution::SendableRecordBatchStream};
use futures::{Stream, StreamExt};

type DfResult<T> = Result<T, DataFusionError>;

struct Input {
    stream: SendableRecordBatchStream,
    current: Option<(RecordBatch, usize)>,
    /// Index of `_row_id` in the input's batches.
    row_id: usize,
    /// Columns taken into the output.
    take: Vec<usize>,
}

impl Input {
    /// The current batch with rows left, pulling the next one if needed;
    /// `None` at the end.
    async fn fill(&mut self) -> DfResult<Option<usize>> {
        loop {
            if let Some((batch, offset)) = &self.current
                && *offset < batch.num_rows()
            {
                return Ok(Some(batch.num_rows() - offset));
            }
            match self.stream.next().await {
                None => return Ok(None),
                Some(batch) => self.current = Some((batch?, 0)),
            }
        }
    }

    fn slice(&mut self, n: usize) -> (RecordBatch, (u64, u64)) {
        let (batch, offset) = self.current.as_mut().expect("filled");
        let slice = batch.slice(*offset, n);
        *offset += n;
        let ids = slice
            .column(self.row_id)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .expect("_row_id is UInt64");
        (slice.clone(), (ids.value(0), ids.value(n - 1)))
    }
}

/// `entity` yields the entity columns plus `_row_id` at `entity_row_id`;
/// `groups` yield `(_row_id, _feature_time, features...)`. Output column
/// `i` is column `order[i]` of the entity columns (without `_row_id`)
/// followed by each group's features.
pub(crate) fn zip(
    schema: SchemaRef,
    entity: SendableRecordBatchStream,
    entity_row_id: usize,
    groups: Vec<SendableRecordBatchStream>,
    order: Vec<usize>,
) -> impl Stream<Item = DfResult<RecordBatch>> + Send + 'static {
    let entity_width = entity.schema().fields().len();
    let mut inputs = vec![Input {
        stream: entity,
        current: None,
        row_id: entity_row_id,
        take: (0..entity_width).filter(|i| *i != entity_row_id).collect(),
    }];
    for stream in groups {
        let width = stream.schema().fields().len();
        inputs.push(Input {
            stream,
            current: None,
            row_id: 0,
            take: (2..width).collect(),
        });
    }
    let order: std::sync::Arc<[usize]> = order.into();
    futures::stream::unfold((inputs, false), move |(mut inputs, done)| {
        let schema = schema.clone();
        let order = order.clone();
        async move {
            if done {
                return None;
            }
            match step(&schema, &mut inputs, &order).await {
                Ok(Some(batch)) => Some((Ok(batch), (inputs, false))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (inputs, true))),
            }
        }
    })
}

async fn step(
    schema: &SchemaRef,
    inputs: &mut [Input],
    order: &[usize],
) -> DfResult<Option<RecordBatch>> {
    let mut n = usize::MAX;
    let mut ended = 0;
    for input in inputs.iter_mut() {
        match input.fill().await? {
            Some(left) => n = n.min(left),
            None => ended += 1,
        }
    }
    if ended == inputs.len() {
        return Ok(None);
    }
    if ended > 0 {
        return Err(DataFusionError::Internal(
            "a feature group's result and the entity rows differ in length".into(),
        ));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut expected = None;
    for input in inputs.iter_mut() {
        let (slice, ids) = input.slice(n);
        match expected {
            None => expected = Some(ids),
            Some(e) if e != ids => {
                return Err(DataFusionError::Internal(format!(
                    "row ids out of step: entity rows {e:?}, a group's result {ids:?}"
                )));
            }
            Some(_) => {}
        }
        columns.extend(input.take.iter().map(|i| slice.column(*i).clone()));
    }
    let columns = order.iter().map(|i| columns[*i].clone()).collect();
    Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
}
