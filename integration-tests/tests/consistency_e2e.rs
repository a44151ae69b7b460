//! Consistency levels against the real stack: an ingest answers with a
//! write token; a read with AFTER_WRITE(token) right after it includes the
//! rows (online: applied to Cassandra; offline: committed to Delta and the
//! query pinned to a version that has them). Bad tokens are refused at once;
//! a stopped materializer makes waits end at their deadline with the lag (or
//! STALE statuses when asked), and the same call succeeds after a restart.

use std::time::{Duration, Instant};

use arrow_array::{RecordBatch, cast::AsArray, types::Float64Type};
use featurestore_domain::fixtures::group;
use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    offline::{
        OfflineQuerySandbox,
        fixtures::{entity_rows, read_all, request},
    },
    serving::ServingSandbox,
    world::{World, event, event_columns, model_vector_request, world_with_view},
};
use featurestore_proto::v1::{
    Consistency, CreateFeatureGroupRequest, CreateTrainingDatasetRequest, DatasetFormat,
    FeatureGroupRef, FeatureStatus, GetMaterializationStatusRequest, IngestRequest, IngestResponse,
    ReadFeatureGroupRequest, Row, consistency::Level,
    materialization_admin_service_client::MaterializationAdminServiceClient,
};
use tonic::Code;

fn after_write(
    tokens: Vec<Vec<u8>>,
    max_wait_millis: u32,
    serve_stale: bool,
) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: tokens,
        max_wait_millis,
        serve_stale,
        at_least_micros: 0,
    })
}

async fn ingest(w: &World, group: &str, rows: Vec<Row>) -> IngestResponse {
    let mut client = w.ingestion.client().await;
    let columns = if group == "orders" {
        event_columns()
    } else {
        ["customer_id", "event_time", "score"]
            .map(String::from)
            .to_vec()
    };
    client
        .ingest(IngestRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: group.into(),
                version: 0,
            }),
            columns,
            rows,
            idempotency_key: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn at_least(t: i64, max_wait_millis: u32) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AtLeast as i32,
        at_least_micros: t,
        max_wait_millis,
        ..Consistency::default()
    })
}

