//! Shared pieces of the offline query tests: a registered project with a
//! group `orders` (amount: int64) and a view `model` over it, rows written
//! the way materialization writes them, entity rows, and Flight reads.

use std::sync::Arc;

use arrow_array::{
    Array, Int64Array, RecordBatch, TimestampMicrosecondArray, cast::AsArray, types::Int64Type,
};
use arrow_flight::Ticket;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_domain::fixtures::{group, view};
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{
    CreateFeatureGroupRequest, CreateFeatureViewRequest, EntitySource, FeatureGroup,
    FeatureViewRef, GetHistoricalFeaturesRequest, Value, entity_source::Source,
    get_historical_features_request::Features, value::Kind,
};
use futures::TryStreamExt;

use crate::{offline::OfflineQuerySandbox, registry::RegistrySandbox};

pub const SECOND: i64 = 1_000_000;

pub fn entity_rows(rows: &[(i64, i64)]) -> Vec<u8> {
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

pub async fn append(
    store: &DeltaStore,
    g: &FeatureGroup,
    rows: &[(i64, i64, i64)],
    first_offset: i64,
) {
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

pub async fn read_all(offline: &OfflineQuerySandbox, ticket: &[u8]) -> Vec<RecordBatch> {
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

pub fn int_column(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
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

pub fn request(project: &str, view_name: &str, entities: Vec<u8>) -> GetHistoricalFeaturesRequest {
    GetHistoricalFeaturesRequest {
        consistency: None,
        project: project.into(),
        features: Some(Features::View(FeatureViewRef {
            project: String::new(),
            name: view_name.into(),
            version: 0,
        })),
        entities: Some(EntitySource {
            source: Some(Source::ArrowIpcStream(entities)),
            ..EntitySource::default()
        }),
    }
}

/// A project with a `customer` entity, a group `orders` (amount: int64) and
/// a view `model` over it.
pub async fn registered() -> (RegistrySandbox, String, FeatureGroup) {
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
