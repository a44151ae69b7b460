//! The whole path a training job sees: rows ingested over gRPC, through
//! Kafka, materialized into Delta, joined point-in-time by offline query and
//! read with Python's `pyarrow.flight` client (installed by
//! `dev/python.sh`).

use std::{process::Command, sync::Arc};

use arrow_array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    offline::OfflineQuerySandbox,
    world::{event, ingest, offline_rows, world},
};
use featurestore_proto::v1::{
    CreateTrainingDatasetRequest, DatasetFormat, EntitySource, FeatureRef, FeatureRefs,
    GetHistoricalFeaturesRequest, entity_source::Source, get_historical_features_request::Features,
};

fn entity_rows(rows: &[(i64, i64)]) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.1),
            )),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `python/read_flight.py` reads for `ticket` (GetFlightInfo + DoGet).
fn read_with_pyarrow(offline: &OfflineQuerySandbox, ticket: &[u8]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/python.sh");
    let reader = concat!(env!("CARGO_MANIFEST_DIR"), "/python/read_flight.py");
    let output = Command::new("bash")
        .args([script, reader, &offline.addr.to_string(), &hex(ticket)])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "pyarrow reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_rows_come_back_point_in_time_through_pyarrow_flight() {
    let w = world().await;
    let offline_root = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    // Keys 0..20 at event times 1 and 3 (µs); amount = key * 1000 + time.
    let mut rows: Vec<_> = (0..20).map(|k| event(k, 3)).collect();
    rows.extend((0..20).map(|k| event(k, 1)));
    ingest(&w, rows).await;
    offline_rows(&w, 40).await;

    let offline = OfflineQuerySandbox::start(w.registry.root(), w.offline_dir.path()).await;
    let mut client = offline.client().await;
    let entities: Vec<(i64, i64)> = vec![(5, 2), (5, 3), (7, 0), (999, 10), (19, 100)];
    let feature = |name: &str| FeatureRef {
        group: "orders".into(),
        group_version: 0,
        feature: name.into(),
    };
    let query = GetHistoricalFeaturesRequest {
        consistency: None,
        project: w.project.clone(),
        features: Some(Features::FeatureRefs(FeatureRefs {
            features: vec![feature("amount"), feature("country"), feature("embedding")],
        })),
        entities: Some(EntitySource {
            source: Some(Source::ArrowIpcStream(entity_rows(&entities))),
            ..EntitySource::default()
        }),
    };
    let handle = client
        .get_historical_features(query.clone())
        .await
        .expect("plan")
        .into_inner();
    let result = read_with_pyarrow(&offline, &handle.flight_ticket);
    assert_eq!(result["num_rows"], 5);
    assert_eq!(
        result["columns"],
        serde_json::json!([
            "customer_id",
            "event_timestamp",
            "orders__amount",
            "orders__country",
            "orders__embedding"
        ])
    );
    let data = &result["data"];
    assert_eq!(data["customer_id"], serde_json::json!([5, 5, 7, 999, 19]));
    assert_eq!(
        data["orders__amount"],
        serde_json::json!([5001.0, 5003.0, null, null, 19003.0]),
        "latest row at or before each entity time; none before the first or for unknown keys"
    );
    assert_eq!(
        data["orders__country"],
        serde_json::json!(["k5t1", "k5t3", null, null, "k19t3"])
    );
    assert_eq!(data["orders__embedding"][0], serde_json::json!([5.0, 1.0]));

    // The same join stored as a Delta training dataset reads back the same.
    let dataset = offline
        .datasets()
        .await
        .create_training_dataset(CreateTrainingDatasetRequest {
            project: w.project.clone(),
            name: "orders_training".into(),
            version: 0,
            query: Some(query),
            format: DatasetFormat::Delta as i32,
        })
        .await
        .expect("create dataset")
        .into_inner();
    assert_eq!(dataset.row_count, 5);
    let stored = read_with_pyarrow(&offline, &dataset.flight_ticket);
    assert_eq!(stored["columns"], result["columns"]);
    assert_eq!(stored["data"], result["data"]);
}
