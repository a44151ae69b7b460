//! Prometheus metrics of the distributed services against the real stack
//! (etcd, Kafka, Cassandra, Delta), scraped after real traffic: rows
//! ingested and materialized per group, statuses per view, calls per method
//! and code, the watermark and the lag.

use std::time::{Duration, Instant};

use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    prometheus::{scrape, value, values},
    serving::ServingSandbox,
    world::{event, event_columns, model_vector_request, world_with_view},
};
use featurestore_proto::v1::{
    Consistency, FeatureGroupRef, FeatureStatus, IngestRequest, consistency::Level,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_series_follow_an_ingest_through_materialization_to_serving() {
    // One recorder for the process, as a service binary installs it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    featurestore_runtime::metrics::install(([127, 0, 0, 1], port).into()).unwrap();

    let w = world_with_view().await;
    let offline_root = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    let serving = ServingSandbox::start(w.registry.root()).await;

    let written = w
        .ingestion
        .client()
        .await
        .ingest(IngestRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: "orders".into(),
                version: 0,
            }),
            columns: event_columns(),
            rows: (0..3).map(|k| event(k, 11)).collect(),
            idempotency_key: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut client = serving.client().await;
    let present = client
        .get_feature_vector(model_vector_request(
            &w,
            1,
            Some(Consistency {
                level: Level::AfterWrite as i32,
                write_tokens: vec![written.write_token],
                max_wait_millis: 10_000,
                ..Consistency::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        present.vector.unwrap().statuses,
        [FeatureStatus::Present as i32]
    );
    client
        .get_feature_vector(model_vector_request(&w, 999, None))
        .await
        .unwrap();

    let group = format!("{}/orders", w.project);
    let group = ("group", group.as_str());
    let view = format!("{}/model", w.project);
    let view = ("view", view.as_str());
    let metrics = scrape(port);
    assert_eq!(
        value(
            &metrics,
            "featurestore_ingestion_rows_total",
            &[group, ("outcome", "accepted")]
        ),
        3.0
    );
    for (status, count) in [("PRESENT", 1.0), ("NOT_FOUND", 1.0)] {
        assert_eq!(
            value(
                &metrics,
                "featurestore_serving_feature_status_total",
                &[view, ("status", status)]
            ),
            count,
            "{status}"
        );
    }
    assert_eq!(
        value(
            &metrics,
            "rpc_server_call_duration_seconds_count",
            &[("rpc_method", "Ingest"), ("rpc_grpc_status_code", "0")]
        ),
        1.0
    );
    assert!(
        value(
            &metrics,
            "featurestore_materialization_rows_total",
            &[group, ("sink", "online")]
        ) >= 3.0
    );
    let watermarks = values(
        &metrics,
        "featurestore_materialization_watermark_seconds",
        &[group, ("sink", "online")],
    );
    assert!(
        !watermarks.is_empty() && watermarks.iter().all(|w| *w > 0.0),
        "{watermarks:?}"
    );

    // The lag is read every few seconds: online, every row is applied.
    let started = Instant::now();
    let lag = loop {
        let lag = values(
            &scrape(port),
            "featurestore_materialization_lag_records",
            &[group, ("sink", "online")],
        );
        if lag == [0.0] || started.elapsed() > Duration::from_secs(30) {
            break lag;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(lag, [0.0], "online lag of {group:?}");
}
