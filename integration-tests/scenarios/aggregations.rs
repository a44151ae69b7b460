//! One scenario of windowed aggregations, run against the distributed
//! services (`integration-tests/tests/aggregations_e2e.rs`) and against the
//! standalone binary (`services/standalone/tests/aggregations.rs`): define
//! aggregated features on an event group, ingest events (late ones and
//! duplicates among them), and read them back with AFTER_WRITE; compare
//! with the values computed by hand from the events.
//!
//! Needs only the public contracts: channels to the registry, ingestion,
//! serving and offline services.
#![allow(dead_code)] // each test file uses part of it

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use featurestore_domain::fixtures::{entity, feature, project as new_project};
use featurestore_proto::v1::{
    Aggregation, AggregationFunction, BackfillJob, Consistency, CreateEntityRequest,
    CreateFeatureGroupRequest, CreateFeatureViewRequest, CreateProjectRequest, EntitySource,
    FeatureGroup, FeatureGroupRef, FeatureSelection, FeatureSelector, FeatureStatus, FeatureView,
    FeatureViewRef, Float64List, GetBackfillJobRequest, GetFeatureVectorsRequest,
    GetHistoricalFeaturesRequest, GetMaterializationStatusRequest, IngestRequest, ResourceState,
    Row, ScalarType, StartBackfillRequest, UpdateFeatureGroupRequest, Value, consistency::Level,
    entity_source::Source, feature_selector::Selector, get_historical_features_request::Features,
    ingestion_service_client::IngestionServiceClient,
    materialization_admin_service_client::MaterializationAdminServiceClient,
    offline_query_service_client::OfflineQueryServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
    registry_service_client::RegistryServiceClient, value::Kind,
};
use tonic::{Code, transport::Channel};

