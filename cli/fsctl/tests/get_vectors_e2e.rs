//! `fsctl get-vectors` end to end: rows ingested over gRPC, materialized
//! through Kafka into Cassandra, served by online serving, printed as a
//! table and as JSON; bad keys are named before anything is sent.

mod common;

use featurestore_domain::fixtures::view;
use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    serving::ServingSandbox,
    world::{event, ingest, wait_online, world},
};
use featurestore_proto::v1::CreateFeatureViewRequest;

async fn fsctl(registry: String, serving: String, args: Vec<String>) -> (bool, String) {
    let mut all = vec![
        "--registry".to_string(),
        registry,
        "--serving".into(),
        serving,
    ];
    all.extend(args);
    common::fsctl_async(all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_print_as_a_table_and_as_json() {
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    w.registry
        .client()
        .await
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(&w.project, "model", &[("orders", &[])])),
        })
        .await
        .unwrap();
    ingest(&w, vec![event(5, 2), event(7, 2)]).await;
    let _ = wait_online(&w, &[5, 7], 2).await;
    let serving = ServingSandbox::start(w.registry.root()).await;
    let (registry, serving) = (w.registry.url(), format!("http://{}", serving.addr));
    let args = |extra: &[&str]| -> Vec<String> {
        ["get-vectors", "-p", &w.project, "--view", "model"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };

    let (ok, text) = fsctl(
        registry.clone(),
        serving.clone(),
        args(&["--key", "customer_id=5", "--key", "customer_id=999"]),
    )
    .await;
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("customer_id")
            && lines[0].contains("orders__amount")
            && lines[0].contains("orders__country"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("5 ") && lines[1].contains("5002") && lines[1].contains("NULL"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("999") && lines[2].contains("NOT_FOUND"),
        "{text}"
    );

    let (ok, text) = fsctl(
        registry.clone(),
        serving.clone(),
        args(&["--key", "customer_id=7", "-o", "json"]),
    )
    .await;
    assert!(ok, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect(&text);
    let features = &json[0]["features"];
    assert_eq!(features["orders__amount"]["value"], 7002.0);
    assert_eq!(features["orders__amount"]["status"], "PRESENT");
    assert_eq!(features["orders__country"]["status"], "NULL");
    assert_eq!(
        features["orders__embedding"]["value"],
        serde_json::json!([7.0, 2.0])
    );

    // AT_LEAST the rows' event time (2 µs): served at once, they are applied.
    let (ok, text) = fsctl(
        registry.clone(),
        serving.clone(),
        args(&[
            "--key",
            "customer_id=7",
            "--at-least",
            "1970-01-01T00:00:00.000002Z",
        ]),
    )
    .await;
    assert!(ok && text.contains("7002"), "{text}");
    let (ok, text) = fsctl(
        registry.clone(),
        serving.clone(),
        args(&["--key", "customer_id=7", "--at-least", "yesterday"]),
    )
    .await;
    assert!(!ok && text.contains("--at-least \"yesterday\""), "{text}");

    let (ok, text) = fsctl(
        registry.clone(),
        serving.clone(),
        args(&["--key", "customer_id=abc"]),
    )
    .await;
    assert!(!ok && text.contains("customer_id=\"abc\""), "{text}");
    let (ok, text) = fsctl(registry, serving, args(&["--key", "merchant=1"])).await;
    assert!(
        !ok && text.contains("\"merchant\" is not a join key"),
        "{text}"
    );
}
