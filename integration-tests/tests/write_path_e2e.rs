//! The write path end to end on the real servers: register → ingest (Kafka)
//! → materialize → Cassandra online table + Delta offline table.

use std::time::{Duration, Instant};

use arrow_array::{cast::AsArray, types::Int64Type};
use featurestore_domain::{
    EntityKeyEncoder,
    fixtures::{entity, group},
};
use featurestore_integration_tests::{
    ingestion::IngestionSandbox,
    materialization::{MaterializationSandbox, cassandra_node},
    registry::RegistrySandbox,
    unique_name,
};
use featurestore_offlinestore::{DeltaStore, OfflineTable};
use featurestore_onlinestore::{CassandraConfig, CassandraStore, OnlineStore, OnlineTable};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateProjectRequest, FeatureGroup,
    FeatureGroupRef, IngestRequest, Project, Row, ScalarType, Value, value::Kind,
};

struct World {
    registry: RegistrySandbox,
    ingestion: IngestionSandbox,
    project: String,
    group: FeatureGroup,
    offline_dir: tempfile::TempDir,
}

async fn world() -> World {
    let registry = RegistrySandbox::start().await;
    let mut admin = registry.client().await;
    let project = unique_name("wp");
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
            entity: Some(entity(
                &project,
                "customer",
                &[("customer_id", ScalarType::Int64)],
            )),
        })
        .await
        .unwrap();
    let mut g = group(
        &project,
        "orders",
        "customer",
        &[
            ("amount", "float64"),
            ("country", "string"),
            ("embedding", "list<float32>"),
        ],
    );
    g.partitions = 3;
    let group = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(g),
        })
        .await
        .unwrap()
        .into_inner();
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    World {
        registry,
        ingestion,
        project,
        group,
        offline_dir: tempfile::tempdir().unwrap(),
    }
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn event(key: i64, time: i64) -> Row {
    Row {
        values: vec![
            v(Kind::Int64Value(key)),
            v(Kind::TimestampValue(time)),
            v(Kind::Float64Value((key * 1000 + time) as f64)),
            if time % 2 == 0 {
                v(Kind::NullValue(0))
            } else {
                v(Kind::StringValue(format!("k{key}t{time}")))
            },
            v(Kind::Float32List(featurestore_proto::v1::Float32List {
                values: vec![key as f32, time as f32],
            })),
        ],
    }
}

async fn ingest(w: &World, rows: Vec<Row>) {
    let mut client = w.ingestion.client().await;
    client
        .ingest(IngestRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: "orders".into(),
                version: 1,
            }),
            columns: [
                "customer_id",
                "event_time",
                "amount",
                "country",
                "embedding",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        })
        .await
        .unwrap();
}

async fn online_store() -> CassandraStore {
    CassandraStore::connect(CassandraConfig {
        nodes: vec![cassandra_node()],
        keyspace: "fs_e2e".into(),
        ..CassandraConfig::default()
    })
    .await
    .unwrap()
}

/// Waits until the Delta table holds `count` rows; returns their (key, event time) pairs.
async fn offline_rows(w: &World, count: usize) -> Vec<(i64, i64)> {
    let store = DeltaStore::new(w.offline_dir.path().to_str().unwrap()).unwrap();
    let table = OfflineTable::for_group(&w.group);
    let started = Instant::now();
    loop {
        if let Ok(batches) = store.scan(&table).await {
            let mut rows: Vec<(i64, i64)> = Vec::new();
            for b in &batches {
                let keys = b
                    .column_by_name("customer_id")
                    .unwrap()
                    .as_primitive::<Int64Type>();
                let times = b
                    .column_by_name("event_time")
                    .unwrap()
                    .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
                for i in 0..b.num_rows() {
                    rows.push((keys.value(i), times.value(i)));
                }
            }
            if rows.len() >= count {
                rows.sort();
                return rows;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "offline table did not reach {count} rows"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until every key's online row has `event_time`.
async fn wait_online(w: &World, keys: &[i64], event_time: i64) -> Vec<Vec<Value>> {
    let store = online_store().await;
    let table = OnlineTable::for_group(&w.group);
    let encoder = EntityKeyEncoder::new(&w.group.primary_key);
    let encoded: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| encoder.encode([Some(&Kind::Int64Value(*k))]).unwrap())
        .collect();
    let started = Instant::now();
    loop {
        if let Ok(rows) = store.get(&table, &encoded).await
            && rows.iter().all(|r| {
                r.as_ref()
                    .is_some_and(|r| r.event_time_micros == event_time)
            })
        {
            return rows.into_iter().map(|r| r.unwrap().values).collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "online rows did not reach event time {event_time}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_reach_both_stores_and_the_newest_event_wins_online() {
    let w = world().await;
    let materialization = MaterializationSandbox::start(
        w.registry.root(),
        &w.project,
        w.offline_dir.path().to_str().unwrap(),
    )
    .await;
    let keys: Vec<i64> = (0..20).collect();
    // Events of every key arrive out of order: 2, then 0, then 1.
    for time in [2, 0, 1] {
        ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
    }
    let values = wait_online(&w, &keys, 2).await;
    for (key, values) in keys.iter().zip(values) {
        let sent = event(*key, 2);
        assert_eq!(
            values,
            sent.values[2..].to_vec(),
            "key {key}: the newest event's values"
        );
    }
    let rows = offline_rows(&w, 60).await;
    let mut want: Vec<(i64, i64)> = keys
        .iter()
        .flat_map(|k| (0..3).map(move |t| (*k, t)))
        .collect();
    want.sort();
    assert_eq!(rows, want, "every event exactly once offline");
    materialization.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_materializer_that_dies_mid_stream_leaves_every_row_exactly_once() {
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let first = MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let keys: Vec<i64> = (0..50).collect();
    ingest(&w, keys.iter().map(|k| event(*k, 1)).collect()).await;
    // Dies abruptly while rows keep coming (no graceful commit).
    let ingesting = async {
        for time in 2..6 {
            ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    };
    let killing = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
    };
    tokio::join!(ingesting, killing);
    let second = MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let _ = wait_online(&w, &keys, 5).await;
    let rows = offline_rows(&w, 250).await;
    let mut want: Vec<(i64, i64)> = keys
        .iter()
        .flat_map(|k| (1..6).map(move |t| (*k, t)))
        .collect();
    want.sort();
    assert_eq!(rows, want, "every acknowledged row exactly once in Delta");
    // Replaying the whole topic through the same consumer's sinks (as after
    // a crash between the Delta commit and the Kafka commit) changes nothing.
    let log = featurestore_eventlog::KafkaLog::new(featurestore_eventlog::KafkaConfig {
        bootstrap_servers: featurestore_integration_tests::ingestion::kafka_bootstrap(),
        ..Default::default()
    })
    .unwrap();
    use featurestore_eventlog::EventLog;
    let topic = format!("fs.{}.orders.v1", w.project);
    let mut sub = log
        .subscribe(
            &unique_name("replay"),
            featurestore_eventlog::Topics::Named(vec![topic]),
        )
        .await
        .unwrap();
    let messages =
        featurestore_eventlog::testsuite::read(&mut *sub, 250, Duration::from_secs(30)).await;
    let outcome = second.materializer.process(&messages).await.unwrap();
    assert_eq!(
        (outcome.offline_appended, outcome.offline_skipped),
        (0, 250),
        "{outcome:?}"
    );
    assert_eq!(offline_rows(&w, 250).await.len(), 250);
    let _ = wait_online(&w, &keys, 5).await;
    second.stop().await.unwrap();
}
