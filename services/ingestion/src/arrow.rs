//! `IngestArrow`: an Arrow IPC stream (a DataFrame) turned into rows of the
//! same shape as `Ingest` requests, so one validation path serves both.
//!
//! Arrow types map to feature types as: Boolean → bool; Int32, Int64,
//! Float32, Float64 → the same; Utf8 / LargeUtf8 / Utf8View → string;
//! Binary / LargeBinary → bytes; Timestamp (any unit, any zone) → timestamp
//! (µs since epoch, UTC); List / LargeList of those → list. Arrow nulls are
//! nulls. Any other Arrow type is refused, naming the column.

use std::io::Cursor;

use arrow_array::{
    Array, ArrayRef, RecordBatch,
    cast::AsArray,
    types::{
        Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
        TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    },
};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, TimeUnit};
use featurestore_proto::v1::{self as pb, Row, Value, value::Kind};

use crate::error::IngestionError;

/// The batches of an IPC stream, each as column names and rows.
pub fn decode(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<Row>>), IngestionError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| {
        IngestionError::invalid("arrow_ipc_stream", format!("not an Arrow IPC stream: {e}"))
    })?;
    let columns: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| {
            IngestionError::invalid("arrow_ipc_stream", format!("bad record batch: {e}"))
        })?;
        batches.push(rows_of(&batch, &columns)?);
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
        for (row, value) in rows.iter_mut().zip(values_of(array, name)?) {
            row.values.push(value);
        }
    }
    Ok(rows)
}

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn null() -> Value {
    value(Kind::NullValue(0))
}

fn unsupported(name: &str, ty: &DataType) -> IngestionError {
    IngestionError::invalid(
        name,
        format!(
            "arrow type {ty} is not supported (use bool, int32, int64, float32, float64, string, binary, timestamp or lists of them)"
        ),
    )
}

/// Every value of one column, nulls included.
fn values_of(array: &ArrayRef, name: &str) -> Result<Vec<Value>, IngestionError> {
    macro_rules! scalars {
        ($arr:expr, $kind:ident, $conv:expr) => {{
            let arr = $arr;
            (0..arr.len())
                .map(|i| {
                    if arr.is_null(i) {
                        null()
                    } else {
                        value(Kind::$kind($conv(arr.value(i))))
                    }
                })
                .collect()
        }};
    }
    Ok(match array.data_type() {
        DataType::Boolean => scalars!(array.as_boolean(), BoolValue, |v| v),
        DataType::Int32 => scalars!(array.as_primitive::<Int32Type>(), Int32Value, |v| v),
        DataType::Int64 => scalars!(array.as_primitive::<Int64Type>(), Int64Value, |v| v),
        DataType::Float32 => scalars!(array.as_primitive::<Float32Type>(), Float32Value, |v| v),
        DataType::Float64 => scalars!(array.as_primitive::<Float64Type>(), Float64Value, |v| v),
        DataType::Utf8 => scalars!(array.as_string::<i32>(), StringValue, |v: &str| v
            .to_string()),
        DataType::LargeUtf8 => scalars!(array.as_string::<i64>(), StringValue, |v: &str| v
            .to_string()),
        DataType::Utf8View => {
            scalars!(array.as_string_view(), StringValue, |v: &str| v.to_string())
        }
        DataType::Binary => scalars!(array.as_binary::<i32>(), BytesValue, |v: &[u8]| v.to_vec()),
        DataType::LargeBinary => {
            scalars!(array.as_binary::<i64>(), BytesValue, |v: &[u8]| v.to_vec())
        }
        DataType::Timestamp(unit, _) => {
            let micros = timestamps(array, unit);
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        null()
                    } else {
                        value(Kind::TimestampValue(micros[i]))
                    }
                })
                .collect()
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (0..list.len())
                .map(|i| {
                    if list.is_null(i) {
                        Ok(null())
                    } else {
                        list_value(&list.value(i), name)
                    }
                })
                .collect::<Result<_, _>>()?
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            (0..list.len())
                .map(|i| {
                    if list.is_null(i) {
                        Ok(null())
                    } else {
                        list_value(&list.value(i), name)
                    }
                })
                .collect::<Result<_, _>>()?
        }
        other => return Err(unsupported(name, other)),
    })
}

fn timestamps(array: &ArrayRef, unit: &TimeUnit) -> Vec<i64> {
    match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000_000))
            .collect(),
        TimeUnit::Millisecond => array
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000))
            .collect(),
        TimeUnit::Microsecond => array
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec(),
        TimeUnit::Nanosecond => array
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|v| v / 1_000)
            .collect(),
    }
}

/// One list cell; its elements may not be null.
fn list_value(items: &ArrayRef, name: &str) -> Result<Value, IngestionError> {
    if items.null_count() > 0 {
        return Err(IngestionError::invalid(
            name,
            "list elements cannot be null",
        ));
    }
    let kind = match items.data_type() {
        DataType::Boolean => Kind::BoolList(pb::BoolList {
            values: items.as_boolean().iter().flatten().collect(),
        }),
        DataType::Int32 => Kind::Int32List(pb::Int32List {
            values: items.as_primitive::<Int32Type>().values().to_vec(),
        }),
        DataType::Int64 => Kind::Int64List(pb::Int64List {
            values: items.as_primitive::<Int64Type>().values().to_vec(),
        }),
        DataType::Float32 => Kind::Float32List(pb::Float32List {
            values: items.as_primitive::<Float32Type>().values().to_vec(),
        }),
        DataType::Float64 => Kind::Float64List(pb::Float64List {
            values: items.as_primitive::<Float64Type>().values().to_vec(),
        }),
        DataType::Utf8 => Kind::StringList(pb::StringList {
            values: items
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(String::from)
                .collect(),
        }),
        DataType::LargeUtf8 => Kind::StringList(pb::StringList {
            values: items
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(String::from)
                .collect(),
        }),
        DataType::Binary => Kind::BytesList(pb::BytesList {
            values: items
                .as_binary::<i32>()
                .iter()
                .flatten()
                .map(<[u8]>::to_vec)
                .collect(),
        }),
        DataType::Timestamp(unit, _) => Kind::TimestampList(pb::TimestampList {
            values: timestamps(items, unit),
        }),
        other => {
            return Err(unsupported(
                name,
                &DataType::List(std::sync::Arc::new(arrow_schema::Field::new(
                    "item",
                    other.clone(),
                    false,
                ))),
            ));
        }
    };
    Ok(value(kind))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Float64Array, Int64Array, ListArray, StringArray, TimestampMillisecondArray, UInt8Array,
        types::Float32Type,
    };
    use arrow_ipc::writer::StreamWriter;
    use arrow_schema::{Field, Schema};

    use super::*;

    fn ipc(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
        writer.write(batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        out
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
        let (columns, batches) = decode(&ipc(&batch)).unwrap();
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
        let err = decode(&ipc(&batch)).unwrap_err().to_string();
        assert!(err.contains("flag") && err.contains("UInt8"), "{err}");
        assert!(
            decode(b"not arrow")
                .unwrap_err()
                .to_string()
                .contains("arrow_ipc_stream")
        );
    }
}
