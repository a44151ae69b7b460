//! The write path end to end on the real servers: register → ingest (Kafka)
//! → materialize → Cassandra online table + Delta offline table.

use std::time::Duration;

use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    unique_name,
    world::{World, event, ingest, offline_rows, wait_online, world},
};
use featurestore_materialization::pipeline::{BatchOutcome, PendingOffline};

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
    let messages = read_topic(&w, 250).await;
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

/// A rebalance that takes a partition away and gives it back before the
/// offline commit makes Kafka deliver its uncommitted records again: they
/// are queued and appended once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_delivered_again_before_the_offline_commit_are_in_delta_once() {
    let w = world().await;
    let keys: Vec<i64> = (0..40).collect();
    ingest(&w, keys.iter().map(|k| event(*k, 1)).collect()).await;
    let messages = read_topic(&w, 40).await;
    // A materializer whose pipeline consumes another project's topics: only
    // its sinks are used here, driven by hand.
    let sinks = MaterializationSandbox::start(
        w.registry.root(),
        &unique_name("elsewhere"),
        w.offline_dir.path().to_str().unwrap(),
    )
    .await;
    let mut pending = PendingOffline::default();
    let first = &messages[..25];
    sinks
        .materializer
        .write_online(first, &mut pending)
        .await
        .unwrap();
    // Delivered again from the last committed offset (none), then onwards.
    sinks
        .materializer
        .write_online(&messages, &mut pending)
        .await
        .unwrap();
    assert_eq!(pending.rows(), 40, "each record queued once");
    let mut outcome = BatchOutcome::default();
    sinks
        .materializer
        .flush_offline(&mut pending, &mut outcome)
        .await
        .unwrap();
    assert_eq!(outcome.offline_appended, 40);
    let rows = offline_rows(&w, 40).await;
    let want: Vec<(i64, i64)> = keys.iter().map(|k| (*k, 1)).collect();
    assert_eq!(rows, want, "every record exactly once in Delta");
    sinks.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_restores_the_online_store_from_delta() {
    use featurestore_onlinestore::OnlineTable;
    use featurestore_proto::v1::{
        FeatureGroupRef, GetBackfillJobRequest, GetMaterializationStatusRequest, ResourceState,
        StartBackfillRequest,
        materialization_admin_service_client::MaterializationAdminServiceClient,
    };
    let w = world().await;
    let materialization = MaterializationSandbox::start(
        w.registry.root(),
        &w.project,
        w.offline_dir.path().to_str().unwrap(),
    )
    .await;
    let keys: Vec<i64> = (0..10).collect();
    for time in [1, 2] {
        ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
    }
    let _ = wait_online(&w, &keys, 2).await;
    let _ = offline_rows(&w, 20).await;

    // The online table loses its rows (a new cluster, say).
    let store = featurestore_integration_tests::world::online_store().await;
    let table = OnlineTable::for_group(&w.group);
    store
        .session()
        .query_unpaged(format!("TRUNCATE fs_e2e.{}", table.name), ())
        .await
        .unwrap();

    let mut admin =
        MaterializationAdminServiceClient::connect(format!("http://{}", materialization.addr))
            .await
            .unwrap();
    let group = Some(FeatureGroupRef {
        project: w.project.clone(),
        name: "orders".into(),
        version: 1,
    });
    let status = admin
        .get_materialization_status(GetMaterializationStatusRequest {
            group: group.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.online_table, ResourceState::Ready as i32);
    assert_eq!(status.partitions.len(), 3);
    assert_eq!(
        status.partitions.iter().map(|p| p.lag).sum::<i64>(),
        0,
        "{status:?}"
    );

    let bad = admin
        .start_backfill(StartBackfillRequest {
            group: group.clone(),
            start_time_micros: 5,
            end_time_micros: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let job = admin
        .start_backfill(StartBackfillRequest {
            group,
            start_time_micros: 0,
            end_time_micros: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let started = std::time::Instant::now();
    loop {
        let current = admin
            .get_backfill_job(GetBackfillJobRequest { id: job.id.clone() })
            .await
            .unwrap()
            .into_inner();
        if current.state == ResourceState::Ready as i32 {
            assert_eq!(current.rows_written, 20);
            break;
        }
        assert_ne!(
            current.state,
            ResourceState::Failed as i32,
            "{}",
            current.message
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let values = wait_online(&w, &keys, 2).await;
    assert_eq!(
        values[3],
        event(3, 2).values[2..].to_vec(),
        "the newest event in the range wins"
    );
    materialization.stop().await.unwrap();
}

/// The first `count` records of the group's topic, read through a group of
/// its own (nothing committed for the materializer's).
async fn read_topic(w: &World, count: usize) -> Vec<featurestore_eventlog::Message> {
    use featurestore_eventlog::EventLog;
    let log = featurestore_eventlog::KafkaLog::new(featurestore_eventlog::KafkaConfig {
        bootstrap_servers: featurestore_integration_tests::ingestion::kafka_bootstrap(),
        ..Default::default()
    })
    .unwrap();
    let topic = format!("fs.{}.orders.v1", w.project);
    let mut sub = log
        .subscribe(
            &unique_name("read"),
            featurestore_eventlog::Topics::Named(vec![topic]),
        )
        .await
        .unwrap();
    featurestore_eventlog::testsuite::read(&mut *sub, count, Duration::from_secs(30)).await
}
