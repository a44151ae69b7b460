//! Value types and values ↔ Arrow, one rule each (feature `arrow`):
//!
//! - [`data_type`]: `bool` → Boolean; `int32`, `int64`, `float32`, `float64`
//!   → the same; `string` → Utf8; `bytes` → Binary; `timestamp` →
//!   Timestamp(µs, "UTC") (what Delta stores and reads back); `list<T>` →
//!   List of a non-nullable `item` field of T (list elements are never null,
//!   as the Delta schema declares). An unspecified type is an error naming
//!   the field.
//! - [`to_array`]: values to an array of a given type (nulls for missing,
//!   unset and `null_value` values; a value of another kind is an error
//!   naming the column and the value). Lists are built with the target's own
//!   element field, so a Delta schema's `element` fields fit too.
//! - [`to_values`]: an array to values. Accepted: Boolean; Int32, Int64,
//!   Float32, Float64; Utf8, LargeUtf8, Utf8View → string; Binary,
//!   LargeBinary, BinaryView → bytes; Timestamp in any unit and any zone →
//!   timestamp (µs since the epoch, UTC; finer units truncated toward zero,
//!   coarser ones saturate); List / LargeList of those → list (an element may
//!   not be null). Arrow nulls are nulls; any other type is an error naming
//!   the column and the type.
//! - [`read_ipc_stream`]: a client's Arrow IPC stream, read whole; a
//!   malformed one is an error, never a panic.

use std::{ops::Range, sync::Arc};

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, GenericListArray,
    Int32Array, Int64Array, ListArray, OffsetSizeTrait, StringArray, TimestampMicrosecondArray,
    cast::AsArray,
    types::{
        Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
        TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    },
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef, TimeUnit};
use featurestore_proto::v1::{self as pb, ScalarType, Value, ValueType, value::Kind};

use crate::{
    DomainError,
    types::{type_name, type_of, validate_type},
};

/// The time zone of every timestamp column.
pub const TIME_ZONE: &str = "UTC";

/// The name of a list's element field.
pub const LIST_ITEM: &str = "item";

/// The Arrow type of a timestamp: µs since the epoch, UTC.
pub fn timestamp_data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIME_ZONE.into()))
}

/// The Arrow type of a value type; `field` names it in errors.
pub fn data_type(field: &str, ty: &ValueType) -> Result<DataType, DomainError> {
    // Unspecified or unknown scalars are refused here, naming the field.
    let ty = validate_type(field, Some(ty))?;
    let element = match ty.scalar() {
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Int32 => DataType::Int32,
        ScalarType::Int64 => DataType::Int64,
        ScalarType::Float32 => DataType::Float32,
        ScalarType::Float64 => DataType::Float64,
        ScalarType::String => DataType::Utf8,
        ScalarType::Bytes => DataType::Binary,
        ScalarType::Timestamp => timestamp_data_type(),
        ScalarType::Unspecified => {
            return Err(DomainError::invalid(field, "type is unspecified"));
        }
    };
    Ok(if ty.is_list {
        DataType::List(Arc::new(Field::new(LIST_ITEM, element, false)))
    } else {
        element
    })
}

/// The Arrow type of a scalar type (a key column); `field` names it in
/// errors.
pub fn scalar_data_type(field: &str, scalar: ScalarType) -> Result<DataType, DomainError> {
    data_type(
        field,
        &ValueType {
            scalar: scalar as i32,
            is_list: false,
        },
    )
}

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn null() -> Value {
    value(Kind::NullValue(0))
}

/// The kind of a present, non-null value.
fn present(value: Option<&Value>) -> Option<&Kind> {
    match value.and_then(|v| v.kind.as_ref()) {
        None | Some(Kind::NullValue(_)) => None,
        Some(kind) => Some(kind),
    }
}

fn wrong(column: &str, kind: &Kind, ty: &DataType) -> DomainError {
    let actual = type_of(kind).map_or_else(|| "null".to_string(), |t| type_name(&t));
    DomainError::invalid(
        column,
        format!("value {kind:?} ({actual}) does not fit arrow type {ty}"),
    )
}

fn unsupported_target(column: &str, ty: &DataType) -> DomainError {
    DomainError::invalid(
        column,
        format!("arrow type {ty} is not a column type of the feature store"),
    )
}

