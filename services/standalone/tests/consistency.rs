//! Consistency levels in standalone mode (embedded log, online store and
//! metadata store, Delta on disk), through the binary's own ports: an
//! ingest's write token makes the very next read include its rows, online
//! and in a training dataset built at once.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use arrow_array::{Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_flight::{FlightClient, Ticket};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::{energy_catalog, free_ports, start, vector_request};
use featurestore_proto::v1::{
    Consistency, CreateTrainingDatasetRequest, DatasetFormat, EntitySource, FeatureStatus,
    FeatureViewRef, GetHistoricalFeaturesRequest, IngestResponse, consistency::Level,
    entity_source::Source, get_historical_features_request::Features,
    ingestion_service_client::IngestionServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
    training_dataset_service_client::TrainingDatasetServiceClient,
};
use futures::TryStreamExt;
use tonic::transport::Channel;

const EVENT_TIME: i64 = 1_790_000_000_000_000;

fn after_write(tokens: Vec<Vec<u8>>) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: tokens,
        max_wait_millis: 2_000,
        serve_stale: false,
        at_least_micros: 0,
    })
}

async fn ingest(
    client: &mut IngestionServiceClient<Channel>,
    keys: std::ops::Range<i64>,
) -> IngestResponse {
    let request = common::daily_rows(keys, EVENT_TIME, |k| k as f64 + 0.5);
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

/// A training dataset `name` over `keys` (entity time EVENT_TIME + 1) built
/// with `consistency`; returns it with the number of its rows that have
/// features.
async fn dataset(
    running: &common::Running,
    name: &str,
    keys: std::ops::Range<i64>,
    consistency: Option<Consistency>,
) -> (featurestore_proto::v1::TrainingDataset, usize) {
    let mut datasets = TrainingDatasetServiceClient::new(running.channel(3).await);
    let dataset = datasets
        .create_training_dataset(CreateTrainingDatasetRequest {
            project: "energy".into(),
            name: name.into(),
            version: 0,
            query: Some(GetHistoricalFeaturesRequest {
                project: "energy".into(),
                features: Some(Features::View(FeatureViewRef {
                    project: String::new(),
                    name: "model".into(),
                    version: 0,
                })),
                entities: Some(EntitySource {
                    source: Some(Source::ArrowIpcStream(entity_rows(keys))),
                    ..EntitySource::default()
                }),
                consistency,
            }),
            format: DatasetFormat::Parquet as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let mut flight = FlightClient::new(running.channel(3).await);
    let batches: Vec<RecordBatch> = flight
        .do_get(Ticket::new(dataset.flight_ticket.clone()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let present = batches
        .iter()
        .map(|b| {
            let kwh = b.column_by_name("daily__kwh").expect("daily__kwh");
            kwh.len() - kwh.null_count()
        })
        .sum();
    (dataset, present)
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
            .get_feature_vector(vector_request(key, after_write(vec![token])))
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
    let (dataset, present) = dataset(&running, "fresh", 1_000..3_000, after_write(tokens)).await;
    assert_eq!(dataset.row_count, 2_000);
    assert_eq!(
        present, 2_000,
        "rows without features in a set built after the write"
    );
    assert_eq!(dataset.freshness[0].watermark_micros, EVENT_TIME);
}

fn at_least(t: i64) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AtLeast as i32,
        at_least_micros: t,
        max_wait_millis: 2_000,
        ..Consistency::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_reads_wait_for_event_time_and_forged_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), free_ports()).await;
    energy_catalog(&running).await;
    let mut ingestion = IngestionServiceClient::new(running.channel(1).await);
    let mut serving = OnlineServingServiceClient::new(running.channel(2).await);

    // One key: its partition gets the row, the others none; they do not
    // hold AT_LEAST back, online or offline.
    ingest(&mut ingestion, 7..8).await;
    let started = Instant::now();
    let answer = serving
        .get_feature_vector(vector_request(7, at_least(EVENT_TIME)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.vector.unwrap().statuses,
        [FeatureStatus::Present as i32, FeatureStatus::Present as i32]
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Past every row: everything acknowledged is applied, so no wait.
    let started = Instant::now();
    serving
        .get_feature_vector(vector_request(7, at_least(EVENT_TIME * 2)))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));

    // A training dataset with AT_LEAST and no time waits for the latest
    // entity-row time: 1,000 rows ingested just before are all there.
    ingest(&mut ingestion, 1_000..2_000).await;
    let (dataset, present) = dataset(
        &running,
        "at_least",
        1_000..2_000,
        Some(Consistency {
            level: Level::AtLeast as i32,
            ..Consistency::default()
        }),
    )
    .await;
    assert_eq!(dataset.row_count, 1_000);
    assert!(dataset.freshness[0].watermark_micros >= EVENT_TIME);
    assert_eq!(present, 1_000, "every row with features");

    // A well-formed token naming offsets the log never had: refused soon,
    // not waited on until the deadline.
    let mut future = ingest(&mut ingestion, 7..8).await.written.unwrap();
    for offset in future.groups[0].end_offsets.values_mut() {
        *offset += 1_000_000;
    }
    let future = featurestore_domain::token::seal(&future);
    let started = Instant::now();
    let err = serving
        .get_feature_vector(vector_request(7, after_write(vec![future])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("consistency.write_tokens")
            && err.message().contains("beyond the log's end"),
        "{}",
        err.message()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}
