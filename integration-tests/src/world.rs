//! A registered feature group with ingestion in front of it, and helpers to
//! wait for its rows in the online and offline stores (write-path tests).

use std::time::{Duration, Instant};

use crate::{
    ingestion::IngestionSandbox, materialization::cassandra_node, registry::RegistrySandbox,
};
use arrow_array::{cast::AsArray, types::Int64Type};
use featurestore_domain::{EntityKeyEncoder, fixtures::group};
use featurestore_offlinestore::{DeltaStore, OfflineTable};
use featurestore_onlinestore::{CassandraConfig, CassandraStore, OnlineStore, OnlineTable};
use featurestore_proto::v1::{
    CreateFeatureGroupRequest, FeatureGroup, FeatureGroupRef, IngestRequest, Row, Value,
    value::Kind,
};

pub struct World {
    pub registry: RegistrySandbox,
    pub ingestion: IngestionSandbox,
    pub project: String,
    pub group: FeatureGroup,
    pub offline_dir: tempfile::TempDir,
}

/// The default world: 3 partitions, default ingestion limits.
pub async fn world() -> World {
    world_with(3, |_| {}).await
}

/// A world whose group has `partitions` partitions and whose ingestion
/// service is configured by `configure`.
pub async fn world_with(
    partitions: u32,
    configure: impl FnOnce(&mut featurestore_ingestion::IngestionConfig),
) -> World {
    let registry = RegistrySandbox::start().await;
    let mut admin = registry.client().await;
    let project = registry.create_customer_project("wp").await;
    let mut g = group(
        &project,
        "orders",
        "customer",
        &[
            ("amount", "float64"),
            ("country", "string"),
            ("embedding", "list<float32>"),
        ],
    );
    g.partitions = partitions;
    let group = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(g),
        })
        .await
        .unwrap()
        .into_inner();
    let ingestion = IngestionSandbox::start(registry.root(), configure).await;
    World {
        registry,
        ingestion,
        project,
        group,
        offline_dir: tempfile::tempdir().unwrap(),
    }
}

/// The columns of [`event`] rows (the test group's key, time and features).
pub fn event_columns() -> Vec<String> {
    [
        "customer_id",
        "event_time",
        "amount",
        "country",
        "embedding",
    ]
    .map(String::from)
    .to_vec()
}

pub fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

pub fn event(key: i64, time: i64) -> Row {
    Row {
        values: vec![
            v(Kind::Int64Value(key)),
            v(Kind::TimestampValue(time)),
            v(Kind::Float64Value((key * 1000 + time) as f64)),
            if time % 2 == 0 {
                v(Kind::NullValue(0))
            } else {
                v(Kind::StringValue(format!("k{key}t{time}")))
            },
            v(Kind::Float32List(featurestore_proto::v1::Float32List {
                values: vec![key as f32, time as f32],
            })),
        ],
    }
}

pub async fn ingest(w: &World, rows: Vec<Row>) {
    let mut client = w.ingestion.client().await;
    client
        .ingest(IngestRequest {
            group: Some(FeatureGroupRef {
                project: w.project.clone(),
                name: w.group.name.clone(),
                version: w.group.version,
            }),
            columns: event_columns(),
            rows,
            idempotency_key: String::new(),
        })
        .await
        .unwrap();
}

pub async fn online_store() -> CassandraStore {
    CassandraStore::connect(CassandraConfig {
        nodes: vec![cassandra_node()],
        keyspace: "fs_e2e".into(),
        ..CassandraConfig::default()
    })
    .await
    .unwrap()
}

/// The (customer_id, event time) pairs of a Delta table of the test
/// group's shape, in file order (empty when the table is not there yet).
pub async fn delta_rows(store: &DeltaStore, table: &OfflineTable) -> Vec<(i64, i64)> {
    let mut rows: Vec<(i64, i64)> = Vec::new();
    if let Ok(batches) = store.scan(table).await {
        for b in &batches {
            let keys = b
                .column_by_name("customer_id")
                .unwrap()
                .as_primitive::<Int64Type>();
            let times = b
                .column_by_name("event_time")
                .unwrap()
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                rows.push((keys.value(i), times.value(i)));
            }
        }
    }
    rows
}

/// Waits until the Delta table holds `count` rows; returns their (key, event time) pairs.
pub async fn offline_rows(w: &World, count: usize) -> Vec<(i64, i64)> {
    let store = DeltaStore::new(w.offline_dir.path().to_str().unwrap()).unwrap();
    let table = OfflineTable::for_group(&w.group);
    let started = Instant::now();
    loop {
        let mut rows = delta_rows(&store, &table).await;
        if rows.len() >= count {
            rows.sort();
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "offline table did not reach {count} rows"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until every key's online row has `event_time`.
pub async fn wait_online(w: &World, keys: &[i64], event_time: i64) -> Vec<Vec<Value>> {
    let store = online_store().await;
    let table = OnlineTable::for_group(&w.group);
    let encoder = EntityKeyEncoder::new(&w.group.primary_key);
    let encoded: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| encoder.encode([Some(&Kind::Int64Value(*k))]).unwrap())
        .collect();
    let started = Instant::now();
    loop {
        if let Ok(rows) = store.get(&table, &encoded).await
            && rows.iter().all(|r| {
                r.as_ref()
                    .is_some_and(|r| r.event_time_micros == event_time)
            })
        {
            return rows.into_iter().map(|r| r.unwrap().values).collect();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "online rows did not reach event time {event_time}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// [`world`] plus a view `model` over its group `orders` (its `amount`).
pub async fn world_with_view() -> World {
    use featurestore_proto::v1::CreateFeatureViewRequest;
    let w = world().await;
    let mut admin = w.registry.client().await;
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(featurestore_domain::fixtures::view(
                &w.project,
                "model",
                &[("orders", &["amount"])],
            )),
        })
        .await
        .expect("create view model");
    w
}

/// `GetFeatureVector` of `key` through the view of [`world_with_view`],
/// with freshness.
pub fn model_vector_request(
    w: &World,
    key: i64,
    consistency: Option<featurestore_proto::v1::Consistency>,
) -> featurestore_proto::v1::GetFeatureVectorRequest {
    use featurestore_proto::v1::{
        EntityKey, FeatureSelector, FeatureViewRef, GetFeatureVectorRequest,
        feature_selector::Selector,
    };
    GetFeatureVectorRequest {
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
            values: vec![v(Kind::Int64Value(key))],
        }),
        include_event_times: false,
        consistency,
        include_freshness: true,
    }
}
