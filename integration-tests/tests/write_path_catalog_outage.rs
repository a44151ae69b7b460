//! The materializer is cut off from etcd while a group registered meanwhile
//! receives acknowledged rows: it holds them (nothing committed, the status
//! says so), and once etcd answers again every row reaches Delta exactly
//! once and the online store. A topic whose group the store says does not
//! exist is skipped and counted.

use featurestore_domain::fixtures::group;
use featurestore_eventlog::{EventLog, KafkaConfig, KafkaLog, Record};
use featurestore_integration_tests::{
    gate::Gate,
    ingestion::kafka_bootstrap,
    materialization::{MaterializationSandbox, pipeline_status_until},
    world::{event, ingest, offline_rows, wait_online, world},
};
use featurestore_proto::v1::CreateFeatureGroupRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_a_group_the_materializer_cannot_resolve_are_held_then_written_once() {
    let mut w = world().await;
    let gate = Gate::new();
    let materialization = MaterializationSandbox::start_with(
        w.registry.root(),
        &w.project,
        w.offline_dir.path().to_str().unwrap(),
        |store| gate.wrap(store),
    )
    .await;

    // Cut off; a group registered now is unknown to the materializer.
    gate.close();
    let mut late = group(
        &w.project,
        "late",
        "customer",
        &[
            ("amount", "float64"),
            ("country", "string"),
            ("embedding", "list<float32>"),
        ],
    );
    late.partitions = 3;
    w.group = w
        .registry
        .client()
        .await
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(late),
        })
        .await
        .unwrap()
        .into_inner();
    for batch in 0..3 {
        ingest(
            &w,
            (0..100)
                .map(|k| event(batch * 100 + k, 2 + batch))
                .collect(),
        )
        .await;
    }
    let topic = format!("fs.{}.late.v1", w.project);
    let held = pipeline_status_until(materialization.addr, "300 held records", |s| {
        s.held.iter().any(|h| h.topic == topic && h.records == 300)
    })
    .await;
    assert_eq!(held.records_dropped_deleted_group, 0, "{held:?}");
    let reason = &held.held[0].reason;
    assert!(reason.contains("metadata store"), "{reason}");

    gate.open();
    let rows = offline_rows(&w, 300).await;
    let mut distinct = rows.clone();
    distinct.dedup();
    assert_eq!(rows.len(), 300, "every acknowledged row once in Delta");
    assert_eq!(distinct.len(), 300);
    for batch in 0..3 {
        let keys: Vec<i64> = (0..100).map(|k| batch * 100 + k).collect();
        wait_online(&w, &keys, 2 + batch).await;
    }
    let released =
        pipeline_status_until(materialization.addr, "nothing held", |s| s.held.is_empty()).await;
    assert_eq!(released.records_dropped_deleted_group, 0);

    // A topic whose group version the store positively does not have: its
    // records are skipped and counted.
    let log = KafkaLog::new(KafkaConfig {
        bootstrap_servers: kafka_bootstrap(),
        ..KafkaConfig::default()
    })
    .unwrap();
    let ghost = format!("fs.{}.ghost.v1", w.project);
    log.ensure_topic(&ghost, 1).await.unwrap();
    log.append(
        &ghost,
        (0..5)
            .map(|i| Record {
                partition: 0,
                key: vec![i],
                payload: vec![],
                headers: vec![],
            })
            .collect(),
    )
    .await
    .unwrap();
    pipeline_status_until(materialization.addr, "5 dropped records", |s| {
        s.records_dropped_deleted_group == 5 && s.held.is_empty()
    })
    .await;
    assert_eq!(offline_rows(&w, 300).await.len(), 300, "nothing more");
}
