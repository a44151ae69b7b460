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
        running.channel(4).await,
        "cards",
    )
    .await;
}

/// Events acknowledged before a SIGKILL are folded into their tiles exactly
/// once after the restart: the ones already in tiles (but not yet committed
/// in the log) are replayed and skipped, the others folded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_count_every_event_once_across_a_kill() {
    const KEYS: i64 = 20;
    const PER_KEY: i64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let first = common::start(dir.path(), common::free_ports()).await;
    scenario::define_taps(first.channel(0).await, "crash").await;
    let mut tokens = Vec::new();
    tokens.push(scenario::ingest_taps(first.channel(1).await, "crash", 0, KEYS, PER_KEY).await);
    // The first batch is folded before the others come in.
    let folded =
        scenario::taps_counted(first.channel(2).await, "crash", KEYS, tokens.clone()).await;
    assert_eq!(folded, scenario::taps_expected(KEYS, PER_KEY));
    for batch in 1..6 {
        tokens.push(
            scenario::ingest_taps(first.channel(1).await, "crash", batch, KEYS, PER_KEY).await,
        );
    }
    // Killed right after the last acknowledgement, mid-stream.
    first.kill();
    let second = common::start(dir.path(), common::free_ports()).await;
    let counted = scenario::taps_counted(second.channel(2).await, "crash", KEYS, tokens).await;
    assert_eq!(counted, scenario::taps_expected(KEYS, 6 * PER_KEY));
}
