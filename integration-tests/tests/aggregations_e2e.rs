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
