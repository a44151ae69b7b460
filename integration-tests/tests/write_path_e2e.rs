//! The write path end to end on the real servers: register → ingest (Kafka)
//! → materialize → Cassandra online table + Delta offline table.

use std::time::Duration;

use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    unique_name,
    world::{event, ingest, offline_rows, wait_online, world},
};

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
