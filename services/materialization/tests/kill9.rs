//! kill -9 of the materialization process in the middle of a stream, then a
//! restart: every acknowledged row is in Delta exactly once and the online
//! store holds the latest per key; the tiles of an aggregated group count
//! every event once. Runs the real binary against the real servers
//! (`make infra-up`).

#[path = "../../../integration-tests/scenarios/aggregations.rs"]
mod scenario;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use featurestore_integration_tests::{
    channel, etcd_endpoint,
    ingestion::{IngestionSandbox, kafka_bootstrap},
    materialization::cassandra_node,
    registry::RegistrySandbox,
    serving::ServingSandbox,
    unique_name,
    world::{event, ingest, offline_rows, wait_online, world},
};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill_9(process: &mut Process) {
    let pid = process.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = process.0.wait();
}

/// The materialization binary consuming the topics of `project`, with
/// small batches (many commits to die between).
fn start(registry_root: &str, project: &str, offline_root: &Path) -> Process {
    start_with(registry_root, project, offline_root, &[])
}

/// [`start`] with more settings (`FS_MATERIALIZATION_…` variables).
fn start_with(
    registry_root: &str,
    project: &str,
    offline_root: &Path,
    settings: &[(&str, &str)],
) -> Process {
    // The test never calls the admin port: let the system pick one.
    let child = Command::new(env!("CARGO_BIN_EXE_materialization"))
        .env("FS_MATERIALIZATION_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "FS_MATERIALIZATION_ETCD__ENDPOINTS",
            format!("[\"{}\"]", etcd_endpoint()),
        )
        .env("FS_MATERIALIZATION_ETCD__ROOT", registry_root)
        .env(
            "FS_MATERIALIZATION_KAFKA__BOOTSTRAP_SERVERS",
            kafka_bootstrap(),
        )
        .env(
            "FS_MATERIALIZATION_KAFKA__GROUP_ID",
            format!("mat_{project}"),
        )
        .env(
            "FS_MATERIALIZATION_KAFKA__TOPIC_PREFIX",
            format!("fs.{project}."),
        )
        .env("FS_MATERIALIZATION_KAFKA__SESSION_TIMEOUT", "6s")
        .env(
            "FS_MATERIALIZATION_CASSANDRA__NODES",
            format!("[\"{}\"]", cassandra_node()),
        )
        .env("FS_MATERIALIZATION_CASSANDRA__KEYSPACE", "fs_e2e")
        .env("FS_MATERIALIZATION_OFFLINE__ROOT", offline_root)
        .env("FS_MATERIALIZATION_BATCH__MAX_RECORDS", "50")
        .env("FS_MATERIALIZATION_TELEMETRY__LOG_LEVEL", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start materialization");
    Process(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_leaves_every_row_exactly_once() {
    let w = world().await;
    // Published progress is followed from outside: it must only move forward.
    let progress = featurestore_integration_tests::progress::ProgressWatch::start(
        featurestore_integration_tests::metadata_store().await,
        w.registry.root(),
    );
    let keys: Vec<i64> = (0..100).collect();
    let start_here = || start(w.registry.root(), &w.project, w.offline_dir.path());
    let mut process = start_here();
    for time in 1..=10 {
        ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
        if time == 4 {
            // Once it has applied the fourth batch online (its Delta commit
            // and log positions may still be pending), kill it without
            // warning.
            let _ = wait_online(&w, &keys, 4).await;
            kill_9(&mut process);
            process = start_here();
        }
    }
    let _ = wait_online(&w, &keys, 10).await;
    let rows = offline_rows(&w, 1000).await;
    let mut want: Vec<(i64, i64)> = keys
        .iter()
        .flat_map(|k| (1..=10).map(move |t| (*k, t)))
        .collect();
    want.sort();
    assert_eq!(rows, want, "every acknowledged row exactly once in Delta");
    progress.assert_only_forward();
    drop(process);
}

/// Events acknowledged before the materializer's SIGKILL are folded into
/// their tiles exactly once after the restart: the ones already in tiles
/// (their log positions not yet committed) are replayed and skipped, the
/// others folded. Batches of 50 records: the kill lands between tile
/// writes and commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_folding_tiles_counts_every_event_once() {
    const KEYS: i64 = 20;
    const PER_KEY: i64 = 10;
    let registry = RegistrySandbox::start().await;
    let project = unique_name("taps");
    let offline = tempfile::tempdir().unwrap();
    scenario::define_taps(registry.channel().await, &project).await;
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let serving = ServingSandbox::start(registry.root()).await;
    let mut process = start(registry.root(), &project, offline.path());
    let mut tokens = Vec::new();
    tokens.push(
        scenario::ingest_taps(channel(ingestion.addr).await, &project, 0, KEYS, PER_KEY).await,
    );
    let folded =
        scenario::taps_counted(channel(serving.addr).await, &project, KEYS, tokens.clone()).await;
    assert_eq!(folded, scenario::taps_expected(KEYS, PER_KEY));
    for batch in 1..6 {
        tokens.push(
            scenario::ingest_taps(
                channel(ingestion.addr).await,
                &project,
                batch,
                KEYS,
                PER_KEY,
            )
            .await,
        );
    }
    // Killed right after the last acknowledgement, mid-stream.
    kill_9(&mut process);
    let _process = start(registry.root(), &project, offline.path());
    let counted = scenario::taps_counted(channel(serving.addr).await, &project, KEYS, tokens).await;
    assert_eq!(counted, scenario::taps_expected(KEYS, 6 * PER_KEY));
}

/// A correction budget of a quarter of the bootstraps' history: four parts.
const QUARTER: [(&str, &str); 1] = [(
    "FS_MATERIALIZATION_CORRECTIONS__MAX_EVENTS_IN_MEMORY",
    "1250",
)];

/// An aggregation added in place to a group with history is filled from
/// the Delta table by a bootstrap, in parts; a kill -9 of the materializer
/// while it runs only delays it: the next process runs the part that was
/// running again once the dead one's claim lapses, keeps the parts done,
/// and every event is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_bootstrap_resumes_it_and_counts_every_event_once() {
    use featurestore_catalog::Keyspace;
    use featurestore_proto::v1::{AggregationBootstrap, ResourceState};
    use prost::Message as _;
    use std::time::{Duration, Instant};

    const KEYS: i64 = 20;
    const PER_KEY: i64 = 250;
    let registry = RegistrySandbox::start().await;
    let project = unique_name("boot");
    let offline = tempfile::tempdir().unwrap();
    scenario::define_taps(registry.channel().await, &project).await;
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let serving = ServingSandbox::start(registry.root()).await;
    let mut process = start_with(registry.root(), &project, offline.path(), &QUARTER);
    let token =
        scenario::ingest_taps(channel(ingestion.addr).await, &project, 0, KEYS, PER_KEY).await;
    scenario::taps_counted(channel(serving.addr).await, &project, KEYS, vec![token]).await;
    // The bootstrap's record, as the registry and the materializer keep it.
    let store = featurestore_integration_tests::metadata_store().await;
    let key = Keyspace::new(registry.root()).bootstrap(&project, "taps", 1);
    let record = || async {
        store
            .get(&key)
            .await
            .unwrap()
            .map(|kv| AggregationBootstrap::decode(kv.value.as_slice()).unwrap())
            .unwrap_or_default()
    };
    // The kill must land while the bootstrap runs; one that finished first
    // is tried again with another aggregation.
    let mut filled = None;
    for name in ["amount_life", "amount_life_2", "amount_life_3"] {
        scenario::add_to_taps(
            registry.channel().await,
            &project,
            scenario::amount_life(name),
        )
        .await;
        let started = Instant::now();
        let claimed = loop {
            let now = record().await;
            match scenario::bootstrap_of(&now, name) {
                Some(true) => break Some(now),
                Some(false) => break None,
                None => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never claimed: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let Some(claimed) = claimed else {
            eprintln!("the bootstrap of {name} ended before it was seen running");
            continue;
        };
        kill_9(&mut process);
        process = start_with(registry.root(), &project, offline.path(), &QUARTER);
        let started = Instant::now();
        let done = loop {
            let now = record().await;
            if now.state() == ResourceState::Ready {
                break now;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{now:?}");
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
    assert_eq!(done.parts.len(), 4, "{done:?}");
    let report = done.drift.clone().expect("a report");
    assert!(report.lifetime_compared, "{done:?}");
    assert_eq!(report.tiles_deferred, 0, "{done:?}");
    assert_eq!(report.events_read, (KEYS * PER_KEY) as u64, "{done:?}");
    scenario::assert_taps_filled(channel(serving.addr).await, &project, KEYS, name, PER_KEY).await;
    drop(process);
}

/// Two materialization replicas share a bootstrap: each claims parts of
/// it, one at a time, and the parts add up to the whole history, every
/// event counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_parts_of_a_bootstrap() {
    use featurestore_catalog::Keyspace;
    use featurestore_proto::v1::{AggregationBootstrap, ResourceState};
    use prost::Message as _;
    use std::{
        collections::BTreeSet,
        time::{Duration, Instant},
    };

    const KEYS: i64 = 20;
    const PER_KEY: i64 = 250;
    let registry = RegistrySandbox::start().await;
    let project = unique_name("share");
    let offline = tempfile::tempdir().unwrap();
    scenario::define_taps(registry.channel().await, &project).await;
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let serving = ServingSandbox::start(registry.root()).await;
    let _replicas = [
        start_with(registry.root(), &project, offline.path(), &QUARTER),
        start_with(registry.root(), &project, offline.path(), &QUARTER),
    ];
    let token =
        scenario::ingest_taps(channel(ingestion.addr).await, &project, 0, KEYS, PER_KEY).await;
    scenario::taps_counted(channel(serving.addr).await, &project, KEYS, vec![token]).await;
    let store = featurestore_integration_tests::metadata_store().await;
    let key = Keyspace::new(registry.root()).bootstrap(&project, "taps", 1);
    scenario::add_to_taps(
        registry.channel().await,
        &project,
        scenario::amount_life("amount_life"),
    )
    .await;
    // Who ran which part, as the record shows while it runs.
    let mut runners = BTreeSet::new();
    let started = Instant::now();
    let done = loop {
        let record = store
            .get(&key)
            .await
            .unwrap()
            .map(|kv| AggregationBootstrap::decode(kv.value.as_slice()).unwrap())
            .unwrap_or_default();
        runners.extend(
            record
                .parts
                .iter()
                .filter(|p| !p.runner.is_empty())
                .map(|p| p.runner.clone()),
        );
        if record.state() == ResourceState::Ready {
            break record;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{record:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(done.parts.len(), 4, "{done:?}");
    assert!(done.parts.iter().all(|p| p.done), "{done:?}");
    assert_eq!(runners.len(), 2, "parts run by {runners:?}: {done:?}");
    let report = done.drift.clone().expect("a report");
    assert!(report.lifetime_compared, "{done:?}");
    assert_eq!(report.events_read, (KEYS * PER_KEY) as u64, "{done:?}");
    let per_part: u64 = done
        .parts
        .iter()
        .map(|p| p.drift.as_ref().map_or(0, |d| d.events_read))
        .sum();
    assert_eq!(per_part, report.events_read, "{done:?}");
    scenario::assert_taps_filled(
        channel(serving.addr).await,
        &project,
        KEYS,
        "amount_life",
        PER_KEY,
    )
    .await;
}

/// A backfill's tile correction is a run the replicas share in parts: the
/// replica that took the call is killed while it holds a part, and the
/// other finishes the run — that part once its claim lapses, the parts
/// done kept — and keeps the report under the backfill's job id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_whose_replica_dies_is_finished_by_another() {
    use featurestore_catalog::Keyspace;
    use featurestore_proto::v1::{
        CorrectionRun, FeatureGroupRef, GetBackfillJobRequest, GetMaterializationStatusRequest,
        ResourceState, StartBackfillRequest,
        materialization_admin_service_client::MaterializationAdminServiceClient,
    };
    use prost::Message as _;
    use std::time::{Duration, Instant};

    const KEYS: i64 = 20;
    const PER_KEY: i64 = 250;
    let registry = RegistrySandbox::start().await;
    let project = unique_name("shared");
    let offline = tempfile::tempdir().unwrap();
    scenario::define_taps(registry.channel().await, &project).await;
    let ingestion = IngestionSandbox::start(registry.root(), |_| {}).await;
    let serving = ServingSandbox::start(registry.root()).await;
    let listen = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    };
    let replica = |addr: std::net::SocketAddr| {
        let addr = addr.to_string();
        start_with(
            registry.root(),
            &project,
            offline.path(),
            &[
                QUARTER[0],
                ("FS_MATERIALIZATION_SERVER__LISTEN_ADDR", addr.as_str()),
            ],
        )
    };
    let (addr_a, addr_b) = (listen(), listen());
    let mut a = replica(addr_a);
    let _b = replica(addr_b);
    let token =
        scenario::ingest_taps(channel(ingestion.addr).await, &project, 0, KEYS, PER_KEY).await;
    scenario::taps_counted(
        channel(serving.addr).await,
        &project,
        KEYS,
        vec![token.clone()],
    )
    .await;
    let taps = FeatureGroupRef {
        project: project.clone(),
        name: "taps".into(),
        version: 1,
    };
    let admin = |addr| async move {
        let started = Instant::now();
        loop {
            match tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
            {
                Ok(c) => break MaterializationAdminServiceClient::new(c),
                Err(e) => {
                    assert!(started.elapsed() < Duration::from_secs(30), "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let store = featurestore_integration_tests::metadata_store().await;
    let prefix = Keyspace::new(registry.root()).correction_runs_prefix(&project, "taps", 1);
    let runs = || async {
        store
            .list(&prefix)
            .await
            .unwrap()
            .kvs
            .into_iter()
            .map(|kv| CorrectionRun::decode(kv.value.as_slice()).unwrap())
            .collect::<Vec<_>>()
    };
    // The kill must land while a part runs; a backfill whose correction
    // ended first is tried again.
    let mut finished = None;
    for _ in 0..3 {
        let mut on_a = admin(addr_a).await;
        let request = StartBackfillRequest {
            group: Some(taps.clone()),
            start_time_micros: 0,
            end_time_micros: i64::MAX / 4,
        };
        // (Once the offline table holds events.)
        let started = Instant::now();
        let job = loop {
            match on_a.start_backfill(request.clone()).await {
                Ok(job) => break job.into_inner(),
                Err(e) => {
                    assert!(started.elapsed() < Duration::from_secs(60), "{e:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let started = Instant::now();
        let claimed = loop {
            let now = runs().await;
            if let Some(run) = now.iter().find(|r| r.job == job.id) {
                if run.parts.iter().any(|p| !p.runner.is_empty()) {
                    break Some(run.clone());
                }
                if run.state() == ResourceState::Ready {
                    break None;
                }
            } else if on_a
                .get_backfill_job(GetBackfillJobRequest { id: job.id.clone() })
                .await
                .unwrap()
                .into_inner()
                .state()
                == ResourceState::Ready
            {
                // No record (yet, while rows are copied; or no more):
                // written and followed to its end (then dropped) unseen.
                break None;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{now:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let Some(claimed) = claimed else {
            eprintln!(
                "the correction of {} ended before it was seen running",
                job.id
            );
            continue;
        };
        kill_9(&mut a);
        let started = Instant::now();
        let done = loop {
            let now = runs().await;
            let run = now.iter().find(|r| r.job == job.id).expect("the run");
            if run.state() == ResourceState::Ready {
                break run.clone();
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{run:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        a = replica(addr_a);
        if !scenario::resumed(&claimed.parts, &done.parts) {
            eprintln!("the parts running ended before the kill: {done:?}");
            continue;
        }
        finished = Some((job, done));
        break;
    }
    let (job, done) = finished.expect("a kill while a backfill's correction ran");
    assert_eq!(done.parts.len(), 4, "{done:?}");
    let report = done.drift.clone().expect("a report");
    assert_eq!(report.events_read, (KEYS * PER_KEY) as u64, "{done:?}");
    assert_eq!(
        (report.tiles_changed, report.tiles_deferred),
        (0, 0),
        "{done:?}"
    );
    // The report is kept under the backfill's job id, for every replica.
    let status = admin(addr_b)
        .await
        .get_materialization_status(GetMaterializationStatusRequest {
            group: Some(taps.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    let kept = status
        .corrections
        .iter()
        .find(|c| c.job_id == job.id)
        .unwrap_or_else(|| panic!("no report of {}: {status:?}", job.id));
    assert_eq!(kept.events_read, report.events_read);
    let counted =
        scenario::taps_counted(channel(serving.addr).await, &project, KEYS, vec![token]).await;
    assert_eq!(counted, scenario::taps_expected(KEYS, PER_KEY));
    drop(a);
}
