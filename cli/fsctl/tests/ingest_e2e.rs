//! `fsctl ingest` end to end: a CSV file into a feature group through the
//! ingestion service and Kafka into the online store; unreadable values and
//! rows the service rejects are counted and named by file row, the rest land.

mod common;

use featurestore_integration_tests::{
    materialization::MaterializationSandbox,
    world::{wait_online, world},
};
use featurestore_proto::v1::{Value, value::Kind};

/// 2024-05-01T10:00:00Z in µs.
const TEN_O_CLOCK: i64 = 1_714_557_600_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_file_lands_and_bad_rows_are_reported() {
    let w = world().await;
    let offline = w.offline_dir.path().to_str().unwrap().to_string();
    let _materialization =
        MaterializationSandbox::start(w.registry.root(), &w.project, &offline).await;
    let csv = w.offline_dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "customer_id,event_time,amount,country\n\
         1,2024-05-01T10:00:00Z,3,de\n\
         2,2024-05-01T10:00:00Z,abc,fr\n\
         ,2024-05-01T10:00:00Z,1.5,us\n\
         3,2024-05-01T10:00:00Z,2.5,\n",
    )
    .unwrap();
    let args = vec![
        "--registry".to_string(),
        w.registry.url(),
        "--ingestion".into(),
        format!("http://{}", w.ingestion.addr),
        "ingest".into(),
        "-p".into(),
        w.project.clone(),
        "--group".into(),
        "orders".into(),
        "--file".into(),
        csv.to_string_lossy().into(),
        "--batch".into(),
        "2".into(),
    ];
    let (ok, text) = common::fsctl_async(args).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("4 rows read, 2 accepted, 2 rejected into orders@1"),
        "{text}"
    );
    assert!(
        text.contains("row 2: amount: \"abc\" is not a Float64"),
        "{text}"
    );
    assert!(text.contains("row 3: customer_id"), "{text}");

    let rows = wait_online(&w, &[1, 3], TEN_O_CLOCK).await;
    let amount = |v: &Value| match v.kind {
        Some(Kind::Float64Value(f)) => f,
        _ => panic!("{v:?}"),
    };
    assert_eq!(
        amount(&rows[0][0]),
        3.0,
        "the CSV's integer read as the float feature"
    );
    assert_eq!(amount(&rows[1][0]), 2.5);

    // A file of the wrong kind is refused up front.
    let (ok, text) = common::fsctl_async(vec![
        "--registry".into(),
        w.registry.url(),
        "ingest".into(),
        "-p".into(),
        w.project.clone(),
        "--group".into(),
        "orders".into(),
        "--file".into(),
        "orders.json".into(),
    ])
    .await;
    assert!(!ok && text.contains("orders.json"), "{text}");
}
