//! Online serving end to end: register → ingest → materialize → get, on the
//! real servers.

use std::time::{Duration, Instant};

use featurestore_domain::fixtures::{feature, view};
use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    serving::ServingSandbox,
    world::{event, ingest, v, wait_online, world},
};
use featurestore_proto::v1::{
    CreateFeatureViewRequest, EntityKey, FeatureList, FeatureRef, FeatureSelector, FeatureStatus,
    FeatureViewRef, GetFeatureGroupRequest, GetFeatureVectorRequest, GetFeatureVectorsRequest, Row,
    UpdateFeatureGroupRequest, Value, feature_selector::Selector, value::Kind,
};
use tonic::Code;

fn by_view(name: &str) -> Option<FeatureSelector> {
    Some(FeatureSelector {
        selector: Some(Selector::View(FeatureViewRef {
            project: String::new(),
            name: name.into(),
            version: 0,
        })),
    })
}

fn key(id: i64) -> Option<EntityKey> {
    Some(EntityKey {
        join_keys: vec!["customer_id".into()],
        values: vec![v(Kind::Int64Value(id))],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_come_back_as_ingested_with_statuses() {
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let mut admin = w.registry.client().await;
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(&w.project, "model", &[("orders", &[])])),
        })
        .await
        .unwrap();
    let keys: Vec<i64> = (0..10).collect();
    for time in [1, 2] {
        ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
    }
    let _ = wait_online(&w, &keys, 2).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let mut client = serving.client().await;

    let response = client
        .get_feature_vector(GetFeatureVectorRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: by_view("model"),
            entity_key: key(3),
            include_event_times: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.feature_names,
        ["orders__amount", "orders__country", "orders__embedding"]
    );
    let vector = response.vector.unwrap();
    let sent = event(3, 2);
    assert_eq!(
        vector.values,
        vec![
            sent.values[2].clone(),
            v(Kind::NullValue(0)),
            sent.values[4].clone()
        ]
    );
    assert_eq!(
        vector.statuses,
        [
            FeatureStatus::Present,
            FeatureStatus::Null,
            FeatureStatus::Present
        ]
        .map(|s| s as i32)
    );
    assert_eq!(vector.event_times_micros, vec![2, 2, 2]);

    // Many keys, in request order; a missing entity is NOT_FOUND statuses, not an error.
    let rows: Vec<Row> = [5, 999, 0]
        .iter()
        .map(|k| Row {
            values: vec![v(Kind::Int64Value(*k))],
        })
        .collect();
    let batch = client
        .get_feature_vectors(GetFeatureVectorsRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: by_view("model"),
            join_keys: vec!["customer_id".into()],
            entity_rows: rows,
            include_event_times: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.vectors.len(), 3);
    assert_eq!(batch.vectors[0].values[0], event(5, 2).values[2]);
    assert_eq!(
        batch.vectors[1].statuses,
        vec![FeatureStatus::NotFound as i32; 3]
    );
    assert_eq!(batch.vectors[2].values[0], event(0, 2).values[2]);

    // An explicit feature list.
    let list = Some(FeatureSelector {
        selector: Some(Selector::Features(FeatureList {
            features: vec![FeatureRef {
                group: "orders".into(),
                group_version: 0,
                feature: "amount".into(),
            }],
        })),
    });
    let one = client
        .get_feature_vector(GetFeatureVectorRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: list,
            entity_key: key(7),
            include_event_times: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        one.vector.unwrap().values,
        vec![event(7, 2).values[2].clone()]
    );

    // Bad requests.
    let err = client
        .get_feature_vector(GetFeatureVectorRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: by_view("nope"),
            entity_key: key(1),
            include_event_times: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let wrong_name = Some(EntityKey {
        join_keys: vec!["user_id".into()],
        values: vec![v(Kind::Int64Value(1))],
    });
    let err = client
        .get_feature_vector(GetFeatureVectorRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: by_view("model"),
            entity_key: wrong_name,
            include_event_times: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("user_id"), "{}", err.message());
    let wrong_type = Some(EntityKey {
        join_keys: vec!["customer_id".into()],
        values: vec![v(Kind::StringValue("3".into()))],
    });
    let err = client
        .get_feature_vector(GetFeatureVectorRequest {
            consistency: None,
            include_freshness: false,
            project: w.project.clone(),
            selector: by_view("model"),
            entity_key: wrong_type,
            include_event_times: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "entity_rows[0].customer_id: expected int64, got string",
        "the message says the field and the problem once"
    );
    let violations = featurestore_proto::error::field_violations(&err);
    assert_eq!(
        violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect::<Vec<_>>(),
        [("entity_rows[0].customer_id", "expected int64, got string")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feature_added_to_a_group_is_served_without_restart() {
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    ingest(&w, vec![event(1, 1)]).await;
    let _ = wait_online(&w, &[1], 1).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let mut client = serving.client().await;

    let mut admin = w.registry.client().await;
    let mut g = admin
        .get_feature_group(GetFeatureGroupRequest {
            project: w.project.clone(),
            name: "orders".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut score = feature("score", "float64");
    score.default_value = Some(Value {
        kind: Some(Kind::Float64Value(7.0)),
    });
    g.features.push(score);
    admin
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(g),
            expected_revision: 0,
        })
        .await
        .unwrap();

    let list = Some(FeatureSelector {
        selector: Some(Selector::Features(FeatureList {
            features: ["amount", "score"]
                .iter()
                .map(|f| FeatureRef {
                    group: "orders".into(),
                    group_version: 1,
                    feature: f.to_string(),
                })
                .collect(),
        })),
    });
    let started = Instant::now();
    let vector = loop {
        match client
            .get_feature_vector(GetFeatureVectorRequest {
                consistency: None,
                include_freshness: false,
                project: w.project.clone(),
                selector: list.clone(),
                entity_key: key(1),
                include_event_times: false,
            })
            .await
        {
            Ok(r) => break r.into_inner().vector.unwrap(),
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "new feature not served: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(
        vector.values[1],
        Value {
            kind: Some(Kind::Float64Value(7.0))
        },
        "the default fills the new feature"
    );
    assert_eq!(
        vector.statuses[1],
        FeatureStatus::Null as i32,
        "the stored row has no value for it yet"
    );
    assert_eq!(vector.values[0], event(1, 1).values[2]);
}

/// A view over two groups with different keys assembles both; a group with
/// a TTL reports OUTSIDE_MAX_AGE for values older than it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_group_views_and_ttl() {
    use featurestore_domain::fixtures::{entity, group};
    use featurestore_proto::v1::{
        CreateEntityRequest, CreateFeatureGroupRequest, FeatureGroupRef, IngestRequest, ScalarType,
    };
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let mut admin = w.registry.client().await;
    admin
        .create_entity(CreateEntityRequest {
            entity: Some(entity(
                &w.project,
                "merchant",
                &[("merchant_id", ScalarType::String)],
            )),
        })
        .await
        .unwrap();
    let mut risk = group(&w.project, "risk", "merchant", &[("score", "float32")]);
    risk.ttl_seconds = 3600;
    admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(risk),
        })
        .await
        .unwrap();
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(
                &w.project,
                "fraud",
                &[("orders", &["amount"]), ("risk", &[])],
            )),
        })
        .await
        .unwrap();
    ingest(&w, vec![event(1, 1)]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let mut ingestion = w.ingestion.client().await;
    let risk_rows = |id: &str, time: i64, score: f32| Row {
        values: vec![
            v(Kind::StringValue(id.into())),
            v(Kind::TimestampValue(time)),
            v(Kind::Float32Value(score)),
        ],
    };
    ingestion
        .ingest(IngestRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: "risk".into(),
                version: 1,
            }),
            columns: vec!["merchant_id".into(), "event_time".into(), "score".into()],
            // m_fresh happened a minute ago; m_old two hours ago (TTL is one hour).
            rows: vec![
                risk_rows("m_fresh", now - 60_000_000, 0.25),
                risk_rows("m_old", now - 7_200_000_000, 0.75),
            ],
            idempotency_key: String::new(),
        })
        .await
        .unwrap();
    let serving = ServingSandbox::start(w.registry.root()).await;
    let mut client = serving.client().await;
    let request = |merchant: &str| GetFeatureVectorsRequest {
        consistency: None,
        include_freshness: false,
        project: w.project.clone(),
        selector: by_view("fraud"),
        join_keys: vec!["merchant_id".into(), "customer_id".into()],
        entity_rows: vec![Row {
            values: vec![
                v(Kind::StringValue(merchant.into())),
                v(Kind::Int64Value(1)),
            ],
        }],
        include_event_times: false,
    };
    // Each merchant's row is materialized on its own (their partitions may
    // differ): each is read once none of its features is NOT_FOUND.
    let mut served = async |merchant: &str| {
        let started = Instant::now();
        loop {
            let r = client
                .get_feature_vectors(request(merchant))
                .await
                .unwrap()
                .into_inner();
            if r.vectors[0]
                .statuses
                .iter()
                .all(|s| *s != FeatureStatus::NotFound as i32)
            {
                break r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{merchant} not materialized: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let fresh = served("m_fresh").await;
    assert_eq!(fresh.feature_names, ["orders__amount", "risk__score"]);
    assert_eq!(
        fresh.vectors[0].statuses,
        [FeatureStatus::Present as i32, FeatureStatus::Present as i32]
    );
    assert_eq!(
        fresh.vectors[0].values,
        vec![event(1, 1).values[2].clone(), v(Kind::Float32Value(0.25))]
    );
    let old = served("m_old").await;
    assert_eq!(
        old.vectors[0].statuses,
        [
            FeatureStatus::Present as i32,
            FeatureStatus::OutsideMaxAge as i32
        ]
    );
    assert_eq!(
        old.vectors[0].values[1],
        v(Kind::NullValue(0)),
        "a value older than the TTL is not served"
    );
}
