//! Kafka stops while ingestion runs: ingest answers UNAVAILABLE within the
//! deadline (never a false acknowledgement, never a hang), works again once
//! Kafka is back, and every acknowledged row is in the topic. Its own test
//! binary: cargo runs binaries one at a time, so no other test sees the outage.

use std::time::{Duration, Instant};

use featurestore_domain::fixtures::{entity, group};
use featurestore_eventlog::{
    EventLog, KafkaConfig, KafkaLog, Topics,
    testsuite::{read, unique},
};
use featurestore_integration_tests::{
    ingestion::{IngestionSandbox, kafka_bootstrap},
    registry::RegistrySandbox,
    servers::FaultTest,
    unique_name,
};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateProjectRequest, FeatureGroupRef,
    FeatureRowRecord, IngestRequest, Project, Row, ScalarType, Value, value::Kind,
};
use prost::Message as _;
use tonic::Code;

fn row(i: i64) -> Row {
    Row {
        values: vec![
            Value {
                kind: Some(Kind::Int64Value(i)),
            },
            Value {
                kind: Some(Kind::TimestampValue(i)),
            },
            Value {
                kind: Some(Kind::Int64Value(i * 10)),
            },
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_unavailable_during_a_kafka_outage_and_loses_nothing() {
    let servers = FaultTest::begin();
    let registry = RegistrySandbox::start().await;
    let mut admin = registry.client().await;
    let project = unique_name("outage");
    admin
        .create_project(CreateProjectRequest {
            project: Some(Project {
                name: project.clone(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    admin
        .create_entity(CreateEntityRequest {
            entity: Some(entity(&project, "user", &[("user_id", ScalarType::Int64)])),
        })
        .await
        .unwrap();
    admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(&project, "clicks", "user", &[("n", "int64")])),
        })
        .await
        .unwrap();
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let mut client = ingestion.client().await;
    let request = |rows: Vec<Row>| IngestRequest {
        group: Some(FeatureGroupRef {
            project: project.clone(),
            name: "clicks".into(),
            version: 0,
        }),
        columns: vec!["user_id".into(), "event_time".into(), "n".into()],
        rows,
        idempotency_key: String::new(),
    };
    let mut acknowledged: Vec<i64> = Vec::new();
    client
        .ingest(request((0..10).map(row).collect()))
        .await
        .unwrap();
    acknowledged.extend(0..10);

    let stopped = servers.stop("kafka");
    let deadline = Duration::from_secs(8);
    let mut during = tonic::Request::new(request((100..110).map(row).collect()));
    during.set_timeout(deadline);
    let started = Instant::now();
    let err = client.ingest(during).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < deadline,
        "answered in {:?}",
        started.elapsed()
    );

    drop(stopped);
    let started = Instant::now();
    loop {
        match client.ingest(request((10..20).map(row).collect())).await {
            Ok(r) => {
                assert_eq!(r.into_inner().rows_accepted, 10);
                acknowledged.extend(10..20);
                break;
            }
            Err(e)
                if e.code() == Code::Unavailable && started.elapsed() < Duration::from_secs(60) =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("ingestion did not recover: {e:?}"),
        }
    }

    let log = KafkaLog::new(KafkaConfig {
        bootstrap_servers: kafka_bootstrap(),
        ..KafkaConfig::default()
    })
    .unwrap();
    let topic = format!("fs.{project}.clicks.v1");
    let mut sub = log
        .subscribe(&unique("reader"), Topics::Named(vec![topic]))
        .await
        .unwrap();
    let mut messages = read(&mut *sub, acknowledged.len(), Duration::from_secs(30)).await;
    messages.extend(sub.next_batch(1000, Duration::from_secs(2)).await.unwrap());
    let mut ids: Vec<i64> = messages
        .iter()
        .map(|m| {
            match FeatureRowRecord::decode(m.payload.as_slice())
                .unwrap()
                .key_values[0]
                .kind
            {
                Some(Kind::Int64Value(i)) => i,
                _ => panic!("key"),
            }
        })
        .filter(|i| *i < 100) // rows refused with UNAVAILABLE may or may not have landed
        .collect();
    ids.sort();
    assert_eq!(ids, acknowledged, "every acknowledged row, once");
}
