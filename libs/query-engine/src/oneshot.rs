//! A stream that is already running, as the only partition of an execution
//! plan or a table: how a merged stream goes back into DataFusion (to be
//! sorted, or written out).

use std::sync::{Arc, Mutex};

use arrow_schema::SchemaRef;
use datafusion::{
    catalog::streaming::StreamingTable,
    error::DataFusionError,
    execution::{SendableRecordBatchStream, TaskContext},
    physical_expr::LexOrdering,
    physical_plan::{
        stream::RecordBatchStreamAdapter,
        streaming::{PartitionStream, StreamingTableExec},
    },
    prelude::{DataFrame, SessionContext},
};

use crate::Result;

/// A stream run once; running it again fails.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OneShot {
    fn new(stream: SendableRecordBatchStream) -> Arc<Self> {
        Arc::new(Self {
            schema: stream.schema(),
            stream: Mutex::new(Some(stream)),
        })
    }
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot").finish_non_exhaustive()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "a one-shot stream ran twice".into(),
                    ))
                }),
            )),
        }
    }
}

/// `stream` as a single-partition execution plan.
pub(crate) fn exec(stream: SendableRecordBatchStream) -> Result<Arc<StreamingTableExec>> {
    let schema = stream.schema();
    Ok(Arc::new(StreamingTableExec::try_new(
        schema,
        vec![OneShot::new(stream)],
        None,
        Vec::<LexOrdering>::new(),
        false,
        None,
    )?))
}

/// `stream` as a DataFrame (to write it out with DataFusion or Delta).
pub(crate) fn frame(ctx: &SessionContext, stream: SendableRecordBatchStream) -> Result<DataFrame> {
    let schema = stream.schema();
    let table = StreamingTable::try_new(schema, vec![OneShot::new(stream)])?;
    Ok(ctx.read_table(Arc::new(table))?)
}
