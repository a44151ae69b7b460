//! Cassandra stops while online serving runs: requests fail with
//! UNAVAILABLE quickly (never a hang) and succeed again once Cassandra is
//! back, without restarting the service. Its own test binary.

use std::time::{Duration, Instant};

use featurestore_domain::fixtures::view;
use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    servers::FaultTest,
    serving::ServingSandbox,
    world::{event, ingest, v, wait_online, world},
};
use featurestore_proto::v1::{
    CreateFeatureViewRequest, EntityKey, FeatureSelector, FeatureViewRef, GetFeatureVectorRequest,
    feature_selector::Selector, value::Kind,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_quickly_while_cassandra_is_down_then_recovers() {
    let servers = FaultTest::begin();
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let mut admin = w.registry.client().await;
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(&w.project, "model", &[("orders", &[])])),
        })
        .await
        .unwrap();
    ingest(&w, vec![event(1, 1)]).await;
    let _ = wait_online(&w, &[1], 1).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let mut client = serving.client().await;
    let request = || GetFeatureVectorRequest {
        consistency: None,
        include_freshness: false,
        project: w.project.clone(),
        selector: Some(FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "model".into(),
                version: 0,
            })),
        }),
        entity_key: Some(EntityKey {
            join_keys: vec!["customer_id".into()],
            values: vec![v(Kind::Int64Value(1))],
        }),
        include_event_times: false,
    };
    client.get_feature_vector(request()).await.unwrap();

    materialization.stop().await.unwrap();
    let stopped = servers.stop("cassandra");
    for _ in 0..3 {
        let started = Instant::now();
        let err = client.get_feature_vector(request()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered in {:?}",
            started.elapsed()
        );
    }
    drop(stopped);
    let started = Instant::now();
    loop {
        match client.get_feature_vector(request()).await {
            Ok(r) => {
                assert_eq!(
                    r.into_inner().vector.unwrap().values[0],
                    event(1, 1).values[2]
                );
                break;
            }
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "serving did not recover: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
