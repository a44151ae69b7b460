//! `fsctl training-set` against real etcd and Delta tables: create a
//! training set from a local Parquet file of entity rows, list it, export it
//! to a local Parquet file; bad input is named.

mod common;

use std::path::Path;

use featurestore_integration_tests::offline::{
    OfflineQuerySandbox,
    fixtures::{append, entity_rows, int_column, registered},
};
use featurestore_offlinestore::DeltaStore;
use parquet::arrow::{ArrowWriter, arrow_reader::ParquetRecordBatchReaderBuilder};

/// Entity rows `(customer_id, event_timestamp s, label)` as a Parquet file.
fn write_entities(path: &Path, rows: &[(i64, i64)]) {
    let ipc = entity_rows(rows);
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, reader.schema(), None).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_and_export_a_training_set() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().join("offline").to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10), (1, 200, 20), (2, 150, 5)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), &dir.path().join("offline")).await;
    let addr = format!("http://{}", offline.addr);
    let entities = dir.path().join("entities.parquet");
    write_entities(&entities, &[(1, 150), (2, 140), (1, 1_000), (3, 1_000)]);
    let out = dir.path().join("churn.parquet");

    let entities_arg = entities.to_string_lossy().to_string();
    let out_arg = out.to_string_lossy().to_string();
    let run = |args: &[&str]| {
        let mut all: Vec<String> = vec!["--offline".into(), addr.clone()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(["-p".to_string(), project.clone()]);
        common::fsctl_async(all)
    };

    let (ok, text) = run(&[
        "training-set",
        "create",
        "churn",
        "--view",
        "model",
        "--entities",
        &entities_arg,
    ])
    .await;
    assert!(ok, "{text}");
    assert!(
        text.contains("created training set churn@1: 4 rows (parquet)"),
        "{text}"
    );
    assert!(text.contains("read orders@1 at Delta version 1"), "{text}");

    let (ok, text) = run(&["training-set", "list", "-o", "json"]).await;
    assert!(ok, "{text}");
    let listed: serde_json::Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(listed[0]["name"], "churn");
    assert_eq!(listed[0]["rows"], 4);

    let (ok, text) = run(&["training-set", "export", "churn", "--out", &out_arg]).await;
    assert!(ok, "{text}");
    assert!(text.contains("4 rows"), "{text}");
    let batches: Vec<_> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert_eq!(
        int_column(&batches, "label"),
        [Some(0), Some(1), Some(2), Some(3)]
    );
    assert_eq!(
        int_column(&batches, "orders__amount"),
        [Some(10), None, Some(20), None]
    );

    // Bad input is named; nothing is created.
    let (ok, text) = run(&[
        "training-set",
        "create",
        "churn",
        "--view",
        "no_such_view",
        "--entities",
        &entities_arg,
    ])
    .await;
    assert!(!ok && text.contains("no_such_view"), "{text}");
    let (ok, text) = run(&[
        "training-set",
        "create",
        "churn",
        "--view",
        "model",
        "--entities",
        "/nonexistent.parquet",
    ])
    .await;
    assert!(!ok && text.contains("/nonexistent.parquet"), "{text}");
    let (ok, text) = run(&[
        "training-set",
        "export",
        "churn",
        "--version",
        "7",
        "--out",
        &out_arg,
    ])
    .await;
    assert!(!ok && text.contains("NotFound"), "{text}");
}
