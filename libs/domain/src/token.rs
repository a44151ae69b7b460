//! Write tokens: what an acknowledged ingest wrote (per group version, the
//! offset after its last record in each partition), sealed into opaque
//! bytes a reader hands back to ask for those rows
//! (`Consistency.write_tokens`).
//!
//! The bytes are a format byte, the `WriteToken` protobuf and an xxh3
//! checksum of both, so a truncated or altered token is refused
//! (INVALID_ARGUMENT) instead of waited on. The checksum is no signature:
//! a token can be made by hand; the security issue's signed tokens will
//! replace it.

use std::collections::BTreeMap;

use featurestore_proto::v1::{FeatureGroupRef, WriteToken, WrittenGroup};
use prost::Message as _;
use xxhash_rust::xxh3::xxh3_64;

use crate::{DomainError, FeatureGroupId};

const FORMAT: u8 = 1;
const CHECKSUM: usize = 8;

/// Tokens combined: per group version, per partition the largest offset
/// any of them wrote to.
pub type Written = BTreeMap<FeatureGroupId, BTreeMap<i32, i64>>;

/// The token of one append to `group` whose records landed at `offsets`
/// (`(partition, offset)` per record).
pub fn token_of(
    group: FeatureGroupRef,
    offsets: impl IntoIterator<Item = (i32, i64)>,
) -> WriteToken {
    let mut end_offsets = std::collections::HashMap::new();
    for (partition, offset) in offsets {
        let end = end_offsets.entry(partition).or_insert(0);
        *end = (*end).max(offset + 1);
    }
    WriteToken {
        groups: vec![WrittenGroup {
            group: Some(group),
            end_offsets,
        }],
    }
}

/// The token's opaque bytes.
pub fn seal(token: &WriteToken) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + token.encoded_len() + CHECKSUM);
    bytes.push(FORMAT);
    token.encode(&mut bytes).expect("a Vec grows");
    let checksum = xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The token in `bytes`; INVALID_ARGUMENT naming `field` when the bytes are
/// not a whole token made by [`seal`].
pub fn open(field: &str, bytes: &[u8]) -> Result<WriteToken, DomainError> {
    let refused =
        |reason: &str| DomainError::invalid(field, format!("not a write token: {reason}"));
    if bytes.len() < 1 + CHECKSUM {
        return Err(refused("too short"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
    if body[0] != FORMAT {
        return Err(refused("unknown format"));
    }
    let expected = u64::from_le_bytes(checksum.try_into().expect("8 bytes"));
    if xxh3_64(body) != expected {
        return Err(refused("checksum mismatch (truncated or altered)"));
    }
    WriteToken::decode(&body[1..]).map_err(|e| refused(&e.to_string()))
}

/// Opens every token and combines them; INVALID_ARGUMENT naming
/// `field[i]` for the first bad one.
pub fn combine(field: &str, tokens: &[Vec<u8>]) -> Result<Written, DomainError> {
    let mut written = Written::new();
    for (i, bytes) in tokens.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let token = open(&field, bytes)?;
        for g in token.groups {
            let Some(group) = g.group else {
                return Err(DomainError::invalid(
                    field,
                    "a written group without its group",
                ));
            };
            let ends = written
                .entry(FeatureGroupId {
                    project: group.project,
                    name: group.name,
                    version: group.version,
                })
                .or_default();
            for (partition, offset) in g.end_offsets {
                if partition < 0 || offset < 0 {
                    return Err(DomainError::invalid(field, "negative partition or offset"));
                }
                let end = ends.entry(partition).or_insert(0);
                *end = (*end).max(offset);
            }
        }
    }
    Ok(written)
}

/// The readable form of combined tokens (what `fsctl` prints).
pub fn to_token(written: &Written) -> WriteToken {
    WriteToken {
        groups: written
            .iter()
            .map(|(id, ends)| WrittenGroup {
                group: Some(FeatureGroupRef {
                    project: id.project.clone(),
                    name: id.name.clone(),
                    version: id.version,
                }),
                end_offsets: ends.iter().map(|(p, o)| (*p, *o)).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> FeatureGroupRef {
        FeatureGroupRef {
            project: "p".into(),
            name: name.into(),
            version: 1,
        }
    }

    #[test]
    fn tokens_round_trip_and_combine_to_the_largest_offsets() {
        let a = seal(&token_of(group("a"), [(0, 4), (0, 9), (2, 1)]));
        let b = seal(&token_of(group("a"), [(0, 5), (1, 7)]));
        let c = seal(&token_of(group("b"), [(3, 0)]));
        let written = combine("tokens", &[a, b, c]).unwrap();
        let id = |name: &str| FeatureGroupId {
            project: "p".into(),
            name: name.into(),
            version: 1,
        };
        let a = &written[&id("a")];
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [(&0, &10), (&1, &8), (&2, &2)]
        );
        assert_eq!(written[&id("b")][&3], 1);
        let again = combine("t", &[seal(&to_token(&written))]).unwrap();
        assert_eq!(again, written);
    }

    #[test]
    fn truncated_altered_or_foreign_bytes_are_refused_naming_the_token() {
        let token = seal(&token_of(group("a"), [(0, 4)]));
        for bad in [
            token[..token.len() - 1].to_vec(),
            {
                let mut t = token.clone();
                t[3] ^= 1;
                t
            },
            b"not a token at all".to_vec(),
            Vec::new(),
        ] {
            let err = combine("consistency.write_tokens", &[token.clone(), bad]).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("consistency.write_tokens[1]: not a write token"),
                "{err}"
            );
        }
    }
}
