//! The stable entity-key encoding.
//!
//! The encoded key decides the Kafka partition of a row and is the online
//! store's partition key, so it must never change for a given key: changing
//! it would send one entity's updates to two partitions and split its online
//! row in two. The format is versioned by its first byte.
//!
//! ## Format (version 1)
//!
//! ```text
//! key      = 0x01 column*                 ; one per primary-key column, in key order
//! column   = tag payload
//! bool     = 0x01 (0x00 | 0x01)
//! int32    = 0x02 be32(value XOR 0x8000_0000)            ; order-preserving
//! int64    = 0x03 be64(value XOR 0x8000_0000_0000_0000)  ; order-preserving
//! string   = 0x06 be32(len) utf8-bytes
//! bytes    = 0x07 be32(len) bytes
//! timestamp= 0x08 be64(micros XOR 0x8000_0000_0000_0000)
//! ```
//!
//! The tags are the `ScalarType` numbers of the contract. Floats, lists and
//! nulls cannot be key values.
//!
//! ## Hash and partition
//!
//! `key_hash` is XXH3-64 (seed 0) of the encoded key; the partition of a row
//! is `key_hash % partitions`. Producers set the partition explicitly, so the
//! placement does not depend on a Kafka client's default partitioner.

use featurestore_proto::v1::{KeyColumn, ScalarType, value::Kind};

use crate::{DomainError, types::scalar_name};

/// First byte of every encoded key.
pub const KEY_ENCODING_VERSION: u8 = 1;

/// Encodes entity keys of one primary key (a list of typed columns).
#[derive(Debug, Clone)]
pub struct EntityKeyEncoder {
    columns: Vec<(String, ScalarType)>,
}

impl EntityKeyEncoder {
    pub fn new(primary_key: &[KeyColumn]) -> Self {
        Self {
            columns: primary_key
                .iter()
                .map(|c| (c.name.clone(), c.r#type()))
                .collect(),
        }
    }

    /// The key columns, in key order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
    }

    /// Appends the encoding of `values` (one per key column, in key order) to
    /// `out`. Errors name the key column that was wrong.
    pub fn encode_into<'a>(
        &self,
        values: impl IntoIterator<Item = Option<&'a Kind>>,
        out: &mut Vec<u8>,
    ) -> Result<(), DomainError> {
        out.push(KEY_ENCODING_VERSION);
        let mut values = values.into_iter();
        for (name, scalar) in &self.columns {
            let value = values
                .next()
                .ok_or_else(|| DomainError::invalid(name.as_str(), "key value is missing"))?;
            encode_column(name, *scalar, value, out)?;
        }
        if values.next().is_some() {
            return Err(DomainError::invalid(
                "entity_key",
                format!("expected {} key values", self.columns.len()),
            ));
        }
        Ok(())
    }

    /// The encoding of `values` as a new vector.
    pub fn encode<'a>(
        &self,
        values: impl IntoIterator<Item = Option<&'a Kind>>,
    ) -> Result<Vec<u8>, DomainError> {
        let mut out = Vec::with_capacity(1 + 9 * self.columns.len());
        self.encode_into(values, &mut out)?;
        Ok(out)
    }
}

