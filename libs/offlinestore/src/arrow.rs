//! Rows to Arrow columns of the table's schema (as the Delta writer wants
//! them: its own field names, timestamps in µs UTC, lists without nulls).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, SchemaRef};
use featurestore_domain::{DomainError, arrow::to_array};
use featurestore_proto::v1::{Value, value::Kind};

use crate::{OfflineRow, OfflineStoreError, OfflineTable, Result};

/// A value that does not fit its column (written), or a type with no
/// column type.
pub(crate) fn invalid(e: DomainError) -> OfflineStoreError {
    OfflineStoreError::Invalid(e.to_string())
}

/// A stored column that does not read as values (read).
fn unreadable(table: &OfflineTable, e: DomainError) -> OfflineStoreError {
    OfflineStoreError::Internal(format!("{}: {e}", table.label))
}

/// The rows as one batch of `schema`, matching columns by name (columns
/// added later sit after the lineage columns in the table's schema).
pub fn batch(schema: &SchemaRef, table: &OfflineTable, rows: &[OfflineRow]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let ty = field.data_type();
        let array = if let Some(k) = table.keys.iter().position(|(n, _)| n == name) {
            to_array(name, ty, rows.iter().map(|r| r.key_values.get(k))).map_err(invalid)?
        } else if let Some(f) = table.features.iter().position(|(n, _)| n == name) {
            to_array(name, ty, rows.iter().map(|r| r.feature_values.get(f))).map_err(invalid)?
        } else {
            let times = |f: fn(&OfflineRow) -> i64| {
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(f))
                        .with_timezone_opt(tz(ty)),
                ) as ArrayRef
            };
            match name {
                crate::EVENT_TIME => times(|r| r.event_time_micros),
                crate::INGEST_TIME => times(|r| r.ingest_time_micros),
                crate::SOURCE_PARTITION => Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.partition),
                )) as ArrayRef,
                crate::SOURCE_OFFSET => {
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.offset)))
                        as ArrayRef
                }
                // A column the table has but this group version no longer
                // lists cannot happen (features are only added); be explicit.
                other => {
                    return Err(OfflineStoreError::Internal(format!(
                        "{}: unexpected column {other}",
                        table.label
                    )));
                }
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| OfflineStoreError::Invalid(e.to_string()))
}

fn tz(ty: &DataType) -> Option<Arc<str>> {
    match ty {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    }
}

/// The rows of a stored batch, in the table's key and feature order
/// (features the batch's file predates read as null).
pub fn rows(batch: &RecordBatch, table: &OfflineTable) -> Result<Vec<OfflineRow>> {
    use arrow_array::{cast::AsArray, types};
    let column = |name: &str| batch.column_by_name(name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            OfflineStoreError::Internal(format!("{}: no column {name}", table.label))
        })
    };
    let values = |name: &str, array: &ArrayRef| {
        featurestore_domain::arrow::to_values(name, array.as_ref())
            .map(Vec::into_iter)
            .map_err(|e| unreadable(table, e))
    };
    let mut keys = table
        .keys
        .iter()
        .map(|(n, _)| values(n, required(n)?))
        .collect::<Result<Vec<_>>>()?;
    let mut features = table
        .features
        .iter()
        .map(|(n, _)| column(n).map(|a| values(n, a)).transpose())
        .collect::<Result<Vec<_>>>()?;
    let event_time = required(crate::EVENT_TIME)?.as_primitive::<types::TimestampMicrosecondType>();
    let ingest_time =
        required(crate::INGEST_TIME)?.as_primitive::<types::TimestampMicrosecondType>();
    let partition = required(crate::SOURCE_PARTITION)?.as_primitive::<types::Int32Type>();
    let offset = required(crate::SOURCE_OFFSET)?.as_primitive::<types::Int64Type>();
    let null = || Value {
        kind: Some(Kind::NullValue(0)),
    };
    Ok((0..batch.num_rows())
        .map(|i| OfflineRow {
            key_values: keys
                .iter_mut()
                .map(|k| k.next().unwrap_or_else(null))
                .collect(),
            event_time_micros: event_time.value(i),
            feature_values: features
                .iter_mut()
                .map(|f| f.as_mut().and_then(Iterator::next).unwrap_or_else(null))
                .collect(),
            ingest_time_micros: ingest_time.value(i),
            partition: partition.value(i),
            offset: offset.value(i),
        })
        .collect())
}
