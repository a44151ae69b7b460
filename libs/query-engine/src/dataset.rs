//! Training datasets on disk: a query result written out as Parquet or as a
//! Delta table, and read back in the order it was written.
//!
//! Layout of a dataset directory:
//! - Parquet: one file, `part-00000.parquet` (row groups of
//!   [`ROW_GROUP_ROWS`] rows, written as the result streams in);
//! - Delta: a Delta table whose version 0 holds every row.

use std::{
    num::NonZeroU64,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::{
    common::config::TableParquetOptions, dataframe::DataFrameWriteOptions,
    execution::SendableRecordBatchStream, physical_plan::stream::RecordBatchStreamAdapter,
    prelude::ParquetReadOptions,
};
use futures::{StreamExt, TryStreamExt};

use crate::{OfflineQuery, QueryError, Result};

/// The single data file of a Parquet dataset.
pub const PARQUET_FILE: &str = "part-00000.parquet";

/// Rows per Parquet row group (what a writer buffers before flushing).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How a dataset is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    Parquet,
    Delta,
}

/// What writing a dataset produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDataset {
    pub rows: u64,
}

/// `schema` with second-precision timestamps (an entity file's times, as
/// a CSV reader infers them) widened to microseconds: Parquet and Delta have
/// no second unit, and a writer would store them as bare integers.
fn storable(schema: &SchemaRef) -> SchemaRef {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Second, _)))
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Second, tz) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn dir_url(dir: &Path) -> Result<url::Url> {
    url::Url::from_directory_path(dir)
        .map_err(|_| QueryError::Internal(format!("{} is not an absolute path", dir.display())))
}

impl OfflineQuery {
    /// Writes `rows` into the empty directory `dir`, in order. On an error
    /// the directory holds partial files: the caller removes it.
    pub async fn write_dataset(
        &self,
        rows: SendableRecordBatchStream,
        dir: &Path,
        format: DatasetFormat,
        target_file_bytes: Option<NonZeroU64>,
    ) -> Result<WrittenDataset> {
        let ctx = self.context();
        let counted = Arc::new(AtomicU64::new(0));
        let schema = storable(&rows.schema());
        let counter = counted.clone();
        let target = schema.clone();
        let rows = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            rows.map(move |batch| {
                let batch = batch.and_then(|b| {
                    if b.schema() == target {
                        return Ok(b);
                    }
                    let columns = b
                        .columns()
                        .iter()
                        .zip(target.fields())
                        .map(|(c, f)| arrow_cast::cast(c, f.data_type()))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(RecordBatch::try_new(target.clone(), columns)?)
                });
                if let Ok(b) = &batch {
                    counter.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                }
                batch
            }),
        ));
        let frame = crate::oneshot::frame(&ctx, rows)?;
        match format {
            DatasetFormat::Parquet => {
                let mut options = TableParquetOptions::default();
                options.global.max_row_group_size = ROW_GROUP_ROWS;
                options.global.compression = Some("snappy".into());
                let file = dir.join(PARQUET_FILE);
                frame
                    .write_parquet(
                        &file.to_string_lossy(),
                        DataFrameWriteOptions::new().with_single_file_output(true),
                        Some(options),
                    )
                    .await?;
            }
            DatasetFormat::Delta => {
                let table = deltalake::DeltaTable::try_from_url(dir_url(dir)?).await?;
                // Delta's planner, one partition: files written in row order.
                let session =
                    deltalake::delta_datafusion::DeltaSessionContext::new_with_session_overrides(
                        &[(
                            "datafusion.execution.target_partitions".to_string(),
                            "1".to_string(),
                        )]
                        .into(),
                    )?;
                table
                    .write(Vec::new())
                    .with_input_plan(frame.logical_plan().clone())
                    .with_session_state(Arc::new(session.state()))
                    .with_target_file_size(target_file_bytes)
                    .with_write_batch_size(ROW_GROUP_ROWS)
                    .await?;
            }
        }
        Ok(WrittenDataset {
            rows: counted.load(Ordering::Relaxed),
        })
    }

    /// The dataset's data files in the order they were written: Delta
    /// numbers its files `part-<n>-...` in write order (its log replay does
    /// not keep that order, so the files are read one after the other).
    async fn dataset_files(&self, dir: &Path, format: DatasetFormat) -> Result<Vec<String>> {
        let missing = |e: &dyn std::fmt::Display| {
            QueryError::NotFound(format!("dataset files in {}: {e}", dir.display()))
        };
        match format {
            DatasetFormat::Parquet => {
                let file = dir.join(PARQUET_FILE);
                if !file.exists() {
                    return Err(missing(&"no data file"));
                }
                Ok(vec![file.to_string_lossy().into_owned()])
            }
            DatasetFormat::Delta => {
                let table = deltalake::open_table_with_version(dir_url(dir)?, 0)
                    .await
                    .map_err(|e| missing(&e))?;
                let mut files: Vec<(u64, String)> = table
                    .get_file_uris()?
                    .map(|uri| (part_number(&uri), uri))
                    .collect();
                files.sort();
                Ok(files.into_iter().map(|(_, uri)| uri).collect())
            }
        }
    }

    /// The rows of the dataset in `dir`, in the order they were written.
    pub async fn read_dataset(
        &self,
        dir: &Path,
        format: DatasetFormat,
    ) -> Result<SendableRecordBatchStream> {
        let files = self.dataset_files(dir, format).await?;
        let schema = self.file_schema(files.first()).await?;
        let ctx = self.context();
        let rows = futures::stream::iter(files)
            .then(move |file| {
                let ctx = ctx.clone();
                async move {
                    ctx.read_parquet(file.as_str(), ParquetReadOptions::default())
                        .await?
                        .execute_stream()
                        .await
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
    }

    async fn file_schema(&self, file: Option<&String>) -> Result<SchemaRef> {
        let file =
            file.ok_or_else(|| QueryError::NotFound("the dataset has no data files".into()))?;
        let frame = self
            .context()
            .read_parquet(file.as_str(), ParquetReadOptions::default())
            .await?;
        Ok(Arc::new(frame.schema().as_arrow().clone()))
    }

    /// The schema of the dataset in `dir`.
    pub async fn dataset_schema(&self, dir: &Path, format: DatasetFormat) -> Result<SchemaRef> {
        let files = self.dataset_files(dir, format).await?;
        self.file_schema(files.first()).await
    }
}

/// `n` of a file named `part-<n>-...` (Delta's writer), else 0.
fn part_number(uri: &str) -> u64 {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    name.strip_prefix("part-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
