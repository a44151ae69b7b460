//! Prometheus metrics of the standalone binary, scraped at `/metrics`
//! after real traffic: call durations per method and code, rows accepted
//! and rejected per group, feature statuses per view.

mod common;

use std::{
    io::{Read, Write},
    time::{Duration, Instant},
};

use common::{command, energy_catalog, free_ports, start_command, vector_request};
use featurestore_proto::v1::{
    Consistency, FeatureStatus, consistency::Level,
    ingestion_service_client::IngestionServiceClient,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};

/// The body of `GET /metrics`.
fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The sum of the series `name` whose labels include every `labels` pair;
/// 0 when there is none (a counter never incremented is absent).
fn value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    values(metrics, name, labels).iter().sum()
}

/// The values of the series `name` whose labels include every `labels`
/// pair.
fn values(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    metrics
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_series_count_the_calls_rows_and_statuses_a_client_made() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports();
    let metrics_port = free_ports()[0];
    let mut standalone = command(dir.path(), ports);
    standalone.env(
        "FS_STANDALONE_TELEMETRY__METRICS_LISTEN_ADDR",
        format!("127.0.0.1:{metrics_port}"),
    );
    let running = start_command(standalone, ports).await;
    energy_catalog(&running).await;
    let mut ingestion = IngestionServiceClient::new(running.channel(1).await);
    let mut serving = OnlineServingServiceClient::new(running.channel(2).await);

    // 3 rows accepted (the catalog reaches ingestion through its watch),
    // then a request of 2 rows refused for one bad value.
    let started = Instant::now();
    let token = loop {
        match ingestion
            .ingest(common::daily_rows(0..3, 1_790_000_000_000_000, |k| {
                k as f64
            }))
            .await
        {
            Ok(r) => break r.into_inner().write_token,
            Err(s) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("ingest not ready yet: {s}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("ingest: {s}"),
        }
    };
    let mut bad = common::daily_rows(10..12, 1_790_000_000_000_000, |k| k as f64);
    bad.rows[1].values[3].kind = Some(Kind::StringValue("many".into()));
    let refused = ingestion.ingest(bad).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // Key 1 after the write: 2 features PRESENT; key 99: 2 NOT_FOUND; a
    // bad key: INVALID_ARGUMENT.
    let after_write = Some(Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: vec![token],
        max_wait_millis: 5_000,
        ..Consistency::default()
    });
    let present = serving
        .get_feature_vector(vector_request(1, after_write))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        present.vector.unwrap().statuses,
        [FeatureStatus::Present as i32; 2]
    );
    serving
        .get_feature_vector(vector_request(99, None))
        .await
        .unwrap();
    let mut bad_key = vector_request(1, None);
    bad_key.entity_key.as_mut().unwrap().values[0].kind = Some(Kind::StringValue("x".into()));
    assert_eq!(
        serving
            .get_feature_vector(bad_key)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::InvalidArgument
    );

    let metrics = scrape(metrics_port);
    let group = [("group", "energy/daily")];
    assert_eq!(
        value(
            &metrics,
            "featurestore_ingestion_rows_total",
            &[group[0], ("outcome", "accepted")]
        ),
        3.0,
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            "featurestore_ingestion_rows_total",
            &[group[0], ("outcome", "rejected")]
        ),
        2.0
    );
    let view = ("view", "energy/model");
    for (status, count) in [("PRESENT", 2.0), ("NOT_FOUND", 2.0)] {
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
            "featurestore_serving_batch_vectors_count",
            &[view]
        ),
        2.0
    );
    let calls = |method: &str, code: &str| {
        value(
            &metrics,
            "rpc_server_call_duration_seconds_count",
            &[("rpc_method", method), ("rpc_grpc_status_code", code)],
        )
    };
    assert_eq!(calls("GetFeatureVector", "0"), 2.0);
    assert_eq!(calls("GetFeatureVector", "3"), 1.0);
    assert!(calls("Ingest", "3") >= 1.0);
    // Materialization applied the 3 rows online (the read after the write
    // saw them), its watermark is their event time.
    assert!(
        value(
            &metrics,
            "featurestore_materialization_rows_total",
            &[group[0], ("sink", "online")]
        ) >= 3.0
    );
    let watermarks = values(
        &metrics,
        "featurestore_materialization_watermark_seconds",
        &[group[0], ("sink", "online")],
    );
    assert!(!watermarks.is_empty());
    assert!(
        watermarks.iter().all(|w| *w == 1_790_000_000.0),
        "{watermarks:?}"
    );
    // The lag is read every few seconds: the group's online sink shows up
    // caught up (the read after the write saw every row).
    let started = Instant::now();
    let lag = loop {
        let metrics = scrape(metrics_port);
        let lag = values(
            &metrics,
            "featurestore_materialization_lag_records",
            &[group[0], ("sink", "online")],
        );
        if !lag.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break lag;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(lag, [0.0], "online lag of energy/daily");
    // What the process was built from.
    assert_eq!(
        value(
            &metrics,
            "featurestore_build_info",
            &[
                ("service", "standalone"),
                ("version", env!("CARGO_PKG_VERSION"))
            ]
        ),
        1.0
    );
    // Latency buckets from 100 µs up to 10 s.
    for bound in ["0.0001", "10"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("rpc_server_call_duration_seconds_bucket")
                    && l.contains(&format!("le=\"{bound}\""))),
            "no bucket {bound}"
        );
    }
}
