//! Cassandra stops while rows are being materialized: the materializer
//! retries with backoff without committing, writes nothing offline for the
//! stalled batch, and catches up exactly once when Cassandra returns. Its own
//! test binary, so the outage does not disturb other tests.

use featurestore_integration_tests::{
    materialization::{MaterializationSandbox, pipeline_status_until},
    servers::FaultTest,
    world::{event, ingest, offline_rows, wait_online, world},
};
use featurestore_offlinestore::{DeltaStore, OfflineTable};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialization_stalls_during_a_cassandra_outage_and_catches_up_exactly_once() {
    let servers = FaultTest::begin();
    let w = world().await;
    // Published progress is followed from outside: it must only move forward.
    let progress = featurestore_integration_tests::progress::ProgressWatch::start(
        featurestore_integration_tests::metadata_store().await,
        w.registry.root(),
    );
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let keys: Vec<i64> = (0..30).collect();
    ingest(&w, keys.iter().map(|k| event(*k, 1)).collect()).await;
    let _ = wait_online(&w, &keys, 1).await;
    assert_eq!(offline_rows(&w, 30).await.len(), 30);

    let stopped = servers.stop("cassandra");
    ingest(&w, keys.iter().map(|k| event(*k, 2)).collect()).await;
    // Observed: the materializer read the batch and its online write failed
    // (at least twice: it retries without committing anything).
    pipeline_status_until(materialization.addr, "two failed attempts", |s| {
        s.failed_attempts >= 2
    })
    .await;
    let store = DeltaStore::new(&offline).unwrap();
    let during: usize = store
        .scan(&OfflineTable::for_group(&w.group))
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(during, 30, "the stalled batch is not half-written offline");

    drop(stopped);
    let _ = wait_online(&w, &keys, 2).await;
    let rows = offline_rows(&w, 60).await;
    let mut want: Vec<(i64, i64)> = keys
        .iter()
        .flat_map(|k| (1..3).map(move |t| (*k, t)))
        .collect();
    want.sort();
    assert_eq!(rows, want, "caught up, every row exactly once");
    progress.assert_only_forward();
    materialization.stop().await.unwrap();
}
