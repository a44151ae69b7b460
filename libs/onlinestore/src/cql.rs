//! CQL column types and value conversions.

use featurestore_proto::v1::{self as pb, ScalarType, Value, ValueType, value::Kind};
use scylla::value::CqlValue;

use crate::OnlineStoreError;

/// The CQL type of a feature column. Timestamps are `bigint` microseconds
/// (CQL `timestamp` only keeps milliseconds); lists are frozen so an upsert
/// replaces them whole.
pub fn column_type(ty: &ValueType) -> &'static str {
    let scalar = match ty.scalar() {
        ScalarType::Bool => "boolean",
        ScalarType::Int32 => "int",
        ScalarType::Int64 | ScalarType::Timestamp => "bigint",
        ScalarType::Float32 => "float",
        ScalarType::Float64 => "double",
        ScalarType::String => "text",
        ScalarType::Bytes | ScalarType::Unspecified => "blob",
    };
    if !ty.is_list {
        return scalar;
    }
    match scalar {
        "boolean" => "frozen<list<boolean>>",
        "int" => "frozen<list<int>>",
        "bigint" => "frozen<list<bigint>>",
        "float" => "frozen<list<float>>",
        "double" => "frozen<list<double>>",
        "text" => "frozen<list<text>>",
        _ => "frozen<list<blob>>",
    }
}

/// A quoted column identifier for a feature (feature names are validated
/// lowercase, so quoting only protects against reserved words).
pub fn feature_column(name: &str) -> String {
    format!("\"f_{name}\"")
}

/// A value as a bind value; `None` is CQL null.
pub fn to_cql(ty: &ValueType, value: &Value) -> Result<Option<CqlValue>, OnlineStoreError> {
    let wrong = || {
        OnlineStoreError::Invalid(format!(
            "{value:?} is not a {}",
            featurestore_domain::types::type_name(ty)
        ))
    };
    let Some(kind) = &value.kind else {
        return Ok(None);
    };
    let cql = match (ty.scalar(), ty.is_list, kind) {
        (_, _, Kind::NullValue(_)) => return Ok(None),
        (ScalarType::Bool, false, Kind::BoolValue(v)) => CqlValue::Boolean(*v),
        (ScalarType::Int32, false, Kind::Int32Value(v)) => CqlValue::Int(*v),
        (ScalarType::Int64, false, Kind::Int64Value(v)) => CqlValue::BigInt(*v),
        (ScalarType::Timestamp, false, Kind::TimestampValue(v)) => CqlValue::BigInt(*v),
        (ScalarType::Float32, false, Kind::Float32Value(v)) => CqlValue::Float(*v),
        (ScalarType::Float64, false, Kind::Float64Value(v)) => CqlValue::Double(*v),
        (ScalarType::String, false, Kind::StringValue(v)) => CqlValue::Text(v.clone()),
        (ScalarType::Bytes, false, Kind::BytesValue(v)) => CqlValue::Blob(v.clone()),
        (ScalarType::Bool, true, Kind::BoolList(l)) => {
            list(l.values.iter().map(|v| CqlValue::Boolean(*v)))
        }
        (ScalarType::Int32, true, Kind::Int32List(l)) => {
            list(l.values.iter().map(|v| CqlValue::Int(*v)))
        }
        (ScalarType::Int64, true, Kind::Int64List(l)) => {
            list(l.values.iter().map(|v| CqlValue::BigInt(*v)))
        }
        (ScalarType::Timestamp, true, Kind::TimestampList(l)) => {
            list(l.values.iter().map(|v| CqlValue::BigInt(*v)))
        }
        (ScalarType::Float32, true, Kind::Float32List(l)) => {
            list(l.values.iter().map(|v| CqlValue::Float(*v)))
        }
        (ScalarType::Float64, true, Kind::Float64List(l)) => {
            list(l.values.iter().map(|v| CqlValue::Double(*v)))
        }
        (ScalarType::String, true, Kind::StringList(l)) => {
            list(l.values.iter().map(|v| CqlValue::Text(v.clone())))
        }
        (ScalarType::Bytes, true, Kind::BytesList(l)) => {
            list(l.values.iter().map(|v| CqlValue::Blob(v.clone())))
        }
        _ => return Err(wrong()),
    };
    Ok(Some(cql))
}

