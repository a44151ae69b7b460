//! Standalone mode's backends (embedded metadata store, event log and online
//! store, Delta on local disk) with the materializer's view of the metadata
//! cut off while a group registered meanwhile receives acknowledged rows:
//! they are held, then written exactly once when the view is back.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use featurestore_catalog::{CatalogCache, Keyspace};
use featurestore_domain::{
    EntityKeyEncoder,
    fixtures::{entity, group},
};
use featurestore_eventlog::{EventLog, RedbLog};
use featurestore_ingestion::{IngestionConfig, Ingestor, idempotency::Idempotency};
use featurestore_integration_tests::{
    gate::Gate,
    materialization::pipeline_status_until,
    spawn_service,
    world::{delta_rows, event, event_columns},
};
use featurestore_materialization::{MaterializationConfig, Materializer, Parts};
use featurestore_metastore::{MemoryStore, MetadataStore};
use featurestore_offlinestore::{DeltaStore, OfflineTable};
use featurestore_onlinestore::{OnlineStore, OnlineTable, RedbOnlineStore};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateProjectRequest, FeatureGroupRef,
    IngestRequest, Project, ScalarType, ingestion_service_client::IngestionServiceClient,
    registry_service_client::RegistryServiceClient, value::Kind,
};
use featurestore_registry::{Registry, RegistryConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backends_hold_rows_of_an_unresolvable_group_then_write_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetadataStore> =
        Arc::new(MemoryStore::open(&dir.path().join("metadata.redb")).unwrap());
    let log: Arc<dyn EventLog> = Arc::new(RedbLog::open(&dir.path().join("log.redb")).unwrap());
    let online: Arc<dyn OnlineStore> =
        Arc::new(RedbOnlineStore::open(&dir.path().join("online.redb")).unwrap());
    let offline = Arc::new(DeltaStore::new(dir.path().join("offline").to_str().unwrap()).unwrap());
    let keys = Keyspace::new("/fs");

    let registry = Registry::new(store.clone(), keys.clone(), 3);
    let (registry_addr, _registry) = spawn_service(|l, down| async move {
        featurestore_registry::serve(&RegistryConfig::default(), registry, l, down).await
    })
    .await;
    let catalog = Arc::new(CatalogCache::spawn(store.clone(), keys.clone()));
    let config = IngestionConfig::default();
    let ingestor = Arc::new(Ingestor::new(
        catalog,
        store.clone(),
        log.clone(),
        config.limits.clone(),
        Idempotency::new(
            store.clone(),
            &keys,
            &config.idempotency,
            Duration::from_secs(10),
        ),
    ));
    let (ingestion_addr, _ingestion) = spawn_service(|l, down| async move {
        featurestore_ingestion::serve(&config, ingestor, l, down).await
    })
    .await;

    let gate = Gate::new();
    let seen = gate.wrap(store.clone());
    let cache = Arc::new(CatalogCache::spawn(seen.clone(), keys.clone()));
    cache.wait_synced(Duration::from_secs(10)).await.unwrap();
    let materializer = Arc::new(Materializer::new(
        cache,
        seen,
        keys,
        online.clone(),
        offline.clone(),
        "materialization".into(),
    ));
    let mut config = MaterializationConfig::default();
    config.batch.max_retry_delay = Duration::from_secs(1);
    let parts = Parts {
        materializer,
        log,
        alone: true,
    };
    let (materialization_addr, _materialization) = spawn_service(|l, down| async move {
        featurestore_materialization::serve(&config, parts, l, down).await
    })
    .await;

    let mut registry = RegistryServiceClient::connect(format!("http://{registry_addr}"))
        .await
        .unwrap();
    registry
        .create_project(CreateProjectRequest {
            project: Some(Project {
                name: "shop".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    registry
        .create_entity(CreateEntityRequest {
            entity: Some(entity(
                "shop",
                "customer",
                &[("customer_id", ScalarType::Int64)],
            )),
        })
        .await
        .unwrap();

    gate.close();
    let late = registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(
                "shop",
                "late",
                "customer",
                &[
                    ("amount", "float64"),
                    ("country", "string"),
                    ("embedding", "list<float32>"),
                ],
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let mut ingestion = IngestionServiceClient::connect(format!("http://{ingestion_addr}"))
        .await
        .unwrap();
    for batch in 0..3 {
        ingestion
            .ingest(IngestRequest {
                group: Some(FeatureGroupRef {
                    project: "shop".into(),
                    name: "late".into(),
                    version: 1,
                }),
                columns: event_columns(),
                rows: (0..100)
                    .map(|k| event(batch * 100 + k, 2 + batch))
                    .collect(),
                idempotency_key: String::new(),
            })
            .await
            .unwrap();
    }

    let held = pipeline_status_until(materialization_addr, "300 held records", |s| {
        s.held.iter().map(|h| h.records).sum::<u64>() == 300
    })
    .await;
    assert_eq!(held.held[0].topic, "fs.shop.late.v1");
    assert_eq!(held.records_dropped_deleted_group, 0);

    gate.open();
    let table = OfflineTable::for_group(&late);
    let started = Instant::now();
    let rows = loop {
        let rows = delta_rows(&offline, &table).await;
        if rows.len() >= 300 {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} rows offline",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    pipeline_status_until(materialization_addr, "nothing held", |s| s.held.is_empty()).await;
    let mut distinct = rows.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(rows.len(), 300, "every acknowledged row once offline");
    assert_eq!(distinct.len(), 300);

    let encoder = EntityKeyEncoder::new(&late.primary_key);
    let encoded: Vec<Vec<u8>> = (0..300)
        .map(|k| encoder.encode([Some(&Kind::Int64Value(k))]).unwrap())
        .collect();
    let stored = online
        .get(&OnlineTable::for_group(&late), &encoded)
        .await
        .unwrap();
    for (k, row) in stored.iter().enumerate() {
        let row = row.as_ref().unwrap_or_else(|| panic!("key {k} online"));
        assert_eq!(row.event_time_micros, 2 + k as i64 / 100);
    }
}