fn amounts(batches: &[RecordBatch]) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("orders__amount").expect("orders__amount");
            column
                .as_primitive::<Float64Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_write_reads_include_what_was_just_written() {
    let w = world_with_view().await;
    let offline_root = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let offline = OfflineQuerySandbox::start(w.registry.root(), w.offline_dir.path()).await;
    let mut client = serving.client().await;

    // Online: a fresh key each round, read at once: PRESENT every time.
    for key in 0..20 {
        let response = ingest(&w, "orders", vec![event(key, 11)]).await;
        let written = response.written.expect("readable token");
        assert_eq!(written.groups.len(), 1);
        assert_eq!(
            written.groups[0].end_offsets.len(),
            1,
            "one row, one partition"
        );
        let answer = client
            .get_feature_vector(model_vector_request(
                &w,
                key,
                after_write(vec![response.write_token], 2_000, false),
            ))
            .await
            .unwrap()
            .into_inner();
        let vector = answer.vector.unwrap();
        assert_eq!(
            vector.statuses,
            [FeatureStatus::Present as i32],
            "round {key}: the row just acknowledged is served"
        );
        assert_eq!(vector.values[0], event(key, 11).values[2]);
        let freshness = &answer.freshness[0];
        let (partition, end) = written.groups[0].end_offsets.iter().next().unwrap();
        assert!(
            freshness.applied_offsets[partition] >= *end,
            "{freshness:?}"
        );
        assert!(freshness.watermark_micros > 0, "{freshness:?}");
    }

    // Offline: 300 rows in three requests, their tokens combined, then at
    // once a training dataset over every key: no row missing.
    let mut tokens = Vec::new();
    for chunk in 0..3 {
        let rows = (1_000 + chunk * 100..1_100 + chunk * 100)
            .map(|k| event(k, 11))
            .collect();
        tokens.push(ingest(&w, "orders", rows).await.write_token);
    }
    let keys: Vec<(i64, i64)> = (1_000..1_300).map(|k| (k, 1)).collect();
    let mut query = request(&w.project, "model", entity_rows(&keys));
    query.consistency = after_write(tokens.clone(), 20_000, false);
    let handle = offline
        .client()
        .await
        .get_historical_features(query.clone())
        .await
        .unwrap()
        .into_inner();
    let got = amounts(&read_all(&offline, &handle.flight_ticket).await);
    assert_eq!(got.len(), 300);
    assert!(
        got.iter().all(Option::is_some),
        "every row present: {got:?}"
    );
    assert_eq!(handle.freshness.len(), 1);
    let dataset = offline
        .datasets()
        .await
        .create_training_dataset(CreateTrainingDatasetRequest {
            project: w.project.clone(),
            name: "after_write".into(),
            version: 0,
            query: Some(query),
            format: DatasetFormat::Parquet as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dataset.row_count, 300);
    assert_eq!(
        dataset.freshness.len(),
        1,
        "the dataset records its freshness"
    );
    let rows = amounts(&read_all(&offline, &dataset.flight_ticket).await);
    assert!(rows.iter().all(Option::is_some), "{rows:?}");

    // Bad tokens are refused at once, naming the field.
    let mut admin = w.registry.client().await;
    admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(
                &w.project,
                "other",
                "customer",
                &[("score", "float64")],
            )),
        })
        .await
        .unwrap();
    let other = loop {
        // Ingestion learns of the group through its watch.
        let mut client = w.ingestion.client().await;
        let attempt = client
            .ingest(IngestRequest {
                group: Some(FeatureGroupRef {
                    project: w.project.clone(),
                    name: "other".into(),
                    version: 0,
                }),
                columns: ["customer_id", "event_time", "score"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![Row {
                    values: event(1, 1).values[..3].to_vec(),
                }],
                idempotency_key: String::new(),
            })
            .await;
        match attempt {
            Ok(r) => break r.into_inner().write_token,
            Err(s) if s.code() == Code::NotFound => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => panic!("{s:?}"),
        }
    };
    let mut truncated = tokens[0].clone();
    truncated.pop();
    // Well-formed, but naming offsets the log never had.
    let mut future = ingest(&w, "orders", vec![event(1, 1)])
        .await
        .written
        .unwrap();
    for offset in future.groups[0].end_offsets.values_mut() {
        *offset += 1_000_000;
    }
    let future = featurestore_domain::token::seal(&future);
    for (tokens, says) in [
        (vec![future], "beyond the log's end"),
        (vec![truncated], "not a write token"),
        (vec![b"forged".to_vec()], "not a write token"),
        (vec![tokens[0].clone(), other], "does not read"),
        (Vec::new(), "at least one write token"),
    ] {
        let started = Instant::now();
        let err = client
            .get_feature_vector(model_vector_request(
                &w,
                1,
                after_write(tokens, 2_000, false),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("consistency.write_tokens"),
            "{}",
            err.message()
        );
        assert!(err.message().contains(says), "{}", err.message());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused, not waited on"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_waits_for_event_time_and_idle_partitions_do_not_block() {
    let w = world_with_view().await;
    let offline_root = w.offline_dir.path().to_str().unwrap().to_string();
    let materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let offline = OfflineQuerySandbox::start(w.registry.root(), w.offline_dir.path()).await;
    let mut client = serving.client().await;

    // One row: one partition receives it, the others nothing (idle).
    ingest(&w, "orders", vec![event(7, 10)]).await;
    let started = Instant::now();
    let answer = client
        .get_feature_vector(model_vector_request(&w, 7, at_least(10, 5_000)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.vector.unwrap().values[0], event(7, 10).values[2]);
    assert!(answer.freshness[0].watermark_micros >= 10);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A time past every row: once every partition has applied all that was
    // acknowledged (past Kafka's transaction markers), nothing holds it.
    let started = Instant::now();
    client
        .get_feature_vector(model_vector_request(&w, 7, at_least(1_000_000, 5_000)))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "caught-up partitions answered in {:?}",
        started.elapsed()
    );

    // A later row of the same key, then reads at its time: the new value,
    // online and in a group read pinned to a Delta version that has it.
    ingest(&w, "orders", vec![event(7, 30)]).await;
    let answer = client
        .get_feature_vector(model_vector_request(&w, 7, at_least(30, 5_000)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.vector.unwrap().values[0], event(7, 30).values[2]);
    let handle = offline
        .client()
        .await
        .read_feature_group(ReadFeatureGroupRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: "orders".into(),
                version: 0,
            }),
            as_of: None,
            consistency: at_least(30, 20_000),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        handle.freshness[0].watermark_micros >= 30,
        "{:?}",
        handle.freshness
    );

    // Materializer stopped: a row at 40 is acknowledged but not applied;
    // AT_LEAST(40) ends at its deadline naming the partition and the time.
    materialization.stop().await.unwrap();
    ingest(&w, "orders", vec![event(7, 40)]).await;
    let started = Instant::now();
    let err = client
        .get_feature_vector(model_vector_request(&w, 7, at_least(40, 300)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        err.message().contains("orders")
            && err.message().contains("offset(s) behind (partition")
            && err.message().contains("waiting for event time 40"),
        "{}",
        err.message()
    );
    // AT_LEAST without a time is refused for online reads.
    let err = client
        .get_feature_vector(model_vector_request(&w, 7, at_least(0, 300)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("consistency.at_least_micros"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_end_at_their_deadline_while_materialization_is_stopped() {
    let w = world_with_view().await;
    let offline_root = w.offline_dir.path().to_str().unwrap().to_string();
    let materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let mut client = serving.client().await;
    let first = ingest(&w, "orders", vec![event(7, 10)]).await.write_token;
    client
        .get_feature_vector(model_vector_request(
            &w,
            7,
            after_write(vec![first], 2_000, false),
        ))
        .await
        .unwrap();
    materialization.stop().await.unwrap();

    let token = ingest(&w, "orders", vec![event(7, 20)]).await.write_token;
    let started = Instant::now();
    let err = client
        .get_feature_vector(model_vector_request(
            &w,
            7,
            after_write(vec![token.clone()], 300, false),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        err.message().contains("orders") && err.message().contains("offset(s) behind (partition"),
        "{}",
        err.message()
    );
    // serve_stale: the old value, marked STALE.
    let stale = client
        .get_feature_vector(model_vector_request(
            &w,
            7,
            after_write(vec![token.clone()], 300, true),
        ))
        .await
        .unwrap()
        .into_inner();
    let vector = stale.vector.unwrap();
    assert_eq!(vector.statuses, [FeatureStatus::Stale as i32]);
    assert_eq!(vector.values[0], event(7, 10).values[2]);

    // Restarted: the same call succeeds with the new value.
    let materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline_root).await;
    let answer = client
        .get_feature_vector(model_vector_request(
            &w,
            7,
            after_write(vec![token], 2_000, false),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.vector.unwrap().values[0], event(7, 20).values[2]);

    // Status shows the watermark and no lag once caught up (the Delta
    // commit and offset commit follow within the flush interval).
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
                    version: 0,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        if status.offline_lag_records == 0 && status.online_lag_records == 0 {
            assert_eq!(status.last_event_time_micros, 20);
            assert_eq!(status.online_watermark_micros, 20);
            assert_eq!(status.offline_watermark_micros, 20);
            assert_eq!(
                (status.online_lag_seconds, status.offline_lag_seconds),
                (0, 0)
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never caught up: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
