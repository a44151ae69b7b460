//! `IngestArrow`: an Arrow IPC stream (a DataFrame) turned into rows of the
//! same shape as `Ingest` requests, so one validation path serves both.
//!
//! Arrow types map to feature types by `featurestore_domain::arrow::to_values`:
//! Boolean → bool; Int32, Int64, Float32, Float64 → the same; Utf8 /
//! LargeUtf8 / Utf8View → string; Binary / LargeBinary / BinaryView → bytes;
//! Timestamp (any unit, any zone) → timestamp (µs since epoch, UTC); List /
//! LargeList of those → list (elements not null). Arrow nulls are nulls. Any
//! other Arrow type is refused, naming the column.

use arrow_array::RecordBatch;
use featurestore_domain::arrow::{read_ipc_stream, to_values};
use featurestore_proto::v1::Row;

use crate::error::IngestionError;

/// The batches of an IPC stream, each as column names and rows; more than
/// `max_rows` rows are refused before any is converted (a few bytes of IPC
/// can declare millions of rows: a bit per boolean, none for no column).
pub fn decode(
    bytes: &[u8],
    max_rows: usize,
) -> Result<(Vec<String>, Vec<Vec<Row>>), IngestionError> {
    let (schema, read) = read_ipc_stream(bytes)
        .map_err(|reason| IngestionError::invalid("arrow_ipc_stream", reason))?;
    let rows: usize = read.iter().map(RecordBatch::num_rows).sum();
    if rows > max_rows {
        return Err(IngestionError::invalid(
            "arrow_ipc_stream",
            format!("{rows} rows exceed the limit of {max_rows} per request; split the DataFrame"),
        ));
    }
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut batches = Vec::with_capacity(read.len());
    for batch in &read {
        batches.push(rows_of(batch, &columns)?);
    }
    Ok((columns, batches))
}

fn rows_of(batch: &RecordBatch, columns: &[String]) -> Result<Vec<Row>, IngestionError> {
    let mut rows: Vec<Row> = (0..batch.num_rows())
        .map(|_| Row {
            values: Vec::with_capacity(columns.len()),
        })
        .collect();
    for (array, name) in batch.columns().iter().zip(columns) {
        for (row, value) in rows.iter_mut().zip(to_values(name, array.as_ref())?) {
            row.values.push(value);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Float64Array, Int64Array, ListArray, StringArray, TimestampMillisecondArray,
        UInt8Array, types::Float32Type,
    };
    use arrow_ipc::writer::StreamWriter;
    use arrow_schema::{DataType, Field, Schema};
    use featurestore_proto::v1::{self as pb, Value, value::Kind};

    use super::*;

    fn value(kind: Kind) -> Value {
        Value { kind: Some(kind) }
    }

    fn null() -> Value {
        value(Kind::NullValue(0))
    }

    fn ipc(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
        writer.write(batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        out
    }

    #[test]
    fn rows_over_the_limit_are_refused_before_conversion() {
        // No column at all, ten million rows: a few bytes of IPC.
        let empty = Arc::new(arrow_schema::Schema::empty());
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(10_000_000));
        let batch = RecordBatch::try_new_with_options(empty, vec![], &options).unwrap();
        let bytes = ipc(&batch);
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        let err = decode(&bytes, 100_000).unwrap_err().to_string();
        assert!(err.contains("exceed the limit of 100000"), "{err}");
    }

    #[test]
    fn a_dataframe_becomes_rows() {
        let embedding = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(0.5), Some(1.0)]),
            None,
        ]);
        let batch = RecordBatch::try_from_iter(vec![
            (
                "customer_id",
                Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
            (
                "event_time",
                Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000])) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Float64Array::from(vec![Some(1.5), None])) as ArrayRef,
            ),
            (
                "country",
                Arc::new(StringArray::from(vec!["de", "fr"])) as ArrayRef,
            ),
            ("embedding", Arc::new(embedding) as ArrayRef),
        ])
        .unwrap();
        let (columns, batches) = decode(&ipc(&batch), 1000).unwrap();
        assert_eq!(
            columns,
            [
                "customer_id",
                "event_time",
                "amount",
                "country",
                "embedding"
            ]
        );
        let rows = &batches[0];
        assert_eq!(
            rows[0].values[1],
            value(Kind::TimestampValue(1_000_000)),
            "ms become µs"
        );
        assert_eq!(rows[1].values[2], null());
        assert_eq!(
            rows[0].values[4],
            value(Kind::Float32List(pb::Float32List {
                values: vec![0.5, 1.0]
            }))
        );
        assert_eq!(rows[1].values[4], null());
    }

    #[test]
    fn unsupported_types_and_garbage_are_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "flag",
            DataType::UInt8,
            false,
        )]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(UInt8Array::from(vec![1]))]).unwrap();
        let err = decode(&ipc(&batch), 1000).unwrap_err().to_string();
        assert!(err.contains("flag") && err.contains("UInt8"), "{err}");
        assert!(
            decode(b"not arrow", 1000)
                .unwrap_err()
                .to_string()
                .contains("arrow_ipc_stream")
        );
    }
}
