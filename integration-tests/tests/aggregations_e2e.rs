//! Windowed aggregations on the distributed services (etcd, Kafka,
//! Cassandra, Delta): the scenario the standalone test runs too.

#[path = "../scenarios/aggregations.rs"]
mod scenario;

use featurestore_integration_tests::{
    channel, ingestion::IngestionSandbox, materialization::MaterializationSandbox,
    offline::OfflineQuerySandbox, registry::RegistrySandbox, serving::ServingSandbox, unique_name,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_aggregations_serve_what_the_events_say() {
    let registry = RegistrySandbox::start().await;
    let project = unique_name("agg");
    let offline_dir = tempfile::tempdir().unwrap();
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let materialization = MaterializationSandbox::start(
        registry.root(),
        &project,
        offline_dir.path().to_str().unwrap(),
    )
    .await;
    let serving = ServingSandbox::start(registry.root()).await;
    let offline = OfflineQuerySandbox::start(registry.root(), offline_dir.path()).await;
    scenario::windowed_aggregations_serve_what_the_events_say(
        registry.channel().await,
        channel(ingestion.addr).await,
        channel(serving.addr).await,
        channel(offline.addr).await,
        channel(materialization.addr).await,
        &project,
    )
    .await;
}

/// Tiles corrupted on purpose in Cassandra are found and replaced by a
/// correction, which counts exactly them; serving answers the offline truth
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_replaces_corrupted_tiles_and_counts_exactly_them() {
    use featurestore_aggregation::{Function, TileValue, tile_value::streamed_version};
    use featurestore_domain::EntityKeyEncoder;
    use featurestore_onlinestore::{TileKey, TileTable, TileWrite};
    use featurestore_proto::v1::{
        FeatureGroupRef, GetFeatureGroupRequest, StartBackfillRequest,
        materialization_admin_service_client::MaterializationAdminServiceClient,
        registry_service_client::RegistryServiceClient, value::Kind,
    };
    use std::time::{SystemTime, UNIX_EPOCH};

    let registry = RegistrySandbox::start().await;
    let project = unique_name("heal");
    let offline_dir = tempfile::tempdir().unwrap();
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let materialization = MaterializationSandbox::start(
        registry.root(),
        &project,
        offline_dir.path().to_str().unwrap(),
    )
    .await;
    let serving = ServingSandbox::start(registry.root()).await;
    scenario::define_taps(registry.channel().await, &project).await;
    let (keys, per_key) = (4, 5);
    let token =
        scenario::ingest_taps(channel(ingestion.addr).await, &project, 0, keys, per_key).await;
    let truth = scenario::taps_expected(keys, per_key);
    let served = scenario::taps_counted(
        channel(serving.addr).await,
        &project,
        keys,
        vec![token.clone()],
    )
    .await;
    assert_eq!(served, truth);
    let group_ref = FeatureGroupRef {
        project: project.clone(),
        name: "taps".into(),
        version: 1,
    };
    let mut admin = MaterializationAdminServiceClient::new(channel(materialization.addr).await);
    scenario::offline_caught_up(&mut admin, &group_ref).await;

    // Corrupt the lifetime tiles of the cards whose last event is not the
    // last of their partition (a corrupt tile is written with the version
    // the stream's next fold would have; the correction's, from the last
    // offset of the partition, is above it), counting 3 taps too many.
    let group = RegistryServiceClient::new(registry.channel().await)
        .get_feature_group(GetFeatureGroupRequest {
            project: project.clone(),
            name: "taps".into(),
            version: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let encoder = EntityKeyEncoder::new(&group.primary_key);
    let online = materialization.materializer.online().clone();
    let table = TileTable::for_group(&group);
    let lifetime = |card: i64| TileKey {
        entity_key: encoder.encode([Some(&Kind::Int64Value(card))]).unwrap(),
        grain: 0,
        start: 0,
    };
    let tiles: Vec<TileKey> = (0..keys).map(lifetime).collect();
    let stored: Vec<TileValue> = online
        .get_tiles(&table, &tiles)
        .await
        .unwrap()
        .into_iter()
        .map(|b| TileValue::decode(&b.expect("a lifetime tile")).unwrap())
        .collect();
    let last = |t: &TileValue| t.offsets()[0];
    let mut corrupted = Vec::new();
    for (key, tile) in tiles.iter().zip(&stored) {
        let (partition, offset) = last(tile);
        let newest = stored
            .iter()
            .map(last)
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| o)
            .max()
            .unwrap();
        if offset == newest {
            continue;
        }
        let mut wrong = tile.clone();
        for bogus in 1..=3 {
            wrong.fold(
                [(0, Function::Count, None)],
                0,
                (partition, offset + 1000 + bogus),
            );
        }
        wrong.account_up_to(partition, offset);
        corrupted.push(TileWrite {
            key: key.clone(),
            value: wrong.encode(),
            ttl_seconds: 0,
            version: streamed_version(offset) + 1,
        });
    }
    assert!(corrupted.len() >= 2, "4 cards on 2 partitions");
    online.put_tiles(&table, &corrupted).await.unwrap();
    let wrong = scenario::taps_counted(
        channel(serving.addr).await,
        &project,
        keys,
        vec![token.clone()],
    )
    .await;
    assert_ne!(wrong, truth, "the corruption is served");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let day = 86_400_000_000;
    let job = scenario::corrected(
        &mut admin,
        StartBackfillRequest {
            group: Some(group_ref.clone()),
            start_time_micros: now - 2 * day,
            end_time_micros: now + day,
        },
    )
    .await;
    let drift = job.drift.clone().unwrap();
    assert!(drift.lifetime_compared, "{job:?}");
    assert_eq!(
        (drift.tiles_changed, drift.tiles_deferred),
        (corrupted.len() as u64, 0),
        "{job:?}"
    );
    assert_eq!(drift.max_abs_diff, 3.0, "{job:?}");
    let healed =
        scenario::taps_counted(channel(serving.addr).await, &project, keys, vec![token]).await;
    assert_eq!(healed, truth);
}