fn list(items: impl Iterator<Item = CqlValue>) -> CqlValue {
    CqlValue::List(items.collect())
}

/// A stored cell as a value of type `ty` (`None` = null).
pub fn from_cql(ty: &ValueType, cell: Option<CqlValue>) -> Result<Value, OnlineStoreError> {
    let Some(cell) = cell else {
        return Ok(Value {
            kind: Some(Kind::NullValue(0)),
        });
    };
    let wrong = |cell: &CqlValue| {
        OnlineStoreError::Internal(format!(
            "stored {cell:?} does not match {}",
            featurestore_domain::types::type_name(ty)
        ))
    };
    macro_rules! items {
        ($items:expr, $variant:ident) => {
            $items
                .into_iter()
                .map(|item| match item {
                    CqlValue::$variant(v) => Ok(v),
                    other => Err(wrong(&other)),
                })
                .collect::<Result<Vec<_>, _>>()?
        };
    }
    let kind = if ty.is_list {
        let items = match cell {
            CqlValue::List(items) => items,
            CqlValue::Empty => Vec::new(),
            other => return Err(wrong(&other)),
        };
        match ty.scalar() {
            ScalarType::Bool => Kind::BoolList(pb::BoolList {
                values: items!(items, Boolean),
            }),
            ScalarType::Int32 => Kind::Int32List(pb::Int32List {
                values: items!(items, Int),
            }),
            ScalarType::Int64 => Kind::Int64List(pb::Int64List {
                values: items!(items, BigInt),
            }),
            ScalarType::Timestamp => Kind::TimestampList(pb::TimestampList {
                values: items!(items, BigInt),
            }),
            ScalarType::Float32 => Kind::Float32List(pb::Float32List {
                values: items!(items, Float),
            }),
            ScalarType::Float64 => Kind::Float64List(pb::Float64List {
                values: items!(items, Double),
            }),
            ScalarType::String => Kind::StringList(pb::StringList {
                values: items!(items, Text),
            }),
            ScalarType::Bytes | ScalarType::Unspecified => Kind::BytesList(pb::BytesList {
                values: items!(items, Blob),
            }),
        }
    } else {
        match (ty.scalar(), cell) {
            (ScalarType::Bool, CqlValue::Boolean(v)) => Kind::BoolValue(v),
            (ScalarType::Int32, CqlValue::Int(v)) => Kind::Int32Value(v),
            (ScalarType::Int64, CqlValue::BigInt(v)) => Kind::Int64Value(v),
            (ScalarType::Timestamp, CqlValue::BigInt(v)) => Kind::TimestampValue(v),
            (ScalarType::Float32, CqlValue::Float(v)) => Kind::Float32Value(v),
            (ScalarType::Float64, CqlValue::Double(v)) => Kind::Float64Value(v),
            (ScalarType::String, CqlValue::Text(v)) => Kind::StringValue(v),
            (ScalarType::Bytes, CqlValue::Blob(v)) => Kind::BytesValue(v),
            (_, other) => return Err(wrong(&other)),
        }
    };
    Ok(Value { kind: Some(kind) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_cql() {
        let cases = [
            ("int64", Kind::Int64Value(-5)),
            ("timestamp", Kind::TimestampValue(1_700_000_000_123_456)),
            (
                "list<float32>",
                Kind::Float32List(pb::Float32List {
                    values: vec![0.5, -1.0],
                }),
            ),
            (
                "list<string>",
                Kind::StringList(pb::StringList { values: vec![] }),
            ),
            ("bytes", Kind::BytesValue(vec![0, 255])),
        ];
        for (ty, kind) in cases {
            let ty = featurestore_domain::types::parse_type(ty).unwrap();
            let value = Value { kind: Some(kind) };
            let cql = to_cql(&ty, &value).unwrap();
            assert_eq!(from_cql(&ty, cql).unwrap(), value);
        }
        let int64 = featurestore_domain::types::parse_type("int64").unwrap();
        assert!(
            to_cql(
                &int64,
                &Value {
                    kind: Some(Kind::StringValue("x".into()))
                }
            )
            .is_err()
        );
    }
}
