//! Writes the seed inputs of `fuzz/corpus/` (valid inputs of every
//! target, made with the real encoders). Run by hand when a format
//! changes: `cargo test -p featurestore-fuzz --test seeds -- --ignored`.

use std::{path::PathBuf, sync::Arc};

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray, TimestampMicrosecondArray, types::Int64Type,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_domain::fixtures::{entity, group, project, view};
use featurestore_proto::v1::{
    self as pb, CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest,
    EntityKey, FeatureGroupRef, FlightTicket, GetFeatureVectorRequest, ScalarType, Value,
    flight_ticket::Kind, value::Kind as V,
};
use prost::Message;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fuzz/corpus/{target}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn ipc(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

fn value(kind: V) -> Value {
    Value { kind: Some(kind) }
}

#[test]
#[ignore = "writes the committed seed corpus"]
fn write_seed_corpus() {
    let utc = Some("UTC".into());
    let schema = Arc::new(Schema::new(vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, utc.clone()),
            false,
        ),
        Field::new("amount", DataType::Float64, true),
        Field::new("merchant", DataType::Utf8, true),
        Field::new("flagged", DataType::Boolean, true),
        Field::new("blob", DataType::Binary, true),
        Field::new(
            "recent",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            true,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![1_700_000_000_000_000, 1_700_000_001_000_000, 0])
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-0.0)])),
        Arc::new(StringArray::from(vec![Some("café"), Some(""), None])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(BinaryArray::from_opt_vec(vec![
            Some(b"\x00\xff"),
            None,
            Some(b""),
        ])),
        Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
        ])),
    ];
    let batch = RecordBatch::try_new(schema, columns).unwrap();
    write("ingest_arrow", "seven_types", &ipc(&batch));
    let entities = batch.project(&[0, 1]).unwrap();
    write("entity_rows", "keys_and_times", &ipc(&entities));
    write("ingest_arrow", "keys_and_times", &ipc(&entities));

    let keys: [(&str, Vec<V>); 4] = [
        ("int64", vec![V::Int64Value(42)]),
        ("string", vec![V::StringValue("card-1".into())]),
        ("int32_bool", vec![V::Int32Value(-7), V::BoolValue(true)]),
        (
            "timestamp_string",
            vec![
                V::TimestampValue(1_700_000_000_000_000),
                V::StringValue("x".into()),
            ],
        ),
    ];
    for (name, values) in keys {
        let request = GetFeatureVectorRequest {
            project: "fraud".into(),
            entity_key: Some(EntityKey {
                join_keys: vec!["k0".into(), "k1".into()],
                values: values.into_iter().map(value).collect(),
            }),
            ..Default::default()
        };
        write("entity_key", name, &request.encode_to_vec());
    }

    let token = featurestore_domain::token::token_of(
        FeatureGroupRef {
            project: "fraud".into(),
            name: "tx".into(),
            version: 1,
        },
        [(0, 10), (3, 7)],
    );
    write(
        "write_token",
        "two_partitions",
        &featurestore_domain::token::seal(&token),
    );

    let query = FlightTicket {
        kind: Some(Kind::Query(pb::QueryTicket {
            project: "fraud".into(),
            groups: vec![pb::PinnedGroup {
                group: "tx".into(),
                group_version: 1,
                ..Default::default()
            }],
            entities: None,
        })),
        expires_at_micros: i64::MAX,
        principal: String::new(),
    };
    write("ticket", "group_read", &query.encode_to_vec());
    let dataset = FlightTicket {
        kind: Some(Kind::Dataset(pb::TrainingDatasetRef {
            project: "fraud".into(),
            name: "churn".into(),
            version: 2,
        })),
        expires_at_micros: i64::MAX,
        principal: "https://idp#rita".into(),
    };
    write("ticket", "dataset", &dataset.encode_to_vec());

    let e = entity("fraud", "card", &[("card_id", ScalarType::Int64)]);
    write(
        "catalog_objects",
        "entity",
        &CreateEntityRequest { entity: Some(e) }.encode_to_vec(),
    );
    let g = group(
        "fraud",
        "tx",
        "card",
        &[("amount", "float64"), ("tags", "list<string>")],
    );
    write(
        "catalog_objects",
        "group",
        &CreateFeatureGroupRequest {
            feature_group: Some(g),
        }
        .encode_to_vec(),
    );
    let v = view("fraud", "model", &[("tx", &["amount"])]);
    write(
        "catalog_objects",
        "view",
        &CreateFeatureViewRequest {
            feature_view: Some(v),
        }
        .encode_to_vec(),
    );
    let mut p = project("fraud");
    p.roles = vec![pb::RoleBinding {
        role: pb::Role::Reader as i32,
        members: vec!["group:analysts".into()],
    }];
    write("catalog_objects", "project", &p.encode_to_vec());

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (name, file) in [
        ("shop", "examples/shop.yaml"),
        ("energy", "examples/energy/energy.yaml"),
    ] {
        write("spec", name, &std::fs::read(root.join(file)).unwrap());
    }
    write(
        "spec",
        "roles",
        b"project: fraud\nroles:\n  reader: [\"group:analysts\"]\n  admin: [\"cert:ops\"]\n",
    );
}
