//! Consistency levels in standalone mode (embedded log, online store and
//! metadata store, Delta on disk), through the binary's own ports: an
//! ingest's write token makes the very next read include its rows, online
//! and in a training dataset built at once.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use arrow_array::{
    Int64Array, RecordBatch, TimestampMicrosecondArray, cast::AsArray, types::Float64Type,
};
use arrow_flight::{FlightClient, Ticket};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::{energy_catalog, free_ports, start};
use featurestore_proto::v1::{
    Consistency, CreateTrainingDatasetRequest, DatasetFormat, EntityKey, EntitySource,
    FeatureGroupRef, FeatureSelector, FeatureStatus, FeatureViewRef, GetFeatureVectorRequest,
    GetHistoricalFeaturesRequest, IngestRequest, IngestResponse, Row, Value, consistency::Level,
    entity_source::Source, feature_selector::Selector, get_historical_features_request::Features,
    ingestion_service_client::IngestionServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
    training_dataset_service_client::TrainingDatasetServiceClient, value::Kind,
};
use futures::TryStreamExt;
use tonic::transport::Channel;

const EVENT_TIME: i64 = 1_790_000_000_000_000;

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn after_write(tokens: Vec<Vec<u8>>) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: tokens,
        max_wait_millis: 2_000,
        serve_stale: false,
    })
}

async fn ingest(
    client: &mut IngestionServiceClient<Channel>,
    keys: std::ops::Range<i64>,
) -> IngestResponse {
    let request = IngestRequest {
        group: Some(FeatureGroupRef {
            project: "energy".into(),
            name: "daily".into(),
            version: 0,
        }),
        columns: ["household_id", "event_time", "kwh", "measures"]
            .map(String::from)
            .to_vec(),
        rows: keys
            .map(|k| Row {
                values: vec![
                    v(Kind::Int64Value(k)),
                    v(Kind::TimestampValue(EVENT_TIME)),
                    v(Kind::Float64Value(k as f64 + 0.5)),
                    v(Kind::Int64Value(48)),
                ],
            })
            .collect(),
        idempotency_key: String::new(),
    };
    // The catalog reaches ingestion through its watch.
    let started = Instant::now();
    loop {
        match client.ingest(request.clone()).await {
            Ok(r) => return r.into_inner(),
            Err(s) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("ingest not ready yet: {s}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("ingest: {s}"),
        }
    }
}

fn entity_rows(keys: std::ops::Range<i64>) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("household_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let n = (keys.end - keys.start) as usize;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(keys)),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(EVENT_TIME + 1, n))
                    .with_timezone("UTC"),
            ),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_write_reads_include_what_was_just_written() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), free_ports()).await;
    energy_catalog(&running).await;
    let mut ingestion = IngestionServiceClient::new(running.channel(1).await);
    let mut serving = OnlineServingServiceClient::new(running.channel(2).await);

    // Online: each key read right after its ingest is PRESENT.
    for key in 0..20 {
        let token = ingest(&mut ingestion, key..key + 1).await.write_token;
        let answer = serving
            .get_feature_vector(GetFeatureVectorRequest {
                project: "energy".into(),
                selector: Some(FeatureSelector {
                    selector: Some(Selector::View(FeatureViewRef {
                        project: String::new(),
                        name: "model".into(),
                        version: 0,
                    })),
                }),
                entity_key: Some(EntityKey {
                    join_keys: vec!["household_id".into()],
                    values: vec![v(Kind::Int64Value(key))],
                }),
                include_event_times: false,
                consistency: after_write(vec![token]),
                include_freshness: true,
            })
            .await
            .unwrap()
            .into_inner();
        let vector = answer.vector.unwrap();
        assert_eq!(
            vector.statuses,
            [FeatureStatus::Present as i32, FeatureStatus::Present as i32],
            "round {key}"
        );
        assert_eq!(answer.freshness[0].watermark_micros, EVENT_TIME);
    }

    // Offline: 2,000 rows, then at once a training dataset over them.
    let tokens = vec![
        ingest(&mut ingestion, 1_000..2_000).await.write_token,
        ingest(&mut ingestion, 2_000..3_000).await.write_token,
    ];
    let mut datasets = TrainingDatasetServiceClient::new(running.channel(3).await);
    let dataset = datasets
        .create_training_dataset(CreateTrainingDatasetRequest {
            project: "energy".into(),
            name: "fresh".into(),
            version: 0,
            query: Some(GetHistoricalFeaturesRequest {
                project: "energy".into(),
                features: Some(Features::View(FeatureViewRef {
                    project: String::new(),
                    name: "model".into(),
                    version: 0,
                })),
                entities: Some(EntitySource {
                    source: Some(Source::ArrowIpcStream(entity_rows(1_000..3_000))),
                    ..EntitySource::default()
                }),
                consistency: after_write(tokens),
            }),
            format: DatasetFormat::Parquet as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dataset.row_count, 2_000);
    let mut flight = FlightClient::new(running.channel(3).await);
    let batches: Vec<RecordBatch> = flight
        .do_get(Ticket::new(dataset.flight_ticket.clone()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let kwh: Vec<Option<f64>> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("daily__kwh")
                .expect("daily__kwh")
                .as_primitive::<Float64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(kwh.len(), 2_000);
    let missing = kwh.iter().filter(|k| k.is_none()).count();
    assert_eq!(
        missing, 0,
        "rows without features in a set built after the write"
    );
    assert_eq!(dataset.freshness[0].watermark_micros, EVENT_TIME);
}
