//! Fuzz target bodies: each takes bytes a client controls and runs them
//! through the code that decodes them in a service. A target may refuse
//! its input (that is the point); it must never panic, hang or allocate
//! without bound.
//!
//! `fuzz/` (cargo-fuzz, nightly) runs them coverage-guided (`make fuzz`);
//! `tests/corpus.rs` replays the committed corpora `fuzz/corpus/<target>/`
//! and seeded mutations of them on stable, in CI.

use std::time::Duration;

use featurestore_domain::{EntityKeyEncoder, fixtures, schema};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest,
    GetFeatureVectorRequest, KeyColumn, ScalarType, SignedTicket,
};
use prost::Message;

/// A fuzz target: it gets the bytes a client sent.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its corpus directory and of its
/// cargo-fuzz binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("ingest_arrow", ingest_arrow),
    ("entity_rows", entity_rows),
    ("entity_key", entity_key),
    ("write_token", write_token),
    ("ticket", ticket),
    ("catalog_objects", catalog_objects),
    ("spec", spec),
];

/// `IngestArrow`: an Arrow IPC stream turned into rows.
pub fn ingest_arrow(data: &[u8]) {
    let _ = featurestore_ingestion::arrow::decode(data, 100_000);
}

/// Inline entity rows of a historical query or training dataset.
pub fn entity_rows(data: &[u8]) {
    let _ = featurestore_query_engine::read_ipc(data);
}

/// An entity key as serving receives it (a `GetFeatureVectorRequest`),
/// encoded for keys of every key type, one and two columns.
pub fn entity_key(data: &[u8]) {
    let Ok(request) = GetFeatureVectorRequest::decode(data) else {
        return;
    };
    let Some(key) = request.entity_key else {
        return;
    };
    let values: Vec<_> = key.values.iter().map(|v| v.kind.as_ref()).collect();
    for types in [
        &[ScalarType::Int64][..],
        &[ScalarType::String],
        &[ScalarType::Bytes],
        &[ScalarType::Int32, ScalarType::Bool],
        &[ScalarType::Timestamp, ScalarType::String],
    ] {
        let columns: Vec<KeyColumn> = types
            .iter()
            .enumerate()
            .map(|(i, t)| fixtures::key(&format!("k{i}"), *t))
            .collect();
        if let Ok(encoded) = EntityKeyEncoder::new(&columns).encode(values.iter().copied()) {
            let _ = featurestore_domain::partition_for(&encoded, 16);
        }
    }
}

/// A write token given back in `Consistency.write_tokens`, alone and
/// combined.
pub fn write_token(data: &[u8]) {
    let _ = featurestore_domain::token::open("write_tokens[0]", data);
    let _ = featurestore_domain::token::combine("write_tokens", &[data.to_vec(), data.to_vec()]);
}

const TICKET_KEY: &[u8] = b"fuzzing-key-of-thirty-two-bytes!";

/// A Flight ticket: as given (almost always refused by its signature) and
/// signed with the service's key, so the decoding behind the signature is
/// reached too.
pub fn ticket(data: &[u8]) {
    let tickets =
        featurestore_offline_query::tickets::Tickets::with_key(TICKET_KEY, Duration::from_secs(60));
    let now = 1_800_000_000_000_000;
    let _ = tickets.open(data, "", now);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, TICKET_KEY);
    let signed = SignedTicket {
        ticket: data.to_vec(),
        mac: ring::hmac::sign(&key, data).as_ref().to_vec(),
    }
    .encode_to_vec();
    let _ = tickets.open(&signed, "", now);
    let _ = tickets.open(&signed, "someone", now);
}

/// Catalog objects as the registry receives them, validated and
/// normalized as it does (a group against the entity it names).
pub fn catalog_objects(data: &[u8]) {
    if let Ok(CreateEntityRequest { entity: Some(e) }) = CreateEntityRequest::decode(data) {
        let _ = schema::validate_entity(&e);
    }
    if let Ok(CreateFeatureGroupRequest {
        feature_group: Some(mut g),
    }) = CreateFeatureGroupRequest::decode(data)
    {
        let entity = fixtures::entity(&g.project, &g.entity, &[("id", ScalarType::Int64)]);
        if schema::normalize_feature_group(&mut g, &entity, 8).is_ok() {
            let _ = featurestore_domain::aggregation::Aggregations::of(&g);
        }
    }
    if let Ok(CreateFeatureViewRequest {
        feature_view: Some(mut v),
    }) = CreateFeatureViewRequest::decode(data)
    {
        // One group per selection, holding the features it names.
        let groups: Vec<_> = v
            .selections
            .iter()
            .map(|s| {
                let features: Vec<(&str, &str)> =
                    s.features.iter().map(|f| (f.as_str(), "int64")).collect();
                fixtures::group(&v.project, &s.group, "card", &features)
            })
            .collect();
        let _ = schema::resolve_feature_view(&mut v, &groups);
    }
    if let Ok(project) = featurestore_proto::v1::Project::decode(data) {
        let _ = schema::validate_project(&project);
    }
}

/// A spec file as `fsctl apply` reads it, turned into catalog objects.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = fsctl::spec::Spec::parse(text) else {
        return;
    };
    let _ = spec.project();
    let mut entities = Vec::new();
    for e in &spec.entities {
        if let Ok(e) = e.to_proto(&spec.project) {
            entities.push(e);
        }
    }
    for g in &spec.feature_groups {
        let entity = entities.iter().find(|e| e.name == g.entity);
        let _ = g.to_proto(&spec.project, entity);
    }
    for v in &spec.feature_views {
        let _ = v.to_proto(&spec.project);
    }
}
