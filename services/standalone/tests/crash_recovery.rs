//! Standalone mode end to end through its own ports: rows acknowledged by
//! ingestion survive a SIGKILL right after the acknowledgement, and after
//! the restart they are served online and stored offline exactly once.

mod common;

use std::time::{Duration, Instant};

use arrow_flight::{FlightClient, Ticket};
use common::{free_ports, start};
use featurestore_proto::v1::{
    FeatureGroupRef, FeatureSelector, FeatureStatus, FeatureViewRef, GetFeatureVectorsRequest,
    GetMaterializationStatusRequest, ReadFeatureGroupRequest, Row, Value,
    feature_selector::Selector, ingestion_service_client::IngestionServiceClient,
    materialization_admin_service_client::MaterializationAdminServiceClient,
    offline_query_service_client::OfflineQueryServiceClient,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};
use futures::TryStreamExt;

const KEYS: i64 = 300;
const EVENT_TIME: i64 = 1_790_000_000_000_000;

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn kwh(key: i64) -> f64 {
    key as f64 * 0.5 + 0.25
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_rows_survive_a_kill_and_are_served_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), free_ports()).await;
    common::energy_catalog(&first).await;
    let mut ingestion = IngestionServiceClient::new(first.channel(1).await);
    let request = |keys| common::daily_rows(keys, EVENT_TIME, kwh);
    // Catalog changes reach ingestion through its watch: retry until it knows the group.
    let started = Instant::now();
    loop {
        match ingestion.ingest(request(0..KEYS / 2)).await {
            Ok(r) => {
                assert_eq!(r.into_inner().rows_accepted, (KEYS / 2) as u64);
                break;
            }
            Err(s) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("ingest not ready yet: {s}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("ingest: {s}"),
        }
    }
    // The first half is materialized (online, and in Delta with the log
    // positions committed after it) before the second half comes in.
    let mut serving = OnlineServingServiceClient::new(first.channel(2).await);
    let read = |keys: std::ops::Range<i64>| GetFeatureVectorsRequest {
        consistency: None,
        include_freshness: false,
        project: "energy".into(),
        selector: Some(FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "model".into(),
                version: 0,
            })),
        }),
        join_keys: vec!["household_id".into()],
        entity_rows: keys
            .map(|k| Row {
                values: vec![v(Kind::Int64Value(k))],
            })
            .collect(),
        include_event_times: false,
    };
    served(&mut serving, read(0..KEYS / 2)).await;
    // Observed, not assumed: the first half's log positions are committed
    // (after its Delta commit) — no partition lags.
    let mut admin = MaterializationAdminServiceClient::new(first.channel(4).await);
    let started = Instant::now();
    loop {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(FeatureGroupRef {
                    project: "energy".into(),
                    name: "daily".into(),
                    version: 1,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        if !status.partitions.is_empty() && status.partitions.iter().all(|p| p.lag == 0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "first half never committed: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = ingestion
        .ingest(request(KEYS / 2..KEYS))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.rows_accepted, (KEYS / 2) as u64);
    // Killed right after the acknowledgement: materialization may not have
    // seen the second half, and has not committed its log positions.
    first.kill();

    let second = start(dir.path(), free_ports()).await;
    let mut serving = OnlineServingServiceClient::new(second.channel(2).await);
    let vectors = served(&mut serving, read(0..KEYS)).await;
    for (k, vector) in (0..KEYS).zip(&vectors) {
        assert_eq!(
            vector.values,
            vec![v(Kind::Float64Value(kwh(k))), v(Kind::Int64Value(48))],
            "household {k}"
        );
    }

    // Offline: every acknowledged row exactly once — the first half was in
    // Delta before the kill, the second half replayed from the log after it.
    let mut offline = OfflineQueryServiceClient::new(second.channel(3).await);
    let started = Instant::now();
    loop {
        let handle = offline
            .read_feature_group(ReadFeatureGroupRequest {
                group: Some(FeatureGroupRef {
                    project: "energy".into(),
                    name: "daily".into(),
                    version: 0,
                }),
                as_of: None,
                consistency: None,
            })
            .await
            .unwrap()
            .into_inner();
        let batches: Vec<_> = FlightClient::new(second.channel(3).await)
            .do_get(Ticket {
                ticket: handle.flight_ticket.into(),
            })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert!(rows <= KEYS as usize, "{rows} offline rows: duplicates");
        if rows == KEYS as usize {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {rows} of {KEYS} rows offline"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The vectors once every feature of every row is PRESENT (30 s at most).
async fn served(
    serving: &mut OnlineServingServiceClient<tonic::transport::Channel>,
    request: GetFeatureVectorsRequest,
) -> Vec<featurestore_proto::v1::FeatureVector> {
    let started = Instant::now();
    loop {
        let response = serving
            .get_feature_vectors(request.clone())
            .await
            .unwrap()
            .into_inner();
        let present = response.vectors.iter().all(|v| {
            v.statuses
                .iter()
                .all(|s| *s == FeatureStatus::Present as i32)
        });
        if present {
            return response.vectors;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "acknowledged rows not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