fn encode_column(
    name: &str,
    scalar: ScalarType,
    value: Option<&Kind>,
    out: &mut Vec<u8>,
) -> Result<(), DomainError> {
    let tag = scalar as i32 as u8;
    match (scalar, value) {
        (ScalarType::Bool, Some(Kind::BoolValue(v))) => {
            out.push(tag);
            out.push(u8::from(*v));
        }
        (ScalarType::Int32, Some(Kind::Int32Value(v))) => {
            out.push(tag);
            out.extend_from_slice(&((*v as u32) ^ 0x8000_0000).to_be_bytes());
        }
        (ScalarType::Int64, Some(Kind::Int64Value(v)))
        | (ScalarType::Timestamp, Some(Kind::TimestampValue(v))) => {
            out.push(tag);
            out.extend_from_slice(&((*v as u64) ^ 0x8000_0000_0000_0000).to_be_bytes());
        }
        (ScalarType::String, Some(Kind::StringValue(v))) => {
            out.push(tag);
            push_len_prefixed(name, v.as_bytes(), out)?;
        }
        (ScalarType::Bytes, Some(Kind::BytesValue(v))) => {
            out.push(tag);
            push_len_prefixed(name, v, out)?;
        }
        (_, None) => return Err(DomainError::invalid(name, "key value is unset")),
        (_, Some(Kind::NullValue(_))) => {
            return Err(DomainError::invalid(name, "key values cannot be null"));
        }
        (expected, Some(kind)) => {
            let actual = crate::types::type_of(kind)
                .map(|t| crate::types::type_name(&t))
                .unwrap_or_else(|| "null".into());
            return Err(DomainError::invalid(
                name,
                format!("expected {}, got {actual}", scalar_name(expected)),
            ));
        }
    }
    Ok(())
}

fn push_len_prefixed(name: &str, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), DomainError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| DomainError::invalid(name, "key value is longer than 4 GiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// XXH3-64 (seed 0) of an encoded key.
pub fn key_hash(encoded: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(encoded)
}

/// The Kafka partition of an encoded key.
pub fn partition_for(encoded: &[u8], partitions: u32) -> u32 {
    (key_hash(encoded) % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn col(name: &str, ty: ScalarType) -> KeyColumn {
        KeyColumn {
            name: name.into(),
            r#type: ty as i32,
            description: String::new(),
        }
    }

    #[test]
    fn encoding_is_pinned() {
        // These bytes and hashes are a compatibility promise: if this test
        // fails, existing topics and online tables would be split.
        let enc = EntityKeyEncoder::new(&[
            col("customer_id", ScalarType::Int64),
            col("country", ScalarType::String),
        ]);
        let key = enc
            .encode([
                Some(&Kind::Int64Value(42)),
                Some(&Kind::StringValue("de".into())),
            ])
            .unwrap();
        assert_eq!(
            key,
            [1, 3, 0x80, 0, 0, 0, 0, 0, 0, 42, 6, 0, 0, 0, 2, b'd', b'e']
        );
        assert_eq!(key_hash(&key), 0x8dcf_42ed_ea6d_0930, "hash is pinned");
    }

    #[test]
    fn wrong_values_name_the_key() {
        let enc = EntityKeyEncoder::new(&[col("customer_id", ScalarType::Int64)]);
        let err = enc
            .encode([Some(&Kind::StringValue("x".into()))])
            .unwrap_err();
        assert_eq!(err.to_string(), "customer_id: expected int64, got string");
        let err = enc.encode([Some(&Kind::NullValue(0))]).unwrap_err();
        assert!(err.to_string().contains("cannot be null"));
        assert!(enc.encode(std::iter::empty()).is_err());
    }

    proptest! {
        #[test]
        fn distinct_keys_encode_distinctly(a in any::<(i64, String)>(), b in any::<(i64, String)>()) {
            let enc = EntityKeyEncoder::new(&[col("a", ScalarType::Int64), col("b", ScalarType::String)]);
            let ka = enc.encode([Some(&Kind::Int64Value(a.0)), Some(&Kind::StringValue(a.1.clone()))]).unwrap();
            let kb = enc.encode([Some(&Kind::Int64Value(b.0)), Some(&Kind::StringValue(b.1.clone()))]).unwrap();
            prop_assert_eq!(a == b, ka == kb);
        }

        #[test]
        fn int_encoding_preserves_order(a: i64, b: i64) {
            let enc = EntityKeyEncoder::new(&[col("a", ScalarType::Int64)]);
            let ka = enc.encode([Some(&Kind::Int64Value(a))]).unwrap();
            let kb = enc.encode([Some(&Kind::Int64Value(b))]).unwrap();
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
        }

        #[test]
        fn partitions_are_in_range(bytes: Vec<u8>, partitions in 1u32..1000) {
            prop_assert!(partition_for(&bytes, partitions) < partitions);
        }
    }
}
