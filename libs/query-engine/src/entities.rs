//! The entity rows of a query: read once from where the caller put them,
//! checked against what the groups need, and spooled with their position
//! (`_row_id`) to an Arrow file in the spill directory.

use std::{path::PathBuf, sync::Arc};

use arrow_array::{RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::{
    dataframe::DataFrame,
    prelude::{ParquetReadOptions, SessionContext},
};
use futures::StreamExt;

use crate::{QueryError, Result};

/// Where the entity rows `(keys..., event_timestamp)` come from.
#[derive(Debug, Clone)]
pub enum EntitySource {
    /// Arrow IPC stream bytes (what `pyarrow.ipc.new_stream` writes).
    ArrowIpc(Vec<u8>),
    /// A Parquet file or a directory of Parquet files.
    Parquet(PathBuf),
    /// A Delta table (local path or URL), at a version or the latest.
    Delta {
        location: String,
        version: Option<i64>,
    },
}

/// The spooled entity rows.
#[derive(Debug)]
pub(crate) struct Spooled {
    pub file: tempfile::TempPath,
    /// The source's columns, then `_row_id`.
    pub schema: SchemaRef,
    pub rows: u64,
}

/// Inline entity rows: the schema and batches of a client's Arrow IPC
/// stream, or INVALID_ARGUMENT.
pub fn read_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<arrow_array::RecordBatch>)> {
    featurestore_domain::arrow::read_ipc_stream(bytes)
        .map_err(|reason| QueryError::invalid("entity_rows", reason))
}

/// Reads `source` into a DataFrame, one partition so that the read order is
/// the source's order; for a Delta source, also the table version read.
pub(crate) async fn open(
    ctx: &SessionContext,
    source: &EntitySource,
) -> Result<(DataFrame, Option<i64>)> {
    match source {
        EntitySource::ArrowIpc(bytes) => {
            let (schema, batches) = read_ipc(bytes)?;
            let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
            Ok((ctx.read_table(Arc::new(table))?, None))
        }
        EntitySource::Parquet(path) => {
            if !path.exists() {
                return Err(QueryError::NotFound(format!(
                    "entity Parquet path {} does not exist",
                    path.display()
                )));
            }
            let text = path.to_string_lossy().to_string();
            let options = ParquetReadOptions {
                file_extension: if path.is_dir() { ".parquet" } else { "" },
                ..ParquetReadOptions::default()
            };
            let frame = ctx
                .read_parquet(text.as_str(), options)
                .await
                .map_err(|e| {
                    QueryError::invalid(
                        "entity_source.parquet",
                        format!("{} is not readable as Parquet: {e}", path.display()),
                    )
                })?;
            Ok((frame, None))
        }
        EntitySource::Delta { location, version } => {
            let url = crate::engine::location_url(location)?;
            let opened = match version {
                None => deltalake::open_table(url).await,
                Some(v) => {
                    let v = u64::try_from(*v).map_err(|_| {
                        QueryError::invalid(
                            "entity_source.delta_version",
                            format!("{v} is negative"),
                        )
                    })?;
                    deltalake::open_table_with_version(url, v).await
                }
            };
            let table = opened.map_err(|e| match e {
                deltalake::DeltaTableError::NotATable(_) => QueryError::NotFound(format!(
                    "entity Delta table {location} (not a Delta table)"
                )),
                other => QueryError::invalid(
                    "entity_source.delta",
                    format!("{location} is not readable as a Delta table: {other}"),
                ),
            })?;
            let read = table.version().map(|v| v as i64);
            let provider = table.table_provider().await?;
            Ok((ctx.read_table(provider)?, read))
        }
    }
}

/// The error for entity rows without a time.
pub(crate) fn null_time(column: &str) -> QueryError {
    QueryError::invalid(
        format!("entity_rows.{column}"),
        "has nulls: every entity row needs the time to read features as of",
    )
}

/// Streams `frame` into an Arrow file under `dir`, adding `_row_id`; rows
/// without a time are refused.
pub(crate) async fn spool(
    frame: DataFrame,
    timestamp_column: &str,
    dir: &std::path::Path,
) -> Result<Spooled> {
    let source_schema: Schema = frame.schema().as_arrow().clone();
    if source_schema
        .column_with_name(featurestore_pitjoin::ROW_ID)
        .is_some()
    {
        return Err(QueryError::invalid(
            "entity_rows",
            format!(
                "the column name {:?} is reserved",
                featurestore_pitjoin::ROW_ID
            ),
        ));
    }
    let mut fields: Vec<Field> = source_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        featurestore_pitjoin::ROW_ID,
        DataType::UInt64,
        false,
    ));
    let schema = Arc::new(Schema::new(fields));
    let file = tempfile::Builder::new()
        .prefix("entities-")
        .suffix(".arrow")
        .tempfile_in(dir)
        .map_err(|e| QueryError::Unavailable(format!("spill directory {}: {e}", dir.display())))?;
    let (handle, path) = file.into_parts();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(handle, &schema)?;
    let mut stream = frame.execute_stream().await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch
            .column_by_name(timestamp_column)
            .is_some_and(|c| c.null_count() > 0)
        {
            return Err(null_time(timestamp_column));
        }
        let n = batch.num_rows() as u64;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from_iter_values(rows..rows + n)));
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        rows += n;
    }
    writer.finish()?;
    Ok(Spooled {
        file: path,
        schema,
        rows,
    })
}
