//! Offline query against real etcd (catalog from the registry) and Delta
//! tables on disk written the way materialization writes them: plan over
//! gRPC, read over Arrow Flight, tickets pinned to table versions, group
//! reads, and named errors.

use std::sync::Arc;

use arrow_array::{
    Array, Int64Array, RecordBatch, TimestampMicrosecondArray, cast::AsArray, types::Int64Type,
};
use arrow_flight::Ticket;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_domain::fixtures::{group, view};
use featurestore_integration_tests::{offline::OfflineQuerySandbox, registry::RegistrySandbox};
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{
    CreateFeatureGroupRequest, CreateFeatureViewRequest, EntitySource, FeatureGroup,
    FeatureGroupRef, FeatureViewRef, GetHistoricalFeaturesRequest, QueryHandle,
    ReadFeatureGroupRequest, Value, entity_source::Source,
    get_historical_features_request::Features, value::Kind,
};
use futures::TryStreamExt;

const SECOND: i64 = 1_000_000;

fn entity_rows(rows: &[(i64, i64)]) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("label", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1 * SECOND))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

async fn append(store: &DeltaStore, g: &FeatureGroup, rows: &[(i64, i64, i64)], first_offset: i64) {
    let table = OfflineTable::for_group(g);
    store.ensure_table(&table).await.unwrap();
    let rows: Vec<OfflineRow> = rows
        .iter()
        .enumerate()
        .map(|(i, (key, t, amount))| OfflineRow {
            key_values: vec![Value {
                kind: Some(Kind::Int64Value(*key)),
            }],
            event_time_micros: t * SECOND,
            feature_values: vec![Value {
                kind: Some(Kind::Int64Value(*amount)),
            }],
            ingest_time_micros: t * SECOND,
            partition: 0,
            offset: first_offset + i as i64,
        })
        .collect();
    store
        .append(&table, "materialization", "fs.test", &rows)
        .await
        .unwrap();
}

async fn read_all(offline: &OfflineQuerySandbox, ticket: &[u8]) -> Vec<RecordBatch> {
    let mut flight = offline.flight().await;
    flight
        .do_get(Ticket {
            ticket: ticket.to_vec().into(),
        })
        .await
        .expect("do_get")
        .try_collect()
        .await
        .expect("read the result")
}

fn int_column(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap().as_primitive::<Int64Type>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn request(project: &str, view_name: &str, entities: Vec<u8>) -> GetHistoricalFeaturesRequest {
    GetHistoricalFeaturesRequest {
        project: project.into(),
        features: Some(Features::View(FeatureViewRef {
            project: String::new(),
            name: view_name.into(),
            version: 0,
        })),
        entities: Some(EntitySource {
            source: Some(Source::ArrowIpcStream(entities)),
            timestamp_column: String::new(),
        }),
    }
}

/// A project with a `customer` entity, a group `orders` (amount: int64) and
/// a view `model` over it.
async fn registered() -> (RegistrySandbox, String, FeatureGroup) {
    let registry = RegistrySandbox::start().await;
    let project = registry.create_customer_project("offq").await;
    let mut admin = registry.client().await;
    let g = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(
                &project,
                "orders",
                "customer",
                &[("amount", "int64")],
            )),
        })
        .await
        .expect("group")
        .into_inner();
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(&project, "model", &[("orders", &[])])),
        })
        .await
        .expect("view");
    (registry, project, g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_read_over_flight_pinned_to_table_versions() {
    let (registry, project, g) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
    append(&store, &g, &[(1, 100, 10), (1, 200, 20), (2, 150, 5)], 0).await;
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut client = offline.client().await;

    let entities = entity_rows(&[(1, 150), (2, 140), (1, 1_000), (3, 1_000), (1, 150)]);
    let handle: QueryHandle = client
        .get_historical_features(request(&project, "model", entities.clone()))
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(handle.table_versions.get("orders@1"), Some(&1));
    let schema = arrow_ipc::convert::try_schema_from_ipc_buffer(&handle.arrow_schema).unwrap();
    assert!(
        schema.field_with_name("orders__amount").is_ok(),
        "{schema:?}"
    );

    let result = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(
        int_column(&result, "label"),
        (0..5).map(Some).collect::<Vec<_>>(),
        "entity rows in order, extra columns kept"
    );
    assert_eq!(
        int_column(&result, "orders__amount"),
        vec![Some(10), None, Some(20), None, Some(10)]
    );

    // New rows land in a new table version; the old ticket reads the old one.
    append(&store, &g, &[(2, 120, 7), (1, 900, 90)], 3).await;
    let again = read_all(&offline, &handle.flight_ticket).await;
    assert_eq!(
        int_column(&again, "orders__amount"),
        int_column(&result, "orders__amount")
    );
    let fresh = client
        .get_historical_features(request(&project, "model", entities))
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(fresh.table_versions.get("orders@1"), Some(&2));
    assert_eq!(
        int_column(
            &read_all(&offline, &fresh.flight_ticket).await,
            "orders__amount"
        ),
        vec![Some(10), Some(7), Some(90), None, Some(10)]
    );

    // The group as of its first version, over Flight too.
    let group_read = client
        .read_feature_group(ReadFeatureGroupRequest {
            group: Some(FeatureGroupRef {
                project: project.clone(),
                name: "orders".into(),
                version: 1,
            }),
            as_of: Some(featurestore_proto::v1::read_feature_group_request::AsOf::DeltaVersion(1)),
        })
        .await
        .expect("group read")
        .into_inner();
    let rows = read_all(&offline, &group_read.flight_ticket).await;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_named() {
    let (registry, project, _) = registered().await;
    let dir = tempfile::tempdir().unwrap();
    let offline = OfflineQuerySandbox::start(registry.root(), dir.path()).await;
    let mut client = offline.client().await;
    let entities = entity_rows(&[(1, 10)]);

    let err = client
        .get_historical_features(request(&project, "no_such_view", entities.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().contains("no_such_view"), "{}", err.message());

    let no_key = {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        )]));
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).unwrap();
        w.write(&RecordBatch::new_empty(schema.clone())).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    };
    let err = client
        .get_historical_features(request(&project, "model", no_key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("entity_rows.customer_id"),
        "{}",
        err.message()
    );

    let mut missing_file = request(&project, "model", Vec::new());
    missing_file.entities = Some(EntitySource {
        source: Some(Source::ParquetPath("/nonexistent/rows.parquet".into())),
        timestamp_column: String::new(),
    });
    let err = client
        .get_historical_features(missing_file)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(
        err.message().contains("/nonexistent/rows.parquet"),
        "{}",
        err.message()
    );

    let mut flight = offline.flight().await;
    let err = flight
        .do_get(Ticket {
            ticket: b"garbage".to_vec().into(),
        })
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("ticket"), "{err}");
}
