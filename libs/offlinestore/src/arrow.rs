//! Rows to Arrow columns of the table's schema (as the Delta writer wants
//! them: its own field names, timestamps in µs UTC, lists without nulls).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use featurestore_proto::v1::{Value, value::Kind};

use crate::{OfflineRow, OfflineStoreError, OfflineTable, Result};

fn wrong(column: &str, value: &Value, ty: &DataType) -> OfflineStoreError {
    OfflineStoreError::Invalid(format!("{column}: {value:?} does not fit {ty}"))
}

/// One column from `values` (None = null), built for the target type.
fn column<'a>(
    name: &str,
    ty: &DataType,
    values: impl Iterator<Item = Option<&'a Value>>,
) -> Result<ArrayRef> {
    macro_rules! scalar {
        ($array:ty, $kind:ident, $conv:expr) => {{
            let items = values
                .map(|v| match v.and_then(|v| v.kind.as_ref().map(|k| (v, k))) {
                    None | Some((_, Kind::NullValue(_))) => Ok(None),
                    Some((_, Kind::$kind(x))) => Ok(Some($conv(x))),
                    Some((v, _)) => Err(wrong(name, v, ty)),
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(<$array>::from(items)) as ArrayRef
        }};
    }
    Ok(match ty {
        DataType::Boolean => scalar!(BooleanArray, BoolValue, |x: &bool| *x),
        DataType::Int32 => scalar!(Int32Array, Int32Value, |x: &i32| *x),
        DataType::Int64 => scalar!(Int64Array, Int64Value, |x: &i64| *x),
        DataType::Float32 => scalar!(Float32Array, Float32Value, |x: &f32| *x),
        DataType::Float64 => scalar!(Float64Array, Float64Value, |x: &f64| *x),
        DataType::Utf8 => scalar!(StringArray, StringValue, |x: &String| x.clone()),
        DataType::Binary => {
            let items = values
                .map(|v| match v.and_then(|v| v.kind.as_ref().map(|k| (v, k))) {
                    None | Some((_, Kind::NullValue(_))) => Ok(None),
                    Some((_, Kind::BytesValue(x))) => Ok(Some(x.as_slice())),
                    Some((v, _)) => Err(wrong(name, v, ty)),
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(BinaryArray::from(items)) as ArrayRef
        }
        DataType::Timestamp(_, tz) => {
            let items = values
                .map(|v| match v.and_then(|v| v.kind.as_ref().map(|k| (v, k))) {
                    None | Some((_, Kind::NullValue(_))) => Ok(None),
                    Some((_, Kind::TimestampValue(x))) => Ok(Some(*x)),
                    Some((v, _)) => Err(wrong(name, v, ty)),
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(TimestampMicrosecondArray::from(items).with_timezone_opt(tz.clone()))
                as ArrayRef
        }
        DataType::List(field) => list(name, ty, field, values)?,
        other => {
            return Err(OfflineStoreError::Internal(format!(
                "{name}: unexpected column type {other}"
            )));
        }
    })
}

/// A list column: offsets, a flat array of the elements, and nulls.
fn list<'a>(
    name: &str,
    ty: &DataType,
    field: &FieldRef,
    values: impl Iterator<Item = Option<&'a Value>>,
) -> Result<ArrayRef> {
    let mut offsets = vec![0i32];
    let mut valid = Vec::new();
    let mut elements: Vec<Value> = Vec::new();
    for v in values {
        let pushed: Vec<Value> = match v.and_then(|v| v.kind.as_ref().map(|k| (v, k))) {
            None | Some((_, Kind::NullValue(_))) => {
                valid.push(false);
                Vec::new()
            }
            Some((v, kind)) => {
                valid.push(true);
                macro_rules! items {
                    ($l:expr, $k:ident) => {
                        $l.values
                            .iter()
                            .map(|x| Value {
                                kind: Some(Kind::$k(x.clone())),
                            })
                            .collect()
                    };
                }
                match kind {
                    Kind::BoolList(l) => items!(l, BoolValue),
                    Kind::Int32List(l) => items!(l, Int32Value),
                    Kind::Int64List(l) => items!(l, Int64Value),
                    Kind::Float32List(l) => items!(l, Float32Value),
                    Kind::Float64List(l) => items!(l, Float64Value),
                    Kind::StringList(l) => items!(l, StringValue),
                    Kind::BytesList(l) => items!(l, BytesValue),
                    Kind::TimestampList(l) => items!(l, TimestampValue),
                    _ => return Err(wrong(name, v, ty)),
                }
            }
        };
        elements.extend(pushed);
        offsets.push(
            i32::try_from(elements.len())
                .map_err(|_| OfflineStoreError::Invalid(format!("{name}: list too long")))?,
        );
    }
    let inner = column(name, field.data_type(), elements.iter().map(Some))?;
    let list = ListArray::try_new(
        field.clone(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        inner,
        Some(valid.into()),
    )
    .map_err(|e| OfflineStoreError::Internal(format!("{name}: {e}")))?;
    Ok(Arc::new(list))
}

/// The rows as one batch of `schema`, matching columns by name (columns
/// added later sit after the lineage columns in the table's schema).
pub fn batch(schema: &SchemaRef, table: &OfflineTable, rows: &[OfflineRow]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let ty = field.data_type();
        let array = if let Some(k) = table.keys.iter().position(|(n, _)| n == name) {
            column(name, ty, rows.iter().map(|r| r.key_values.get(k)))?
        } else if let Some(f) = table.features.iter().position(|(n, _)| n == name) {
            column(name, ty, rows.iter().map(|r| r.feature_values.get(f)))?
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

/// A cell of a stored column as a value (null → `NullValue`).
fn cell(array: &ArrayRef, i: usize) -> Result<Value> {
    use arrow_array::{Array, cast::AsArray, types};
    use featurestore_proto::v1 as pb;
    if array.is_null(i) {
        return Ok(Value {
            kind: Some(Kind::NullValue(0)),
        });
    }
    let kind = match array.data_type() {
        DataType::Boolean => Kind::BoolValue(array.as_boolean().value(i)),
        DataType::Int32 => Kind::Int32Value(array.as_primitive::<types::Int32Type>().value(i)),
        DataType::Int64 => Kind::Int64Value(array.as_primitive::<types::Int64Type>().value(i)),
        DataType::Float32 => {
            Kind::Float32Value(array.as_primitive::<types::Float32Type>().value(i))
        }
        DataType::Float64 => {
            Kind::Float64Value(array.as_primitive::<types::Float64Type>().value(i))
        }
        DataType::Utf8 => Kind::StringValue(array.as_string::<i32>().value(i).to_string()),
        DataType::Binary => Kind::BytesValue(array.as_binary::<i32>().value(i).to_vec()),
        DataType::Timestamp(_, _) => Kind::TimestampValue(
            array
                .as_primitive::<types::TimestampMicrosecondType>()
                .value(i),
        ),
        DataType::List(field) => {
            let items = array.as_list::<i32>().value(i);
            let values: Vec<Value> = (0..items.len())
                .map(|j| cell(&items, j))
                .collect::<Result<_>>()?;
            macro_rules! list {
                ($variant:ident, $list:ident, $k:ident) => {
                    Kind::$variant(pb::$list {
                        values: values
                            .into_iter()
                            .filter_map(|v| match v.kind {
                                Some(Kind::$k(x)) => Some(x),
                                _ => None,
                            })
                            .collect(),
                    })
                };
            }
            match field.data_type() {
                DataType::Boolean => list!(BoolList, BoolList, BoolValue),
                DataType::Int32 => list!(Int32List, Int32List, Int32Value),
                DataType::Int64 => list!(Int64List, Int64List, Int64Value),
                DataType::Float32 => list!(Float32List, Float32List, Float32Value),
                DataType::Float64 => list!(Float64List, Float64List, Float64Value),
                DataType::Utf8 => list!(StringList, StringList, StringValue),
                DataType::Binary => list!(BytesList, BytesList, BytesValue),
                DataType::Timestamp(_, _) => list!(TimestampList, TimestampList, TimestampValue),
                other => {
                    return Err(OfflineStoreError::Internal(format!(
                        "unexpected list of {other}"
                    )));
                }
            }
        }
        other => {
            return Err(OfflineStoreError::Internal(format!(
                "unexpected column type {other}"
            )));
        }
    };
    Ok(Value { kind: Some(kind) })
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
    let keys: Vec<&ArrayRef> = table
        .keys
        .iter()
        .map(|(n, _)| required(n))
        .collect::<Result<_>>()?;
    let features: Vec<Option<&ArrayRef>> = table.features.iter().map(|(n, _)| column(n)).collect();
    let event_time = required(crate::EVENT_TIME)?.as_primitive::<types::TimestampMicrosecondType>();
    let ingest_time =
        required(crate::INGEST_TIME)?.as_primitive::<types::TimestampMicrosecondType>();
    let partition = required(crate::SOURCE_PARTITION)?.as_primitive::<types::Int32Type>();
    let offset = required(crate::SOURCE_OFFSET)?.as_primitive::<types::Int64Type>();
    (0..batch.num_rows())
        .map(|i| {
            Ok(OfflineRow {
                key_values: keys.iter().map(|a| cell(a, i)).collect::<Result<_>>()?,
                event_time_micros: event_time.value(i),
                feature_values: features
                    .iter()
                    .map(|a| match a {
                        Some(a) => cell(a, i),
                        None => Ok(Value {
                            kind: Some(Kind::NullValue(0)),
                        }),
                    })
                    .collect::<Result<_>>()?,
                ingest_time_micros: ingest_time.value(i),
                partition: partition.value(i),
                offset: offset.value(i),
            })
        })
        .collect()
}
