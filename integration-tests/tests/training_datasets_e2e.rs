//! Training datasets against real etcd and Delta tables on disk: created
//! from a view, stored as Parquet or Delta with what reproduces them, read
//! back over Flight unchanged by later writes, listed, deleted; a failed or
//! refused creation leaves no record and no files.

use std::path::Path;

use featurestore_integration_tests::offline::{
    OfflineQuerySandbox,
    fixtures::{append, entity_rows, int_column, read_all, registered, request},
};
use featurestore_offlinestore::DeltaStore;
use featurestore_proto::v1::{
    CreateTrainingDatasetRequest, DatasetFormat, DeleteTrainingDatasetRequest, EntitySource,
    GetTrainingDatasetRequest, ListTrainingDatasetsRequest, TrainingDataset, entity_source::Source,
};

fn create(
    project: &str,
    name: &str,
    version: u32,
    entities: Vec<u8>,
    format: DatasetFormat,
) -> CreateTrainingDatasetRequest {
    CreateTrainingDatasetRequest {
        project: project.into(),
        name: name.into(),
        version,
        query: Some(request(project, "model", entities)),
        format: format as i32,
    }
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if path.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_are_stored_reproducibly_and_read_back_unchanged() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10), (1, 200, 20), (2, 150, 5)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut datasets = offline.datasets().await;
    let entities = entity_rows(&[(1, 150), (2, 140), (1, 1_000), (3, 1_000), (1, 150)]);
    let expected = vec![Some(10), None, Some(20), None, Some(10)];

    let first: TrainingDataset = datasets
        .create_training_dataset(create(
            &project,
            "churn",
            0,
            entities.clone(),
            DatasetFormat::Parquet,
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(first.version, 1, "the first version of a name is 1");
    assert_eq!(first.row_count, 5);
    assert_eq!(first.table_versions.get("orders@1"), Some(&1));
    assert_eq!(
        first.entity_columns,
        ["customer_id", "event_timestamp", "label"]
    );
    assert_eq!(first.groups.len(), 1);
    assert_eq!(
        (
            first.groups[0].group.as_str(),
            first.groups[0].group_version,
            first.groups[0].delta_version
        ),
        ("orders", 1, 1)
    );
    assert_eq!(first.groups[0].features, ["amount"]);
    assert_eq!(first.view.as_ref().map(|v| v.name.as_str()), Some("model"));
    let recorded = first.query.as_ref().unwrap().entities.as_ref().unwrap();
    assert_eq!(
        recorded.source, None,
        "inline entity rows are not copied into the record"
    );
    let location = Path::new(&first.location);
    assert!(
        location.starts_with(&offline.datasets_root),
        "{}",
        first.location
    );
    assert!(location.join("part-00000.parquet").is_file());

    // Over Flight, the stored rows; later writes to the group don't change them.
    append(&store, &g, &[(2, 120, 7), (1, 900, 90)], 3).await;
    let rows = read_all(&offline, &first.flight_ticket).await;
    assert_eq!(
        int_column(&rows, "label"),
        (0..5).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(int_column(&rows, "orders__amount"), expected);

    // The next version, as Delta, sees the new rows.
    let second = datasets
        .create_training_dataset(create(
            &project,
            "churn",
            0,
            entities.clone(),
            DatasetFormat::Delta,
        ))
        .await
        .expect("create v2")
        .into_inner();
    assert_eq!(second.version, 2);
    assert_eq!(second.table_versions.get("orders@1"), Some(&2));
    assert!(Path::new(&second.location).join("_delta_log").is_dir());
    let rows = read_all(&offline, &second.flight_ticket).await;
    assert_eq!(
        int_column(&rows, "orders__amount"),
        vec![Some(10), Some(7), Some(90), None, Some(10)]
    );

    let latest = datasets
        .get_training_dataset(GetTrainingDatasetRequest {
            project: project.clone(),
            name: "churn".into(),
            version: 0,
        })
        .await
        .expect("get latest")
        .into_inner();
    // Each answer carries a freshly signed ticket (with its own expiry)
    // that reads the same rows.
    assert_eq!(
        int_column(
            &read_all(&offline, &latest.flight_ticket).await,
            "orders__amount"
        ),
        int_column(&rows, "orders__amount")
    );
    let unticketed = |d: &TrainingDataset| TrainingDataset {
        flight_ticket: Vec::new(),
        ..d.clone()
    };
    assert_eq!(unticketed(&latest), unticketed(&second));

    // A taken version is refused and leaves nothing behind.
    let before = tree(&offline.datasets_root);
    let err = datasets
        .create_training_dataset(create(
            &project,
            "churn",
            1,
            entities.clone(),
            DatasetFormat::Parquet,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");
    assert_eq!(tree(&offline.datasets_root), before);

    let listed = datasets
        .list_training_datasets(ListTrainingDatasetsRequest {
            project: project.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.datasets.iter().map(unticketed).collect::<Vec<_>>(),
        vec![unticketed(&first)]
    );
    let rest = datasets
        .list_training_datasets(ListTrainingDatasetsRequest {
            project: project.clone(),
            page_size: 10,
            page_token: listed.next_page_token,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        rest.datasets.iter().map(unticketed).collect::<Vec<_>>(),
        vec![unticketed(&second)]
    );
    assert!(rest.next_page_token.is_empty());

    datasets
        .delete_training_dataset(DeleteTrainingDatasetRequest {
            project: project.clone(),
            name: "churn".into(),
            version: 1,
        })
        .await
        .expect("delete");
    assert!(!location.exists(), "the files go with the record");
    let err = datasets
        .get_training_dataset(GetTrainingDatasetRequest {
            project: project.clone(),
            name: "churn".into(),
            version: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let mut flight = offline.flight().await;
    let err = flight
        .do_get(arrow_flight::Ticket {
            ticket: first.flight_ticket.clone().into(),
        })
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("churn"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_creations_leave_no_record_and_no_files() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut datasets = offline.datasets().await;

    // Refused up front: named bad input.
    let err = datasets
        .create_training_dataset(create(
            &project,
            "Bad-Name",
            0,
            entity_rows(&[(1, 150)]),
            DatasetFormat::Parquet,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("name"), "{}", err.message());
    let mut no_view = create(
        &project,
        "churn",
        0,
        entity_rows(&[(1, 150)]),
        DatasetFormat::Parquet,
    );
    no_view.query = Some(request(&project, "no_such_view", entity_rows(&[(1, 150)])));
    let err = datasets.create_training_dataset(no_view).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let mut missing = create(&project, "churn", 0, Vec::new(), DatasetFormat::Delta);
    let missing_rows = dir.path().join("rows.parquet");
    missing.query.as_mut().unwrap().entities = Some(EntitySource {
        source: Some(Source::ParquetPath(missing_rows.to_string_lossy().into())),
        ..EntitySource::default()
    });
    let err = datasets.create_training_dataset(missing).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(
        err.message().contains(&*missing_rows.to_string_lossy()),
        "{}",
        err.message()
    );
    let mut outside = create(&project, "churn", 0, Vec::new(), DatasetFormat::Delta);
    outside.query.as_mut().unwrap().entities = Some(EntitySource {
        source: Some(Source::ParquetPath("/etc/passwd".into())),
        ..EntitySource::default()
    });
    let err = datasets.create_training_dataset(outside).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    // Fails half-way: entity rows whose footer reads fine but whose data
    // pages are garbage, so the query fails while the dataset is written.
    for format in [DatasetFormat::Parquet, DatasetFormat::Delta] {
        let rows = dir
            .path()
            .join(format!("corrupt-{}.parquet", format.as_str_name()));
        corrupt_parquet(&rows);
        let mut corrupt = create(&project, "churn", 0, Vec::new(), format);
        corrupt.query.as_mut().unwrap().entities = Some(EntitySource {
            source: Some(Source::ParquetPath(rows.to_string_lossy().into())),
            ..EntitySource::default()
        });
        let err = datasets.create_training_dataset(corrupt).await.unwrap_err();
        assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");
    }

    let listed = datasets
        .list_training_datasets(ListTrainingDatasetsRequest {
            project: project.clone(),
            ..ListTrainingDatasetsRequest::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.datasets.is_empty(), "{listed:?}");
    let files: Vec<String> = tree(&offline.datasets_root)
        .into_iter()
        .filter(|p| Path::new(p).components().count() > 2)
        .collect();
    assert!(files.is_empty(), "left behind: {files:?}");
}

/// A Parquet file of 50k entity rows whose last row group is unreadable.
fn corrupt_parquet(path: &Path) {
    let mut rows = Vec::new();
    for i in 0..50_000 {
        rows.push((i % 3, 150 + i));
    }
    let ipc = entity_rows(&rows);
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).unwrap();
    let schema = reader.schema();
    let file = std::fs::File::create(path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(10_000))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
    // Smash the page headers of the last row group (the footer, and so
    // the schema, stay readable).
    let metadata = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(std::fs::File::open(path).unwrap())
            .unwrap(),
    )
    .clone();
    let last = metadata.row_group(metadata.num_row_groups() - 1);
    let mut bytes = std::fs::read(path).unwrap();
    for column in last.columns() {
        let (start, _) = column.byte_range();
        for b in &mut bytes[start as usize..start as usize + 16] {
            *b = 0xff;
        }
    }
    std::fs::write(path, bytes).unwrap();
}
