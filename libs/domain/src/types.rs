//! Value types: their text form (`int64`, `list<float32>`), and checking a
//! value against a type.

use featurestore_proto::v1::{ScalarType, ValueType, value::Kind};

use crate::DomainError;

/// The text form of a scalar type, as used in specs and error messages.
pub fn scalar_name(scalar: ScalarType) -> &'static str {
    match scalar {
        ScalarType::Unspecified => "unspecified",
        ScalarType::Bool => "bool",
        ScalarType::Int32 => "int32",
        ScalarType::Int64 => "int64",
        ScalarType::Float32 => "float32",
        ScalarType::Float64 => "float64",
        ScalarType::String => "string",
        ScalarType::Bytes => "bytes",
        ScalarType::Timestamp => "timestamp",
    }
}

/// Parses a scalar type name (`int64`, `string`, ...).
pub fn parse_scalar(text: &str) -> Option<ScalarType> {
    Some(match text {
        "bool" => ScalarType::Bool,
        "int32" => ScalarType::Int32,
        "int64" => ScalarType::Int64,
        "float32" => ScalarType::Float32,
        "float64" => ScalarType::Float64,
        "string" => ScalarType::String,
        "bytes" => ScalarType::Bytes,
        "timestamp" => ScalarType::Timestamp,
        _ => return None,
    })
}

/// The text form of a value type: `int64` or `list<float32>`.
pub fn type_name(ty: &ValueType) -> String {
    let scalar = scalar_name(ty.scalar());
    if ty.is_list {
        format!("list<{scalar}>")
    } else {
        scalar.to_string()
    }
}

/// Parses `int64` or `list<float32>`.
pub fn parse_type(text: &str) -> Option<ValueType> {
    let text = text.trim();
    let (inner, is_list) = match text
        .strip_prefix("list<")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        Some(inner) => (inner.trim(), true),
        None => (text, false),
    };
    parse_scalar(inner).map(|scalar| ValueType {
        scalar: scalar as i32,
        is_list,
    })
}

/// Checks that a declared type is a known one (`field` names it in errors).
pub fn validate_type(field: &str, ty: Option<&ValueType>) -> Result<ValueType, DomainError> {
    let ty = ty.ok_or_else(|| DomainError::invalid(field, "type is required"))?;
    match ScalarType::try_from(ty.scalar) {
        Ok(ScalarType::Unspecified) | Err(_) => Err(DomainError::invalid(
            field,
            format!(
                "unknown type (scalar {}); use bool, int32, int64, float32, float64, string, bytes, timestamp or list<...> of these",
                ty.scalar
            ),
        )),
        Ok(_) => Ok(*ty),
    }
}

/// Types allowed for key columns: exact, hashable scalars.
pub fn is_key_type(scalar: ScalarType) -> bool {
    matches!(
        scalar,
        ScalarType::Bool
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::String
            | ScalarType::Bytes
            | ScalarType::Timestamp
    )
}

/// The type of a non-null value, or `None` for null or an unset value.
pub fn type_of(kind: &Kind) -> Option<ValueType> {
    let (scalar, is_list) = match kind {
        Kind::NullValue(_) => return None,
        Kind::BoolValue(_) => (ScalarType::Bool, false),
        Kind::Int32Value(_) => (ScalarType::Int32, false),
        Kind::Int64Value(_) => (ScalarType::Int64, false),
        Kind::Float32Value(_) => (ScalarType::Float32, false),
        Kind::Float64Value(_) => (ScalarType::Float64, false),
        Kind::StringValue(_) => (ScalarType::String, false),
        Kind::BytesValue(_) => (ScalarType::Bytes, false),
        Kind::TimestampValue(_) => (ScalarType::Timestamp, false),
        Kind::BoolList(_) => (ScalarType::Bool, true),
        Kind::Int32List(_) => (ScalarType::Int32, true),
        Kind::Int64List(_) => (ScalarType::Int64, true),
        Kind::Float32List(_) => (ScalarType::Float32, true),
        Kind::Float64List(_) => (ScalarType::Float64, true),
        Kind::StringList(_) => (ScalarType::String, true),
        Kind::BytesList(_) => (ScalarType::Bytes, true),
        Kind::TimestampList(_) => (ScalarType::Timestamp, true),
    };
    Some(ValueType {
        scalar: scalar as i32,
        is_list,
    })
}

/// Whether a value may be stored in a column of type `ty`: a value of that
/// exact type, or an explicit null. An unset value (no kind) never is.
pub fn check_value(ty: &ValueType, value: Option<&Kind>) -> Result<(), String> {
    match value {
        None => Err("value is unset (send null_value for a null)".to_string()),
        Some(Kind::NullValue(_)) => Ok(()),
        Some(kind) => match type_of(kind) {
            Some(actual) if actual == *ty => Ok(()),
            Some(actual) => Err(format!(
                "expected {}, got {}",
                type_name(ty),
                type_name(&actual)
            )),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for text in [
            "bool",
            "int64",
            "timestamp",
            "list<float32>",
            "list<string>",
        ] {
            assert_eq!(type_name(&parse_type(text).unwrap()), text);
        }
        assert!(parse_type("decimal").is_none());
        assert!(parse_type("list<list<int32>>").is_none());
    }

    #[test]
    fn values_are_checked_against_types() {
        let int64 = parse_type("int64").unwrap();
        assert!(check_value(&int64, Some(&Kind::Int64Value(3))).is_ok());
        assert!(check_value(&int64, Some(&Kind::NullValue(0))).is_ok());
        let err = check_value(&int64, Some(&Kind::StringValue("3".into()))).unwrap_err();
        assert_eq!(err, "expected int64, got string");
        assert!(check_value(&int64, None).is_err());
    }
}