const MIN: i64 = 60_000_000;
const DAY: i64 = 24 * 60 * MIN;

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn agg(name: &str, function: AggregationFunction, input: &str, window_seconds: i64) -> Aggregation {
    Aggregation {
        name: name.into(),
        function: function as i32,
        input: input.into(),
        window_seconds,
        ..Default::default()
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// The event group: card payments, aggregated per card.
fn payments(project: &str) -> FeatureGroup {
    FeatureGroup {
        project: project.into(),
        name: "payments".into(),
        entity: "card".into(),
        features: vec![
            feature("amount", "float64"),
            feature("approved", "bool"),
            feature("merchant", "string"),
        ],
        online_enabled: true,
        offline_enabled: true,
        partitions: 2,
        aggregations: vec![
            agg("n_1h", AggregationFunction::Count, "", 3600),
            agg("amount_1d", AggregationFunction::Sum, "amount", 86_400),
            agg("max_7d", AggregationFunction::Max, "amount", 7 * 86_400),
            agg("mean_life", AggregationFunction::Mean, "amount", 0),
            Aggregation {
                k: 2,
                ..agg("last2_1d", AggregationFunction::LastK, "amount", 86_400)
            },
            agg(
                "approved_30d",
                AggregationFunction::Sum,
                "approved",
                30 * 86_400,
            ),
            agg(
                "merchants_7d",
                AggregationFunction::ApproxDistinct,
                "merchant",
                7 * 86_400,
            ),
            Aggregation {
                percentile: 0.5,
                ..agg(
                    "amount_p50_7d",
                    AggregationFunction::ApproxPercentile,
                    "amount",
                    7 * 86_400,
                )
            },
        ],
        ..Default::default()
    }
}

/// Ingests `rows` (in `columns`) into `group`, retrying while the catalog
/// reaches ingestion through its watch; returns the write token.
async fn ingest(
    ingestion: &mut IngestionClient,
    project: &str,
    group: &str,
    columns: &[&str],
    rows: Vec<Row>,
) -> Vec<u8> {
    let request = IngestRequest {
        group: Some(FeatureGroupRef {
            project: project.into(),
            name: group.into(),
            version: 0,
        }),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        idempotency_key: String::new(),
    };
    let started = Instant::now();
    loop {
        match ingestion.ingest(request.clone()).await {
            Ok(r) => return r.into_inner().write_token,
            Err(s) if s.code() == Code::NotFound && started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("ingest: {s}"),
        }
    }
}

async fn ingest_payments(
    ingestion: &mut IngestionClient,
    project: &str,
    rows: Vec<Row>,
) -> Vec<u8> {
    let columns = ["card_id", "event_time", "amount", "approved", "merchant"];
    ingest(ingestion, project, "payments", &columns, rows).await
}

/// Selects `features` of `group` by name.
fn features(group: &str, features: &[&str]) -> Option<FeatureSelector> {
    Some(FeatureSelector {
        selector: Some(Selector::Features(featurestore_proto::v1::FeatureList {
            features: features
                .iter()
                .map(|f| featurestore_proto::v1::FeatureRef {
                    group: group.into(),
                    group_version: 0,
                    feature: f.to_string(),
                })
                .collect(),
        })),
    })
}

fn after_write(tokens: Vec<Vec<u8>>) -> Option<Consistency> {
    Some(Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: tokens,
        max_wait_millis: 30_000,
        ..Default::default()
    })
}

type IngestionClient = IngestionServiceClient<Channel>;

/// Creates `project` and its entity `card` (key `card_id`, int64).
async fn create_project_with_cards(registry: &mut RegistryServiceClient<Channel>, project: &str) {
    registry
        .create_project(CreateProjectRequest {
            project: Some(new_project(project)),
        })
        .await
        .unwrap();
    registry
        .create_entity(CreateEntityRequest {
            entity: Some(entity(project, "card", &[("card_id", ScalarType::Int64)])),
        })
        .await
        .unwrap();
}

fn payment(card: i64, time: i64, amount: f64) -> Row {
    Row {
        values: vec![
            v(Kind::Int64Value(card)),
            v(Kind::TimestampValue(time)),
            v(Kind::Float64Value(amount)),
            v(Kind::BoolValue(amount < 100.0)),
            v(Kind::StringValue(format!("shop-{}", amount as i64 % 4))),
        ],
    }
}

/// Runs the scenario in a new `project`.
pub async fn windowed_aggregations_serve_what_the_events_say(
    registry: Channel,
    ingestion: Channel,
    serving: Channel,
    offline: Channel,
    materialization: Channel,
    project: &str,
) {
    let mut registry = RegistryServiceClient::new(registry);
    let mut ingestion = IngestionServiceClient::new(ingestion);
    let mut serving = OnlineServingServiceClient::new(serving);
    create_project_with_cards(&mut registry, project).await;

    // Bad definitions: INVALID_ARGUMENT naming the field, nothing created.
    let mut bad = payments(project);
    bad.aggregations[1].input = "approved_by".into();
    let err = registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(bad),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .contains("feature_group.aggregations[1].input"),
        "{}",
        err.message()
    );
    let mut bad = payments(project);
    bad.aggregations[0].window_seconds = 3601;
    let err = registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(bad),
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("aggregations[0].window_seconds"),
        "{}",
        err.message()
    );

    let created = registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(payments(project)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.tile_grain_seconds, vec![300, 3600, 86_400]);
    registry
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(FeatureView {
                project: project.into(),
                name: "risk".into(),
                selections: vec![FeatureSelection {
                    group: "payments".into(),
                    group_version: 0,
                    features: [
                        "n_1h",
                        "amount_1d",
                        "max_7d",
                        "mean_life",
                        "last2_1d",
                        "approved_30d",
                        "merchants_7d",
                        "amount_p50_7d",
                        "amount",
                    ]
                    .map(String::from)
                    .to_vec(),
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    // Card 1: events 10 and 40 minutes ago, 3 hours ago, 3 days ago, 20
    // days ago; card 2: one event 40 days ago. Every edge is far from the
    // window edges, so the values do not depend on when the read happens.
    let now = now_micros();
    let first = ingest_payments(
        &mut ingestion,
        project,
        vec![
            payment(1, now - 10 * MIN, 30.0),
            payment(1, now - 3 * DAY, 500.0),
            payment(2, now - 40 * DAY, 7.0),
        ],
    )
    .await;
    // Later: late events (older than the ones before) and two at the same
    // time.
    let second = ingest_payments(
        &mut ingestion,
        project,
        vec![
            payment(1, now - 40 * MIN, 20.0),
            payment(1, now - 180 * MIN, 150.0),
            payment(1, now - 20 * DAY, 1.0),
            payment(1, now - 20 * DAY, 2.0),
        ],
    )
    .await;

    let request = GetFeatureVectorsRequest {
        project: project.into(),
        selector: Some(FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "risk".into(),
                version: 0,
            })),
        }),
        join_keys: vec!["card_id".into()],
        entity_rows: [1, 2, 3]
            .map(|k| Row {
                values: vec![v(Kind::Int64Value(k))],
            })
            .to_vec(),
        include_event_times: false,
        consistency: after_write(vec![first.clone(), second.clone()]),
        include_freshness: false,
    };
    let answer = serving
        .get_feature_vectors(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.feature_names,
        [
            "payments__n_1h",
            "payments__amount_1d",
            "payments__max_7d",
            "payments__mean_life",
            "payments__last2_1d",
            "payments__approved_30d",
            "payments__merchants_7d",
            "payments__amount_p50_7d",
            "payments__amount"
        ]
    );
    let card1 = &answer.vectors[0];
    // The sketches: 7 days hold 30, 20, 150 and 500, at shops 2, 0, 2, 0.
    assert_eq!(card1.values[6], v(Kind::Int64Value(2)));
    let Some(Kind::Float64Value(median)) = card1.values[7].kind else {
        panic!("{:?}", card1.values[7]);
    };
    // The value of rank ⌊0.5·3⌋ (30), within DDSketch's 1 %.
    assert!((median - 30.0).abs() <= 0.3, "{median}");
    let mut exact = card1.values.clone();
    exact.drain(6..8);
    assert_eq!(
        exact,
        vec![
            v(Kind::Int64Value(2)),
            v(Kind::Float64Value(30.0 + 20.0 + 150.0)),
            v(Kind::Float64Value(500.0)),
            v(Kind::Float64Value(
                (30.0 + 500.0 + 20.0 + 150.0 + 1.0 + 2.0) / 6.0
            )),
            v(Kind::Float64List(Float64List {
                values: vec![30.0, 20.0]
            })),
            // Approved (amount < 100): 30, 20, 1, 2.
            v(Kind::Float64Value(4.0)),
            // The latest raw value, as for any feature.
            v(Kind::Float64Value(30.0)),
        ]
    );
    assert!(
        card1
            .statuses
            .iter()
            .all(|s| *s == FeatureStatus::Present as i32)
    );
    // Card 2 had events, none in the short windows: count and sum 0, the
    // others null.
    let card2 = &answer.vectors[1];
    assert_eq!(card2.values[0], v(Kind::Int64Value(0)));
    assert_eq!(card2.values[1], v(Kind::Float64Value(0.0)));
    assert_eq!(card2.statuses[2], FeatureStatus::Null as i32);
    assert_eq!(card2.values[3], v(Kind::Float64Value(7.0)));
    assert_eq!(card2.statuses[4], FeatureStatus::Null as i32);
    assert_eq!(card2.values[6], v(Kind::Int64Value(0)));
    assert_eq!(card2.statuses[7], FeatureStatus::Null as i32);
    // Card 3 never had an event: NOT_FOUND throughout.
    assert!(
        answer.vectors[2]
            .statuses
            .iter()
            .all(|s| *s == FeatureStatus::NotFound as i32)
    );

    // Training data: the values serving returned, computed point in time
    // from the Delta table for the same cards at (about) the same time.
    let offline_rows = historical(
        offline,
        project,
        &[1, 2, 3],
        now_micros(),
        vec![first, second],
    )
    .await;
    assert_eq!(offline_rows.len(), 3, "one row per card");
    for (card, (served, computed)) in answer.vectors.iter().zip(&offline_rows).enumerate() {
        assert_eq!(&served.values, computed, "card {}", card + 1);
    }

    // An aggregation added in place gets its history from the offline
    // table (a bootstrap) while the stream goes on; the others keep their
    // values. Until the bootstrap is done it is served as BACKFILLING,
    // never as a count of only the events streamed since.
    let mut group = created.clone();
    group
        .aggregations
        .push(agg("n_life", AggregationFunction::Count, "", 0));
    update_group(&mut registry, group).await;
    let mut retyped = created.clone();
    retyped.aggregations[0].window_seconds = 7200;
    let err = registry
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(retyped),
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // An event streamed while the history is computed: counted once.
    let third = ingest_payments(
        &mut ingestion,
        project,
        vec![payment(1, now - 5 * MIN, 10.0)],
    )
    .await;
    let by_list = GetFeatureVectorsRequest {
        selector: features("payments", &["n_1h", "n_life"]),
        entity_rows: vec![Row {
            values: vec![v(Kind::Int64Value(1))],
        }],
        consistency: after_write(vec![third]),
        ..request
    };
    // The serving catalog learns of the new aggregation through its watch.
    let started = Instant::now();
    let mut backfilling_seen = 0;
    let vector = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "bootstrap never ended"
        );
        match serving.get_feature_vectors(by_list.clone()).await {
            Ok(r) => {
                let vector = r.into_inner().vectors.remove(0);
                assert_eq!(vector.values[0], v(Kind::Int64Value(3)), "{vector:?}");
                if vector.statuses[1] != FeatureStatus::Backfilling as i32 {
                    break vector;
                }
                assert_eq!(vector.values[1], v(Kind::NullValue(0)), "{vector:?}");
                backfilling_seen += 1;
            }
            Err(s) if s.code() == Code::NotFound && started.elapsed() < Duration::from_secs(20) => {
            }
            Err(s) => panic!("{s}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("n_life answered BACKFILLING {backfilling_seen} times before its history was in");
    // The six events before it, and the one during it.
    assert_eq!(
        vector.values,
        vec![v(Kind::Int64Value(3)), v(Kind::Int64Value(7))],
        "after {backfilling_seen} BACKFILLING answers"
    );
    assert_eq!(vector.statuses[1], FeatureStatus::Present as i32);

    // The group's status counts each of the 8 events folded once (the two
    // at the same time included), and the tile writes that took; the
    // bootstrap is READY and says what it changed: the two lifetime tiles
    // that lacked the events before n_life.
    let mut admin = MaterializationAdminServiceClient::new(materialization);
    let payments = FeatureGroupRef {
        project: project.into(),
        name: "payments".into(),
        version: 1,
    };
    let started = Instant::now();
    let status = loop {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(payments.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        // (The materializer's catalog may see the bootstrap READY a moment
        // after serving's.)
        let ready = status
            .bootstrap
            .as_ref()
            .is_some_and(|b| b.state() == ResourceState::Ready);
        if (status.events_folded >= 8 && ready) || started.elapsed() > Duration::from_secs(20) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.events_folded, 8, "{status:?}");
    // At least one write per batch and tile grain (5 min, 1 h, 1 d) plus
    // the lifetime tile.
    assert!(status.tile_writes >= 4 * 3, "{status:?}");
    assert!(status.online_watermark_micros > 0, "{status:?}");
    let bootstrap = status.bootstrap.clone().expect("a bootstrap");
    assert_eq!(bootstrap.state(), ResourceState::Ready, "{bootstrap:?}");
    assert_eq!(bootstrap.aggregations, ["n_life"], "{bootstrap:?}");
    assert!(
        bootstrap.finished_micros > bootstrap.requested_micros,
        "{bootstrap:?}"
    );
    let filled = bootstrap.drift.clone().expect("the bootstrap's report");
    assert!(filled.lifetime_compared, "{bootstrap:?}");
    assert_eq!(
        (filled.tiles_changed, filled.tiles_deferred),
        (2, 0),
        "{bootstrap:?}"
    );
    assert!(filled.max_abs_diff >= 6.0, "{bootstrap:?}");
    assert!(filled.job_id.starts_with("bootstrap-"), "{bootstrap:?}");

    // A correction of the whole history recomputes the tiles from the
    // offline table and compares them: after the bootstrap, stream and
    // offline table agree.
    let start = |from: i64, to: i64| StartBackfillRequest {
        group: Some(payments.clone()),
        start_time_micros: from,
        end_time_micros: to,
    };
    // (Once the offline table holds all 8 events: a tile the stream folded
    // further than the table would wait for it.)
    offline_caught_up(&mut admin, &payments).await;
    let first_fix = corrected(&mut admin, start(now - 60 * DAY, now + 60 * MIN)).await;
    let drift = first_fix.drift.clone().expect("a drift report");
    assert!(drift.lifetime_compared, "{first_fix:?}");
    assert_eq!(
        (drift.tiles_changed, drift.tiles_deferred, drift.events_read),
        (0, 0, 8),
        "{first_fix:?}"
    );
    assert!(drift.tiles_compared > 2, "{first_fix:?}");
    let every_event = GetFeatureVectorsRequest {
        selector: features("payments", &["n_life", "n_1h"]),
        entity_rows: [1, 2]
            .map(|card| Row {
                values: vec![v(Kind::Int64Value(card))],
            })
            .to_vec(),
        ..by_list
    };
    let answer = serving
        .get_feature_vectors(every_event)
        .await
        .unwrap()
        .into_inner();
    let served: Vec<&[Value]> = answer.vectors.iter().map(|v| v.values.as_slice()).collect();
    assert_eq!(
        served,
        [
            &[v(Kind::Int64Value(7)), v(Kind::Int64Value(3))][..],
            &[v(Kind::Int64Value(1)), v(Kind::Int64Value(0))][..],
        ]
    );
    let second_fix = corrected(&mut admin, start(now - 60 * DAY, now + 60 * MIN)).await;
    let again = second_fix.drift.clone().expect("a drift report");
    assert_eq!(
        (again.tiles_changed, again.tiles_compared),
        (0, drift.tiles_compared),
        "{second_fix:?}"
    );
    // The status keeps the reports, newest first (the bootstrap's too).
    let status = admin
        .get_materialization_status(GetMaterializationStatusRequest {
            group: Some(payments.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    let jobs: Vec<&str> = status
        .corrections
        .iter()
        .map(|c| c.job_id.as_str())
        .collect();
    assert_eq!(
        jobs,
        [
            second_fix.id.as_str(),
            first_fix.id.as_str(),
            filled.job_id.as_str()
        ]
    );
    // Bad ranges: INVALID_ARGUMENT naming the field.
    for (from, to, field) in [
        (now + 2 * 60 * MIN, now + 3 * 60 * MIN, "start_time_micros"),
        (now, now - MIN, "end_time_micros"),
    ] {
        let err = admin.start_backfill(start(from, to)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(field), "{err:?}");
    }
}

/// Returns once the offline table of `group` holds every record of its
/// topic.
pub async fn offline_caught_up(
    admin: &mut MaterializationAdminServiceClient<Channel>,
    group: &FeatureGroupRef,
) {
    let started = Instant::now();
    loop {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(group.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        if status.offline_lag_records == 0 && status.offline_watermark_micros > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `request` and follows the job until it ends; asserts it
/// succeeded.
pub async fn corrected(
    admin: &mut MaterializationAdminServiceClient<Channel>,
    request: StartBackfillRequest,
) -> BackfillJob {
    let job = admin.start_backfill(request).await.unwrap().into_inner();
    let started = Instant::now();
    loop {
        let now = admin
            .get_backfill_job(GetBackfillJobRequest { id: job.id.clone() })
            .await
            .unwrap()
            .into_inner();
        if now.state() != ResourceState::Pending {
            assert_eq!(now.state(), ResourceState::Ready, "{now:?}");
            return now;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "{now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Crash tests: an event group `taps` (per card: lifetime count, 1-day
/// count and sum) in a new `project`.
pub async fn define_taps(registry: Channel, project: &str) {
    let mut registry = RegistryServiceClient::new(registry);
    create_project_with_cards(&mut registry, project).await;
    registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(FeatureGroup {
                project: project.into(),
                name: "taps".into(),
                entity: "card".into(),
                features: vec![feature("amount", "float64")],
                online_enabled: true,
                offline_enabled: true,
                partitions: 2,
                aggregations: vec![
                    agg("n_life", AggregationFunction::Count, "", 0),
                    agg("n_1d", AggregationFunction::Count, "", 86_400),
                    agg("amount_1d", AggregationFunction::Sum, "amount", 86_400),
                ],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

/// Ingests batch `batch` of taps: `per_key` events for each of `keys`
/// cards, an hour ago and earlier, amount 1 each; returns its write token.
pub async fn ingest_taps(
    ingestion: Channel,
    project: &str,
    batch: i64,
    keys: i64,
    per_key: i64,
) -> Vec<u8> {
    let now = now_micros();
    let taps: Vec<(i64, i64)> = (0..keys)
        .flat_map(|card| {
            (0..per_key).map(move |i| (card, now - 60 * MIN - (batch * per_key + i) * MIN))
        })
        .collect();
    ingest_taps_at(ingestion, project, &taps).await
}

/// Ingests taps `(card, time µs)`, amount 1 each; returns the write token.
pub async fn ingest_taps_at(ingestion: Channel, project: &str, taps: &[(i64, i64)]) -> Vec<u8> {
    let mut ingestion = IngestionServiceClient::new(ingestion);
    let rows = taps
        .iter()
        .map(|(card, t)| Row {
            values: vec![
                v(Kind::Int64Value(*card)),
                v(Kind::TimestampValue(*t)),
                v(Kind::Float64Value(1.0)),
            ],
        })
        .collect();
    ingest(
        &mut ingestion,
        project,
        "taps",
        &["card_id", "event_time", "amount"],
        rows,
    )
    .await
}

/// Per card of `0..keys`, once every write of `tokens` is applied: the
/// lifetime count, the 1-day count and the 1-day sum.
pub async fn taps_counted(
    serving: Channel,
    project: &str,
    keys: i64,
    tokens: Vec<Vec<u8>>,
) -> Vec<Vec<Value>> {
    let mut serving = OnlineServingServiceClient::new(serving);
    let request = GetFeatureVectorsRequest {
        consistency: after_write(tokens),
        ..taps_request(project, keys, &["n_life", "n_1d", "amount_1d"])
    };
    let started = Instant::now();
    loop {
        match serving.get_feature_vectors(request.clone()).await {
            Ok(r) => {
                return r
                    .into_inner()
                    .vectors
                    .into_iter()
                    .map(|v| v.values)
                    .collect();
            }
            // A restarted service's catalog or progress is still loading.
            Err(s) if started.elapsed() < Duration::from_secs(30) => {
                eprintln!("not served yet: {s}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => panic!("{s}"),
        }
    }
}

/// What [`taps_counted`] returns when every card has `events` events.
pub fn taps_expected(keys: i64, events: i64) -> Vec<Vec<Value>> {
    (0..keys)
        .map(|_| {
            vec![
                v(Kind::Int64Value(events)),
                v(Kind::Int64Value(events)),
                v(Kind::Float64Value(events as f64)),
            ]
        })
        .collect()
}

/// The `risk` view's features for `cards` at `at` from the offline query
/// (once the writes of `tokens` are committed), one row of values per card.
async fn historical(
    offline: Channel,
    project: &str,
    cards: &[i64],
    at: i64,
    tokens: Vec<Vec<u8>>,
) -> Vec<Vec<Value>> {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use futures::TryStreamExt;

    let schema = Arc::new(Schema::new(vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(cards.to_vec())),
            Arc::new(TimestampMicrosecondArray::from(vec![at; cards.len()]).with_timezone("UTC")),
        ],
    )
    .unwrap();
    let mut ipc = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    let handle = OfflineQueryServiceClient::new(offline.clone())
        .get_historical_features(GetHistoricalFeaturesRequest {
            project: project.into(),
            features: Some(Features::View(FeatureViewRef {
                project: String::new(),
                name: "risk".into(),
                version: 0,
            })),
            entities: Some(EntitySource {
                source: Some(Source::ArrowIpcStream(ipc)),
                ..Default::default()
            }),
            consistency: after_write(tokens),
        })
        .await
        .unwrap()
        .into_inner();
    let batches: Vec<RecordBatch> = arrow_flight::FlightClient::new(offline)
        .do_get(arrow_flight::Ticket::new(handle.flight_ticket))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for batch in &batches {
        // The entity columns first, then the features in the view's order.
        let columns: Vec<Vec<Value>> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .skip(2)
            .map(|(f, a)| featurestore_domain::arrow::to_values(f.name(), a.as_ref()).unwrap())
            .collect();
        for r in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[r].clone()).collect());
        }
    }
    rows
}

/// Adds `aggregation` in place to the taps group of `project`.
pub async fn add_to_taps(registry: Channel, project: &str, aggregation: Aggregation) {
    let mut registry = RegistryServiceClient::new(registry);
    let mut group = registry
        .get_feature_group(featurestore_proto::v1::GetFeatureGroupRequest {
            project: project.into(),
            name: "taps".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    group.aggregations.push(aggregation);
    update_group(&mut registry, group).await;
}

async fn update_group(registry: &mut RegistryServiceClient<Channel>, group: FeatureGroup) {
    registry
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(group),
            expected_revision: 0,
        })
        .await
        .unwrap();
}

/// What a bootstrap record says of aggregation `name`: `Some(true)` while
/// a runner holds a part of it, `Some(false)` once it is ready.
pub fn bootstrap_of(
    record: &featurestore_proto::v1::AggregationBootstrap,
    name: &str,
) -> Option<bool> {
    if !record.aggregations.iter().any(|a| a == name) {
        return None;
    }
    match record.state() {
        ResourceState::Backfilling if record.parts.iter().any(|p| !p.runner.is_empty()) => {
            Some(true)
        }
        ResourceState::Ready => Some(false),
        _ => None,
    }
}

/// Whether a shared correction's parts `claimed` (seen with a part
/// running), then `done`, resumed after a kill: the parts running in
/// `claimed` ran again, and the parts done in `claimed` did not
/// (asserted). `false`: the kill landed after the parts running had
/// finished.
pub fn resumed(
    claimed: &[featurestore_proto::v1::CorrectionPart],
    done: &[featurestore_proto::v1::CorrectionPart],
) -> bool {
    assert_eq!(done.len(), claimed.len(), "{done:?}");
    assert!(done.iter().all(|p| p.done), "{done:?}");
    let mut again = false;
    for (before, after) in claimed.iter().zip(done) {
        if before.done {
            assert_eq!(after.attempts, before.attempts, "ran again: {done:?}");
        } else if !before.runner.is_empty() {
            again |= after.attempts > before.attempts;
        }
    }
    again
}

/// Asserts that every card of `0..keys` counts `per_key` events in
/// `n_life` and in the lifetime sum of amounts `name`, once serving sees
/// its bootstrap ready (its catalog may be a moment behind).
pub async fn assert_taps_filled(
    serving: Channel,
    project: &str,
    keys: i64,
    name: &str,
    per_key: i64,
) {
    let started = Instant::now();
    let served = loop {
        let served = try_taps_served(serving.clone(), project, keys, &["n_life", name]).await;
        if let Ok(served) = served
            && served
                .iter()
                .all(|(_, s)| !s.contains(&(FeatureStatus::Backfilling as i32)))
        {
            break served;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still BACKFILLING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let want = [
        v(Kind::Int64Value(per_key)),
        v(Kind::Float64Value(per_key as f64)),
    ];
    for (card, (values, statuses)) in served.iter().enumerate() {
        assert_eq!(values, &want, "card {card}");
        assert_eq!(statuses, &[FeatureStatus::Present as i32; 2], "card {card}");
    }
}

/// The lifetime sum of the taps' amounts named `name`.
pub fn amount_life(name: &str) -> Aggregation {
    agg(name, AggregationFunction::Sum, "amount", 0)
}

/// The status of the taps group of `project`.
pub async fn taps_status(
    materialization: Channel,
    project: &str,
) -> featurestore_proto::v1::MaterializationStatus {
    MaterializationAdminServiceClient::new(materialization)
        .get_materialization_status(GetMaterializationStatusRequest {
            group: Some(FeatureGroupRef {
                project: project.into(),
                name: "taps".into(),
                version: 1,
            }),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Per card of `0..keys`, the values of the taps' `names` and their
/// statuses, as served now.
pub async fn taps_served(
    serving: Channel,
    project: &str,
    keys: i64,
    names: &[&str],
) -> Vec<(Vec<Value>, Vec<i32>)> {
    try_taps_served(serving, project, keys, names)
        .await
        .unwrap()
}

/// [`taps_served`], or the error (a service that just started may not
/// know the group yet).
pub async fn try_taps_served(
    serving: Channel,
    project: &str,
    keys: i64,
    names: &[&str],
) -> Result<Vec<(Vec<Value>, Vec<i32>)>, tonic::Status> {
    Ok(OnlineServingServiceClient::new(serving)
        .get_feature_vectors(taps_request(project, keys, names))
        .await?
        .into_inner()
        .vectors
        .into_iter()
        .map(|v| (v.values, v.statuses))
        .collect())
}

/// The taps' `names` of the cards `0..keys`.
fn taps_request(project: &str, keys: i64, names: &[&str]) -> GetFeatureVectorsRequest {
    GetFeatureVectorsRequest {
        project: project.into(),
        selector: features("taps", names),
        join_keys: vec!["card_id".into()],
        entity_rows: (0..keys)
            .map(|k| Row {
                values: vec![v(Kind::Int64Value(k))],
            })
            .collect(),
        include_event_times: false,
        consistency: None,
        include_freshness: false,
    }
}
