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

/// With `[corrections] every` set, each aggregated group's previous day is
/// corrected on its own once, and its report shows in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_day_is_corrected_on_schedule() {
    use featurestore_proto::v1::{
        FeatureGroupRef, GetMaterializationStatusRequest,
        materialization_admin_service_client::MaterializationAdminServiceClient,
    };
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    const DAY: i64 = 86_400_000_000;
    let dir = tempfile::tempdir().unwrap();
    let ports = common::free_ports();
    let mut command = common::command(dir.path(), ports);
    command.env("FS_STANDALONE_CORRECTIONS__EVERY", "200ms");
    let running = common::start_command(command, ports).await;
    scenario::define_taps(running.channel(0).await, "sched").await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let today = now - now.rem_euclid(DAY);
    let yesterday = [today - 12 * 3_600_000_000, today - 3_600_000_000];
    let taps = yesterday.map(|t| (0, t));
    let token = scenario::ingest_taps_at(running.channel(1).await, "sched", &taps).await;
    scenario::taps_counted(running.channel(2).await, "sched", 1, vec![token]).await;
    let mut admin = MaterializationAdminServiceClient::new(running.channel(4).await);
    let started = Instant::now();
    let report = loop {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(FeatureGroupRef {
                    project: "sched".into(),
                    name: "taps".into(),
                    version: 1,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(report) = status.corrections.first() {
            break report.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(report.job_id.starts_with("scheduled-"), "{report:?}");
    assert_eq!(
        (report.start_time_micros, report.end_time_micros),
        (today - DAY, today)
    );
    // Two 5-minute, two hourly, one daily tile and the lifetime tile (the
    // day holds every event); nothing to change.
    assert!(report.lifetime_compared, "{report:?}");
    assert_eq!(
        (
            report.events_read,
            report.tiles_compared,
            report.tiles_changed
        ),
        (2, 6, 0),
        "{report:?}"
    );
}

/// An aggregation added to a group with history is filled from the offline
/// table; a SIGKILL while that bootstrap runs only delays it: after the
/// restart it resumes (the part that was running runs again once the dead
/// runner's claim lapses, the parts done stay done) and every event is
/// counted once. Until then the aggregation is BACKFILLING. The memory
/// budget is a quarter of the history, so the work is in four parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_killed_mid_way_resumes_and_counts_every_event_once() {
    use featurestore_proto::v1::{FeatureStatus, ResourceState, Value, value::Kind};
    use std::time::{Duration, Instant};

    const KEYS: i64 = 50;
    const PER_KEY: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    // A budget of a quarter of the history: the keys are corrected in
    // four parts (hash buckets), each a scan of the table.
    let start = || {
        let ports = common::free_ports();
        let mut command = common::command(dir.path(), ports);
        command.env("FS_STANDALONE_CORRECTIONS__MAX_EVENTS_IN_MEMORY", "5000");
        common::start_command(command, ports)
    };
    let mut running = start().await;
    scenario::define_taps(running.channel(0).await, "boot").await;
    let token = scenario::ingest_taps(running.channel(1).await, "boot", 0, KEYS, PER_KEY).await;
    scenario::taps_counted(running.channel(2).await, "boot", KEYS, vec![token]).await;
    // The kill must land while the bootstrap runs; one that finished first
    // is tried again with another aggregation.
    let mut filled = None;
    for name in ["amount_life", "amount_life_2", "amount_life_3"] {
        scenario::add_to_taps(
            running.channel(0).await,
            "boot",
            scenario::amount_life(name),
        )
        .await;
        let started = Instant::now();
        let claimed = loop {
            let status = scenario::taps_status(running.channel(4).await, "boot").await;
            let bootstrap = status.bootstrap.clone().unwrap_or_default();
            match scenario::bootstrap_of(&bootstrap, name) {
                Some(true) => break Some(bootstrap),
                Some(false) => break None,
                None => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never claimed: {bootstrap:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let Some(claimed) = claimed else {
            eprintln!("the bootstrap of {name} ended before it was seen running");
            continue;
        };
        running.kill();
        running = start().await;
        let started = Instant::now();
        let done = loop {
            let status = scenario::taps_status(running.channel(4).await, "boot").await;
            let bootstrap = status.bootstrap.expect("a bootstrap");
            if bootstrap.state() == ResourceState::Ready {
                break bootstrap;
            }
            // Never a partial value: BACKFILLING until the whole history
            // is in (serving may see READY a moment before this status).
            let whole = Value {
                kind: Some(Kind::Float64Value(PER_KEY as f64)),
            };
            if let Ok(now) =
                scenario::try_taps_served(running.channel(2).await, "boot", 1, &[name]).await
            {
                assert!(
                    now[0].1 == [FeatureStatus::Backfilling as i32] || now[0].0 == [whole],
                    "{now:?}"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{bootstrap:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if !scenario::resumed(&claimed.parts, &done.parts) {
            eprintln!("the parts running ended before the kill: {done:?}");
            continue;
        }
        filled = Some((name, done));
        break;
    }
    let (name, done) = filled.expect("a kill while a bootstrap ran");
    // Resumed: the parts add up to the whole history, each event once.
    assert_eq!(done.parts.len(), 4, "{done:?}");
    let report = done.drift.clone().expect("a report");
    assert!(report.lifetime_compared, "{done:?}");
    assert_eq!(report.tiles_deferred, 0, "{done:?}");
    assert_eq!(report.events_read, (KEYS * PER_KEY) as u64, "{done:?}");
    scenario::assert_taps_filled(running.channel(2).await, "boot", KEYS, name, PER_KEY).await;
}
