//! Datasets written as Parquet and as Delta read back with every row, in
//! order, with the schema they were written with.

use std::{num::NonZeroU64, sync::Arc};

use arrow_array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::{error::DataFusionError, physical_plan::stream::RecordBatchStreamAdapter};
use featurestore_offlinestore::DeltaStore;
use featurestore_query_engine::{
    DatasetFormat, OfflineQuery, QueryConfig, SendableRecordBatchStream,
};
use futures::TryStreamExt;

fn engine(dir: &std::path::Path) -> OfflineQuery {
    let store = Arc::new(DeltaStore::new(dir.join("offline").to_str().unwrap()).unwrap());
    OfflineQuery::new(
        store,
        QueryConfig {
            memory_limit_bytes: 64 << 20,
            spill_dir: dir.join("spill"),
            batch_size: 4096,
            ..QueryConfig::default()
        },
    )
    .unwrap()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("label", DataType::Utf8, true),
        Field::new("orders__total", DataType::Float64, true),
    ]))
}

/// `n` rows in batches of 1000, ids descending (so any reordering shows).
fn batches(n: i64) -> Vec<RecordBatch> {
    (0..n)
        .step_by(1000)
        .map(|start| {
            let ids: Vec<i64> = (start..(start + 1000).min(n)).map(|i| n - i).collect();
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            ids.iter().map(|i| i * 1_000).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from_iter(
                        ids.iter().map(|i| (i % 3 != 0).then(|| format!("l{i}"))),
                    )),
                    Arc::new(Float64Array::from_iter(
                        ids.iter().map(|i| (i % 5 != 0).then_some(*i as f64 / 2.0)),
                    )),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn stream(batches: Vec<Result<RecordBatch, DataFusionError>>) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema(),
        futures::stream::iter(batches),
    ))
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let ids = b
                .column_by_name("user_id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            ids.values().to_vec()
        })
        .collect()
}

async fn round_trip(format: DatasetFormat, target_file_bytes: Option<NonZeroU64>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let data = dir.path().join("dataset");
    std::fs::create_dir_all(&data).unwrap();
    let written = batches(50_000);
    let outcome = engine
        .write_dataset(
            stream(written.iter().cloned().map(Ok).collect()),
            &data,
            format,
            target_file_bytes,
        )
        .await
        .unwrap();
    assert_eq!(outcome.rows, 50_000);

    let schema = engine.dataset_schema(&data, format).await.unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["user_id", "event_timestamp", "label", "orders__total"]
    );
    let read: Vec<RecordBatch> = engine
        .read_dataset(&data, format)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&read), ids(&written), "rows in written order");
    let read = arrow_select::concat::concat_batches(&read[0].schema(), &read).unwrap();
    let written = arrow_select::concat::concat_batches(&schema_of(&written), &written).unwrap();
    for name in ["label", "orders__total"] {
        let (a, b) = (
            read.column_by_name(name).unwrap(),
            written.column_by_name(name).unwrap(),
        );
        assert_eq!(a.data_type(), b.data_type(), "{name}");
        assert!(a.to_data() == b.to_data(), "{name}: values differ");
        assert!(a.null_count() > 0, "{name} keeps its nulls");
    }
}

fn schema_of(batches: &[RecordBatch]) -> SchemaRef {
    batches[0].schema()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_dataset_reads_back_in_order() {
    round_trip(DatasetFormat::Parquet, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_dataset_of_many_files_reads_back_in_order() {
    // ~64 KB files: the 50k rows span several data files.
    round_trip(DatasetFormat::Delta, NonZeroU64::new(64 << 10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_result_fails_the_write() {
    for format in [DatasetFormat::Parquet, DatasetFormat::Delta] {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let data = dir.path().join("dataset");
        std::fs::create_dir_all(&data).unwrap();
        let mut input: Vec<_> = batches(5_000).into_iter().map(Ok).collect();
        input.insert(
            3,
            Err(DataFusionError::ResourcesExhausted("out of memory".into())),
        );
        let err = engine
            .write_dataset(stream(input), &data, format, None)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("out of memory"),
            "{format:?}: {err}"
        );
    }
}
