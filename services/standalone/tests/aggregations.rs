//! Windowed aggregations in standalone mode (embedded log and online
//! store), through the binary's own ports: the scenario the distributed
//! test runs too.

mod common;

#[path = "../../../integration-tests/scenarios/aggregations.rs"]
mod scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_aggregations_serve_what_the_events_say() {
    let dir = tempfile::tempdir().unwrap();
    let running = common::start(dir.path(), common::free_ports()).await;
    scenario::windowed_aggregations_serve_what_the_events_say(
        running.channel(0).await,
        running.channel(1).await,
        running.channel(2).await,
        running.channel(3).await,
        "cards",
    )
    .await;
}
