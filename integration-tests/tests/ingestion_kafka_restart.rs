//! Kafka restarts under a steady ingest of 200-row requests, each carrying
//! an idempotency key and retried with it until acknowledged: every row
//! reaches Delta exactly once (a failed request left nothing readable in
//! the log; a retry of an answered one wrote nothing). Its own test binary:
//! cargo runs binaries one at a time, so no other test sees the outage.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    servers::FaultTest,
    world::{event, event_columns, offline_rows, world},
};
use featurestore_proto::v1::{
    FeatureGroupRef, GetMaterializationStatusRequest, GetPipelineStatusRequest, IngestRequest,
    IngestResponse, Row, materialization_admin_service_client::MaterializationAdminServiceClient,
};
use tonic::Code;

const ROWS: i64 = 200;

/// Waits (observing, at most 120 s) until `done`.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(120), "never {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request(project: &str, i: i64) -> IngestRequest {
    IngestRequest {
        group: Some(FeatureGroupRef {
            project: project.into(),
            name: "orders".into(),
            version: 1,
        }),
        columns: event_columns(),
        rows: (0..ROWS)
            .map(|k| event(i * ROWS + k, 1))
            .collect::<Vec<Row>>(),
        idempotency_key: format!("request-{i}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_retried_with_their_key_across_a_kafka_restart_land_exactly_once() {
    let servers = FaultTest::begin();
    let w = world().await;
    // Published progress is followed from outside: it must only move forward.
    let progress = featurestore_integration_tests::progress::ProgressWatch::start(
        featurestore_integration_tests::metadata_store().await,
        w.registry.root(),
    );
    let materialization = MaterializationSandbox::start(
        w.registry.root(),
        &w.project,
        w.offline_dir.path().to_str().unwrap(),
    )
    .await;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (acknowledged, failures, stop) = (acknowledged.clone(), failures.clone(), stop.clone());
        let mut client = w.ingestion.client().await;
        let project = w.project.clone();
        async move {
            let mut answers: Vec<IngestResponse> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let answer = loop {
                    match client.ingest(request(&project, i)).await {
                        Ok(answer) => break answer.into_inner(),
                        // Transient: Kafka away, the first attempt still
                        // resolving ("in progress"), or a deadline.
                        Err(e)
                            if matches!(
                                e.code(),
                                Code::Unavailable
                                    | Code::Aborted
                                    | Code::Cancelled
                                    | Code::DeadlineExceeded
                            ) =>
                        {
                            failures.fetch_add(1, Ordering::SeqCst);
                            assert!(
                                started.elapsed() < Duration::from_secs(180),
                                "request {i} never acknowledged: {e:?}"
                            );
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => panic!("request {i}: {e:?}"),
                    }
                };
                assert_eq!(answer.rows_accepted, ROWS as u64);
                answers.push(answer);
                i += 1;
                acknowledged.store(i as u64, Ordering::SeqCst);
            }
            (client, answers)
        }
    });
    wait_for("10 acknowledged", || {
        acknowledged.load(Ordering::SeqCst) >= 10
    })
    .await;
    {
        let _stopped = servers.stop("kafka");
        wait_for("a failed request", || failures.load(Ordering::SeqCst) >= 1).await;
    }
    let after_restart = acknowledged.load(Ordering::SeqCst) + 10;
    wait_for("10 more acknowledged", || {
        acknowledged.load(Ordering::SeqCst) >= after_restart
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let (mut client, answers) = writer.await.unwrap();
    let total = answers.len() as i64;

    // A retry of an answered request gets its answer and writes nothing.
    let again = client.ingest(request(&w.project, 3)).await.unwrap();
    assert_eq!(again.into_inner(), answers[3]);
    let mut reused = request(&w.project, 3);
    reused.rows.truncate(10);
    let err = client.ingest(reused).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("idempotency_key"), "{err:?}");

    // Everything in the log is processed before the count.
    let mut admin =
        MaterializationAdminServiceClient::connect(format!("http://{}", materialization.addr))
            .await
            .unwrap();
    let started = Instant::now();
    loop {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(FeatureGroupRef {
                    project: w.project.clone(),
                    name: "orders".into(),
                    version: 1,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        if status.partitions.iter().all(|p| p.lag == 0) {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let pipeline = admin
                .get_pipeline_status(GetPipelineStatusRequest {})
                .await
                .unwrap()
                .into_inner();
            let kafka = featurestore_test_servers::describe_kafka(
                &format!("fs.{}.orders.v1", w.project),
                &format!("mat_{}", w.project),
            );
            panic!("materialization never caught up: {status:?} {pipeline:?}\nkafka:\n{kafka}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows_now = offline_rows(&w, (total * ROWS) as usize).await;
    let mut distinct = rows_now.clone();
    distinct.dedup();
    assert_eq!(
        rows_now.len() as i64,
        total * ROWS,
        "{total} acknowledged requests of {ROWS} rows, {} failed attempts",
        failures.load(Ordering::SeqCst)
    );
    assert_eq!(distinct.len(), rows_now.len(), "no row twice");
    progress.assert_only_forward();
}