/// One column of type `ty` from `values` (`None`, an unset value and
/// `null_value` are nulls).
pub fn to_array<'a>(
    column: &str,
    ty: &DataType,
    values: impl IntoIterator<Item = Option<&'a Value>>,
) -> Result<ArrayRef, DomainError> {
    let values = values.into_iter();
    macro_rules! scalar {
        ($array:ty, $kind:ident, $conv:expr) => {{
            let items = values
                .map(|v| match present(v) {
                    None => Ok(None),
                    Some(Kind::$kind(x)) => Ok(Some($conv(x))),
                    Some(other) => Err(wrong(column, other, ty)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            <$array>::from(items)
        }};
    }
    let array: ArrayRef = match ty {
        DataType::Boolean => Arc::new(scalar!(BooleanArray, BoolValue, |x: &bool| *x)),
        DataType::Int32 => Arc::new(scalar!(Int32Array, Int32Value, |x: &i32| *x)),
        DataType::Int64 => Arc::new(scalar!(Int64Array, Int64Value, |x: &i64| *x)),
        DataType::Float32 => Arc::new(scalar!(Float32Array, Float32Value, |x: &f32| *x)),
        DataType::Float64 => Arc::new(scalar!(Float64Array, Float64Value, |x: &f64| *x)),
        DataType::Utf8 => Arc::new(scalar!(StringArray, StringValue, |x: &'a String| x.as_str())),
        DataType::Binary => {
            Arc::new(scalar!(BinaryArray, BytesValue, |x: &'a Vec<u8>| x.as_slice()))
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Arc::new(
            scalar!(TimestampMicrosecondArray, TimestampValue, |x: &i64| *x)
                .with_timezone_opt(tz.clone()),
        ),
        DataType::List(field) => list(column, ty, field, values)?,
        other => return Err(unsupported_target(column, other)),
    };
    Ok(array)
}

/// The elements of a list column being built, borrowed from the values.
enum Elements<'a> {
    Bool(Vec<bool>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    String(Vec<&'a str>),
    Bytes(Vec<&'a [u8]>),
    Timestamp(Vec<i64>, Option<Arc<str>>),
}

impl<'a> Elements<'a> {
    fn for_type(ty: &DataType) -> Option<Self> {
        Some(match ty {
            DataType::Boolean => Self::Bool(Vec::new()),
            DataType::Int32 => Self::Int32(Vec::new()),
            DataType::Int64 => Self::Int64(Vec::new()),
            DataType::Float32 => Self::Float32(Vec::new()),
            DataType::Float64 => Self::Float64(Vec::new()),
            DataType::Utf8 => Self::String(Vec::new()),
            DataType::Binary => Self::Bytes(Vec::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Self::Timestamp(Vec::new(), tz.clone())
            }
            _ => return None,
        })
    }

    /// Appends a list value's elements; false if it is not a list of them.
    fn extend(&mut self, kind: &'a Kind) -> bool {
        match (self, kind) {
            (Self::Bool(out), Kind::BoolList(l)) => out.extend(&l.values),
            (Self::Int32(out), Kind::Int32List(l)) => out.extend(&l.values),
            (Self::Int64(out), Kind::Int64List(l)) => out.extend(&l.values),
            (Self::Float32(out), Kind::Float32List(l)) => out.extend(&l.values),
            (Self::Float64(out), Kind::Float64List(l)) => out.extend(&l.values),
            (Self::String(out), Kind::StringList(l)) => {
                out.extend(l.values.iter().map(String::as_str));
            }
            (Self::Bytes(out), Kind::BytesList(l)) => {
                out.extend(l.values.iter().map(Vec::as_slice));
            }
            (Self::Timestamp(out, _), Kind::TimestampList(l)) => out.extend(&l.values),
            _ => return false,
        }
        true
    }

    fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::Int32(v) => v.len(),
            Self::Int64(v) => v.len(),
            Self::Float32(v) => v.len(),
            Self::Float64(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Bytes(v) => v.len(),
            Self::Timestamp(v, _) => v.len(),
        }
    }

    fn into_array(self) -> ArrayRef {
        match self {
            Self::Bool(v) => Arc::new(BooleanArray::from(v)),
            Self::Int32(v) => Arc::new(Int32Array::from(v)),
            Self::Int64(v) => Arc::new(Int64Array::from(v)),
            Self::Float32(v) => Arc::new(Float32Array::from(v)),
            Self::Float64(v) => Arc::new(Float64Array::from(v)),
            Self::String(v) => Arc::new(StringArray::from(v)),
            Self::Bytes(v) => Arc::new(BinaryArray::from(v)),
            Self::Timestamp(v, tz) => {
                Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz))
            }
        }
    }
}

/// A list column: offsets, the elements of every list in one array, nulls.
fn list<'a>(
    column: &str,
    ty: &DataType,
    field: &FieldRef,
    values: impl Iterator<Item = Option<&'a Value>>,
) -> Result<ArrayRef, DomainError> {
    let mut elements =
        Elements::for_type(field.data_type()).ok_or_else(|| unsupported_target(column, ty))?;
    let mut offsets = vec![0i32];
    let mut valid = Vec::new();
    for v in values {
        match present(v) {
            None => valid.push(false),
            Some(kind) => {
                if !elements.extend(kind) {
                    return Err(wrong(column, kind, ty));
                }
                valid.push(true);
            }
        }
        let end = i32::try_from(elements.len()).map_err(|_| {
            DomainError::invalid(column, "more list elements than an Arrow list holds")
        })?;
        offsets.push(end);
    }
    let nulls = valid.contains(&false).then(|| NullBuffer::from(valid));
    let array = ListArray::try_new(
        field.clone(),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        elements.into_array(),
        nulls,
    )
    .map_err(|e| DomainError::invalid(column, e.to_string()))?;
    Ok(Arc::new(array))
}

fn unsupported(column: &str, ty: &DataType) -> DomainError {
    DomainError::invalid(
        column,
        format!(
            "arrow type {ty} is not supported (use bool, int32, int64, float32, float64, string, binary, timestamp or lists of them)"
        ),
    )
}

/// A decoded column of scalars, `None` for nulls.
enum Decoded {
    Bool(Vec<Option<bool>>),
    Int32(Vec<Option<i32>>),
    Int64(Vec<Option<i64>>),
    Float32(Vec<Option<f32>>),
    Float64(Vec<Option<f64>>),
    String(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
    Timestamp(Vec<Option<i64>>),
}

/// A timestamp column in µs since the epoch; its zone does not matter
/// (Arrow stores instants as UTC), and a zoneless one is read as UTC.
fn micros(array: &dyn Array, unit: &TimeUnit) -> Vec<Option<i64>> {
    match unit {
        TimeUnit::Second => array
            .as_primitive::<TimestampSecondType>()
            .iter()
            .map(|v| v.map(|v| v.saturating_mul(1_000_000)))
            .collect(),
        TimeUnit::Millisecond => array
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .map(|v| v.map(|v| v.saturating_mul(1_000)))
            .collect(),
        TimeUnit::Microsecond => array
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect(),
        // Truncated toward zero, as arrow-cast converts units.
        TimeUnit::Nanosecond => array
            .as_primitive::<TimestampNanosecondType>()
            .iter()
            .map(|v| v.map(|v| v / 1_000))
            .collect(),
    }
}

fn decode(column: &str, array: &dyn Array) -> Result<Decoded, DomainError> {
    fn owned<T: ?Sized + ToOwned>(v: Option<&T>) -> Option<T::Owned> {
        v.map(ToOwned::to_owned)
    }
    Ok(match array.data_type() {
        DataType::Boolean => Decoded::Bool(array.as_boolean().iter().collect()),
        DataType::Int32 => Decoded::Int32(array.as_primitive::<Int32Type>().iter().collect()),
        DataType::Int64 => Decoded::Int64(array.as_primitive::<Int64Type>().iter().collect()),
        DataType::Float32 => Decoded::Float32(array.as_primitive::<Float32Type>().iter().collect()),
        DataType::Float64 => Decoded::Float64(array.as_primitive::<Float64Type>().iter().collect()),
        DataType::Utf8 => Decoded::String(array.as_string::<i32>().iter().map(owned).collect()),
        DataType::LargeUtf8 => {
            Decoded::String(array.as_string::<i64>().iter().map(owned).collect())
        }
        DataType::Utf8View => Decoded::String(array.as_string_view().iter().map(owned).collect()),
        DataType::Binary => Decoded::Bytes(array.as_binary::<i32>().iter().map(owned).collect()),
        DataType::LargeBinary => {
            Decoded::Bytes(array.as_binary::<i64>().iter().map(owned).collect())
        }
        DataType::BinaryView => Decoded::Bytes(array.as_binary_view().iter().map(owned).collect()),
        DataType::Timestamp(unit, _) => Decoded::Timestamp(micros(array, unit)),
        other => return Err(unsupported(column, other)),
    })
}

impl Decoded {
    fn into_values(self) -> Vec<Value> {
        macro_rules! values {
            ($v:expr, $kind:ident) => {
                $v.into_iter()
                    .map(|x| x.map_or_else(null, |x| value(Kind::$kind(x))))
                    .collect()
            };
        }
        match self {
            Decoded::Bool(v) => values!(v, BoolValue),
            Decoded::Int32(v) => values!(v, Int32Value),
            Decoded::Int64(v) => values!(v, Int64Value),
            Decoded::Float32(v) => values!(v, Float32Value),
            Decoded::Float64(v) => values!(v, Float64Value),
            Decoded::String(v) => values!(v, StringValue),
            Decoded::Bytes(v) => values!(v, BytesValue),
            Decoded::Timestamp(v) => values!(v, TimestampValue),
        }
    }

    /// The elements at `range` (moved out) as one list, or `None` if one of
    /// them is null. The ranges of a list array never overlap.
    fn take_list(&mut self, range: Range<usize>) -> Option<Kind> {
        macro_rules! list {
            ($v:expr, $list:ident) => {
                Kind::$list(pb::$list {
                    values: $v[range]
                        .iter_mut()
                        .map(Option::take)
                        .collect::<Option<Vec<_>>>()?,
                })
            };
        }
        Some(match self {
            Decoded::Bool(v) => list!(v, BoolList),
            Decoded::Int32(v) => list!(v, Int32List),
            Decoded::Int64(v) => list!(v, Int64List),
            Decoded::Float32(v) => list!(v, Float32List),
            Decoded::Float64(v) => list!(v, Float64List),
            Decoded::String(v) => list!(v, StringList),
            Decoded::Bytes(v) => list!(v, BytesList),
            Decoded::Timestamp(v) => list!(v, TimestampList),
        })
    }
}

fn lists<O: OffsetSizeTrait>(
    column: &str,
    list: &GenericListArray<O>,
) -> Result<Vec<Value>, DomainError> {
    let mut elements = decode(column, list.values().as_ref())
        .map_err(|_| unsupported(column, list.data_type()))?;
    let offsets = list.value_offsets();
    (0..list.len())
        .map(|i| {
            if list.is_null(i) {
                return Ok(null());
            }
            let range = offsets[i].as_usize()..offsets[i + 1].as_usize();
            elements
                .take_list(range)
                .map(value)
                .ok_or_else(|| DomainError::invalid(column, "list elements cannot be null"))
        })
        .collect()
}

/// Every value of one column, Arrow nulls as `null_value`.
pub fn to_values(column: &str, array: &dyn Array) -> Result<Vec<Value>, DomainError> {
    match array.data_type() {
        DataType::List(_) => lists(column, array.as_list::<i32>()),
        DataType::LargeList(_) => lists(column, array.as_list::<i64>()),
        _ => Ok(decode(column, array)?.into_values()),
    }
}

/// The schema and batches of a client's Arrow IPC stream, or why it is not
/// one. Two defences, both from fuzzing (`libs/fuzz`): arrow-ipc allocates a
/// message body of the length the message declares before reading it (a
/// forged length aborts the process on a failed allocation), so the
/// framing is checked against the bytes first; and it panics on some
/// malformed messages (a buffer running past its body), which is caught
/// and refused like any other malformed stream.
pub fn read_ipc_stream(
    bytes: &[u8],
) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), String> {
    check_framing(bytes)?;
    let read = || {
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad record batch: {e}"))?;
        Ok((schema, batches))
    };
    std::panic::catch_unwind(read).unwrap_or_else(|_| {
        Err("not an Arrow IPC stream: a buffer lies outside its message".into())
    })
}

/// Checks that every message of an IPC stream (`[0xFFFFFFFF] <metadata
/// length> <Message flatbuffer> <body>`, up to a zero length or the end)
/// lies within `bytes`, body included.
fn check_framing(bytes: &[u8]) -> Result<(), String> {
    let past = |what: &str| Err(format!("not an Arrow IPC stream: {what} runs past the end"));
    let mut at = 0usize;
    while at < bytes.len() {
        if bytes[at..].starts_with(&[0xff; 4]) {
            at += 4;
        }
        let Some(length) = bytes.get(at..at + 4) else {
            return past("a message length");
        };
        let length = i32::from_le_bytes(length.try_into().expect("4 bytes"));
        at += 4;
        if length == 0 {
            return Ok(());
        }
        let Ok(length) = usize::try_from(length) else {
            return Err("not an Arrow IPC stream: a negative message length".into());
        };
        let Some(metadata) = bytes.get(at..at.saturating_add(length)) else {
            return past("a message's metadata");
        };
        let message = arrow_ipc::root_as_message(metadata)
            .map_err(|e| format!("not an Arrow IPC stream: unreadable message: {e}"))?;
        at += length;
        let body = usize::try_from(message.bodyLength()).unwrap_or(usize::MAX);
        if body > bytes.len() - at {
            return past("a message body");
        }
        at += body;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow_array::{
        BinaryViewArray, LargeBinaryArray, LargeListArray, LargeStringArray, StringViewArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt8Array,
    };
    use proptest::{prelude::*, test_runner::TestRunner};

    use super::*;

    const SCALARS: [ScalarType; 8] = [
        ScalarType::Bool,
        ScalarType::Int32,
        ScalarType::Int64,
        ScalarType::Float32,
        ScalarType::Float64,
        ScalarType::String,
        ScalarType::Bytes,
        ScalarType::Timestamp,
    ];

    /// Every value type: each scalar, and a list of each.
    fn every_type() -> Vec<ValueType> {
        [false, true]
            .into_iter()
            .flat_map(|is_list| {
                SCALARS.into_iter().map(move |s| ValueType {
                    scalar: s as i32,
                    is_list,
                })
            })
            .collect()
    }

    fn float32() -> impl Strategy<Value = f32> {
        any::<f32>().prop_filter("NaN is not equal to itself", |x| !x.is_nan())
    }

    fn float64() -> impl Strategy<Value = f64> {
        any::<f64>().prop_filter("NaN is not equal to itself", |x| !x.is_nan())
    }

    /// A non-null value of `ty` (lists of 0 to 4 elements).
    fn kind(ty: ValueType) -> BoxedStrategy<Kind> {
        macro_rules! pick {
            ($strategy:expr, $scalar:ident, $list:ident) => {
                if ty.is_list {
                    prop::collection::vec($strategy, 0..4)
                        .prop_map(|values| Kind::$list(pb::$list { values }))
                        .boxed()
                } else {
                    $strategy.prop_map(Kind::$scalar).boxed()
                }
            };
        }
        match ty.scalar() {
            ScalarType::Bool => pick!(any::<bool>(), BoolValue, BoolList),
            ScalarType::Int32 => pick!(any::<i32>(), Int32Value, Int32List),
            ScalarType::Int64 => pick!(any::<i64>(), Int64Value, Int64List),
            ScalarType::Float32 => pick!(float32(), Float32Value, Float32List),
            ScalarType::Float64 => pick!(float64(), Float64Value, Float64List),
            ScalarType::String => pick!(any::<String>(), StringValue, StringList),
            ScalarType::Bytes => pick!(any::<Vec<u8>>(), BytesValue, BytesList),
            ScalarType::Timestamp => pick!(any::<i64>(), TimestampValue, TimestampList),
            ScalarType::Unspecified => unreachable!("not generated"),
        }
    }

    /// A column of values of `ty`, a quarter of them null.
    fn column(ty: ValueType) -> impl Strategy<Value = Vec<Value>> {
        let cell = prop_oneof![
            1 => Just(null()),
            3 => kind(ty).prop_map(value),
        ];
        prop::collection::vec(cell, 0..20)
    }

    /// Runs `check` on generated columns of every value type.
    fn for_every_type(check: impl Fn(&ValueType, Vec<Value>) -> Result<(), TestCaseError>) {
        for ty in every_type() {
            TestRunner::default()
                .run(&column(ty), |values| check(&ty, values))
                .unwrap_or_else(|e| panic!("{}: {e}", type_name(&ty)));
        }
    }

    #[test]
    fn values_round_trip_through_arrow() {
        for_every_type(|ty, values| {
            let data_type = data_type("f", ty).unwrap();
            let array = to_array("f", &data_type, values.iter().map(Some)).unwrap();
            prop_assert_eq!(array.data_type(), &data_type);
            prop_assert_eq!(to_values("f", &array).unwrap(), values);
            Ok(())
        });
    }

    #[test]
    fn lists_round_trip_through_a_delta_element_field() {
        for_every_type(|ty, values| {
            let DataType::List(item) = data_type("f", ty).unwrap() else {
                return Ok(());
            };
            let delta = DataType::List(Arc::new(Field::new(
                "element",
                item.data_type().clone(),
                false,
            )));
            let array = to_array("f", &delta, values.iter().map(Some)).unwrap();
            prop_assert_eq!(array.data_type(), &delta);
            prop_assert_eq!(to_values("f", &array).unwrap(), values);
            Ok(())
        });
    }

    #[test]
    fn the_types() {
        let ty = |text| data_type("f", &crate::types::parse_type(text).unwrap()).unwrap();
        assert_eq!(ty("int64"), DataType::Int64);
        assert_eq!(ty("bytes"), DataType::Binary);
        assert_eq!(
            ty("timestamp"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            ty("list<string>"),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false)))
        );
        assert_eq!(
            scalar_data_type("k", ScalarType::Timestamp).unwrap(),
            timestamp_data_type()
        );
    }

    fn invalid_field(e: DomainError) -> (String, String) {
        match e {
            DomainError::InvalidArgument { field, reason } => (field, reason),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_unspecified_type_is_an_error_naming_the_field() {
        for scalar in [ScalarType::Unspecified as i32, 99] {
            for is_list in [false, true] {
                let e = data_type("features[1].type", &ValueType { scalar, is_list }).unwrap_err();
                assert_eq!(invalid_field(e).0, "features[1].type");
            }
        }
        let e = scalar_data_type("customer_id", ScalarType::Unspecified).unwrap_err();
        assert_eq!(invalid_field(e).0, "customer_id");
    }

    #[test]
    fn a_value_of_another_kind_is_an_error_naming_the_column_and_value() {
        let values = [
            value(Kind::Int64Value(1)),
            value(Kind::StringValue("seven".into())),
        ];
        let e = to_array("amount", &DataType::Int64, values.iter().map(Some)).unwrap_err();
        let (field, reason) = invalid_field(e);
        assert_eq!(field, "amount");
        assert!(
            reason.contains("seven") && reason.contains("string"),
            "{reason}"
        );

        let list = data_type("tags", &crate::types::parse_type("list<string>").unwrap()).unwrap();
        let values = [value(Kind::Int64List(pb::Int64List { values: vec![3] }))];
        let (field, reason) =
            invalid_field(to_array("tags", &list, values.iter().map(Some)).unwrap_err());
        assert_eq!(field, "tags");
        assert!(reason.contains("list<int64>"), "{reason}");

        let e = to_array("x", &DataType::UInt8, std::iter::empty()).unwrap_err();
        assert_eq!(invalid_field(e).0, "x");
    }

    #[test]
    fn missing_and_unset_values_are_nulls() {
        let unset = Value { kind: None };
        let array = to_array("f", &DataType::Utf8, [None, Some(&unset)]).unwrap();
        assert_eq!(array.null_count(), 2);
        assert_eq!(to_values("f", &array).unwrap(), [null(), null()]);
    }

    #[test]
    fn timestamps_of_any_unit_and_zone_are_the_same_micros() {
        let seconds = 1_714_557_600_i64;
        let want = vec![value(Kind::TimestampValue(seconds * 1_000_000)), null()];
        for tz in [None, Some("UTC"), Some("+02:00"), Some("America/New_York")] {
            let arrays: [ArrayRef; 4] = [
                Arc::new(
                    TimestampSecondArray::from(vec![Some(seconds), None]).with_timezone_opt(tz),
                ),
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(seconds * 1_000), None])
                        .with_timezone_opt(tz),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(seconds * 1_000_000), None])
                        .with_timezone_opt(tz),
                ),
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(seconds * 1_000_000_000), None])
                        .with_timezone_opt(tz),
                ),
            ];
            for array in arrays {
                assert_eq!(
                    to_values("t", &array).unwrap(),
                    want,
                    "{}",
                    array.data_type()
                );
            }
        }
        // Nanoseconds below a µs are dropped.
        let ns = TimestampNanosecondArray::from(vec![1_999]);
        assert_eq!(
            to_values("t", &ns).unwrap(),
            [value(Kind::TimestampValue(1))]
        );
    }

    #[test]
    fn large_and_view_types_are_read() {
        let strings = vec![value(Kind::StringValue("a".into())), null()];
        let bytes = vec![value(Kind::BytesValue(vec![1, 2])), null()];
        let large_utf8 = LargeStringArray::from(vec![Some("a"), None]);
        let utf8_view = StringViewArray::from(vec![Some("a"), None]);
        let large_binary = LargeBinaryArray::from(vec![Some(&[1u8, 2][..]), None]);
        let binary_view = BinaryViewArray::from(vec![Some(&[1u8, 2][..]), None]);
        assert_eq!(to_values("s", &large_utf8).unwrap(), strings);
        assert_eq!(to_values("s", &utf8_view).unwrap(), strings);
        assert_eq!(to_values("b", &large_binary).unwrap(), bytes);
        assert_eq!(to_values("b", &binary_view).unwrap(), bytes);

        let large_list = LargeListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
        ]);
        assert_eq!(
            to_values("l", &large_list).unwrap(),
            [
                value(Kind::Int64List(pb::Int64List { values: vec![1, 2] })),
                null(),
                value(Kind::Int64List(pb::Int64List { values: vec![] })),
            ]
        );
        let strings = GenericListArray::<i32>::new(
            Arc::new(Field::new("item", DataType::LargeUtf8, true)),
            OffsetBuffer::from_lengths([2]),
            Arc::new(LargeStringArray::from(vec!["x", "y"])),
            None,
        );
        assert_eq!(
            to_values("l", &strings).unwrap(),
            [value(Kind::StringList(pb::StringList {
                values: vec!["x".into(), "y".into()]
            }))]
        );
    }

    #[test]
    fn sliced_lists_are_read() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
            Some(vec![Some(2), Some(3)]),
            None,
        ]);
        assert_eq!(
            to_values("l", &list.slice(1, 2)).unwrap(),
            [
                value(Kind::Int32List(pb::Int32List { values: vec![2, 3] })),
                null()
            ]
        );
    }

    /// Inputs fuzzing found (`fuzz/corpus/ingest_arrow/crash-*`): a forged
    /// body length used to abort the process on allocation, a buffer past
    /// its body used to panic. Both are refused now.
    #[test]
    fn malformed_ipc_streams_found_by_fuzzing_are_refused() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ingest_arrow");
        for (file, reason) in [
            ("crash-forged-body-length", "runs past the end"),
            ("crash-buffer-past-body", "not an Arrow IPC stream"),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let error = read_ipc_stream(&bytes).unwrap_err();
            assert!(error.contains(reason), "{file}: {error}");
        }
        let good = std::fs::read(dir.join("seven_types")).unwrap();
        let (schema, batches) = read_ipc_stream(&good).unwrap();
        assert_eq!(schema.fields().len(), 7);
        assert_eq!(batches[0].num_rows(), 3);
    }

    #[test]
    fn unsupported_types_and_null_elements_are_errors_naming_the_column() {
        let e = to_values("flag", &UInt8Array::from(vec![1])).unwrap_err();
        let (field, reason) = invalid_field(e);
        assert_eq!(field, "flag");
        assert!(reason.contains("UInt8"), "{reason}");

        let list = ListArray::from_iter_primitive::<arrow_array::types::UInt8Type, _, _>(Vec::<
            Option<Vec<Option<u8>>>,
        >::new(
        ));
        let (field, reason) = invalid_field(to_values("flags", &list).unwrap_err());
        assert_eq!(field, "flags");
        assert!(
            reason.contains("List") && reason.contains("UInt8"),
            "{reason}"
        );

        let list =
            ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), None])]);
        let (field, reason) = invalid_field(to_values("ids", &list).unwrap_err());
        assert_eq!(field, "ids");
        assert!(reason.contains("null"), "{reason}");
    }
}
