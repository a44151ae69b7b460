//! `make bench-serve`: online serving under load, and the same reads done
//! directly with the driver (no service in between) in the same run, so the
//! service's overhead is visible. Everything is co-located on this machine:
//! the `online-serving` release binary, Cassandra, etcd, and this load
//! generator. Reports throughput and p50/p90/p99/p99.9 as text and JSON
//! (`bench-results/serve.json`). Not a test: it never fails on numbers.
//!
//! Every service run also reports the CPU the serving process spent per
//! request and per vector (from /proc, so the load generator sharing the
//! cores does not distort it), and the same for the cheapest unary call the
//! server has (`health-check`: the transport's floor).
//!
//! `--target standalone` (`make bench-serve-standalone`) measures the
//! `standalone` release binary instead: entities loaded through its
//! ingestion port and materialized into its embedded online store, then the
//! same requests to its serving port (no direct-driver comparison: the
//! store is inside the process).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use featurestore_benches::{Killed, cpu_seconds, observed, secure::Secure};
use featurestore_domain::{
    EntityKeyEncoder, fixtures,
    fixtures::{group, view},
};
use featurestore_integration_tests::{
    etcd_endpoint, materialization::cassandra_node, registry::RegistrySandbox,
};
use featurestore_onlinestore::{
    CassandraConfig, CassandraStore, OnlineRow, OnlineStore, OnlineTable,
};
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest, CreateProjectRequest,
    FeatureGroupRef, FeatureSelector, FeatureViewRef, GetFeatureVectorsRequest, IngestRequest, Row,
    ScalarType, Value, feature_selector::Selector,
    ingestion_service_client::IngestionServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
    registry_service_client::RegistryServiceClient, value::Kind,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Keys {
    Uniform,
    Skewed,
}

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Target {
    /// `online-serving` over the test Cassandra and etcd (`make infra-up`).
    Cassandra,
    /// The `standalone` binary over its embedded store.
    Standalone,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "cassandra")]
    target: Target,
    /// Entities loaded into the online store.
    #[arg(long, default_value_t = 100_000)]
    entities: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests in flight (closed loop: each worker sends its next request
    /// when the last one is answered).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Open loop instead: requests per second sent on a fixed schedule
    /// whatever the answers; latency counts from the scheduled send time, so
    /// queueing is not hidden. 0 = closed loop.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Vectors per request (1 = GetFeatureVector-sized calls).
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    batch: Vec<usize>,
    #[arg(long, value_enum, default_value = "uniform")]
    keys: Keys,
    /// Seconds of reads before measuring (Cassandra's JIT and caches warm
    /// up; without it whichever path runs first looks slower).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Where the JSON goes (default bench-results/serve.json, or
    /// serve-standalone.json with `--target standalone`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Standalone only: after the plain-text runs, restart standalone over
    /// the same data with TLS, bearer tokens and project roles on, and run
    /// the same requests again (paths `tls+token`, `health+tls`).
    #[arg(long)]
    secure: bool,
    /// Standalone only: after the plain-text runs, restart standalone over
    /// the same data with Prometheus metrics recorded and served and traces
    /// exported at the default sampling ratio, and run the same requests
    /// again (path `observed`).
    #[arg(long)]
    metrics: bool,
    /// With `--metrics`: measure plain and observed this many times each,
    /// alternating restarts over the same data (plain, observed, plain, …),
    /// and compare their medians, so one noisy run on shared cores does not
    /// decide the overhead.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

#[derive(Debug, Serialize)]
struct Stats {
    path: &'static str,
    batch: usize,
    /// "closed loop, N in flight" or "open loop, R requests/s".
    load: String,
    requests: usize,
    vectors_per_sec: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// CPU time (user + system) the serving process spent per request and
    /// per vector during the run, read from /proc: the load generator on
    /// the same cores cannot distort it. None for the direct-driver path.
    server_cpu_us_per_request: Option<f64>,
    server_cpu_us_per_vector: Option<f64>,
    /// Requests answered per second of server CPU.
    requests_per_server_cpu_sec: Option<f64>,
}

/// xorshift64*: enough randomness for picking keys.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn pick(state: &mut u64, n: usize, keys: Keys) -> i64 {
    let u = (next(state) >> 11) as f64 / (1u64 << 53) as f64;
    let x = match keys {
        Keys::Uniform => u,
        // Most reads hit a few hot keys (about 50% of reads on 1% of keys).
        Keys::Skewed => u.powi(8),
    };
    ((x * n as f64) as usize).min(n - 1) as i64
}

fn stats(
    path: &'static str,
    batch: usize,
    load: &str,
    mut samples: Vec<Duration>,
    wall: Duration,
    server_cpu_seconds: Option<f64>,
) -> Stats {
    samples.sort();
    let q = |p: f64| featurestore_benches::quantile_ms(&samples, p);
    Stats {
        path,
        batch,
        load: load.to_string(),
        requests: samples.len(),
        vectors_per_sec: (samples.len() * batch) as f64 / wall.as_secs_f64(),
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        server_cpu_us_per_request: server_cpu_seconds.map(|c| c * 1e6 / samples.len() as f64),
        server_cpu_us_per_vector: server_cpu_seconds
            .map(|c| c * 1e6 / (samples.len() * batch) as f64),
        requests_per_server_cpu_sec: server_cpu_seconds.map(|c| samples.len() as f64 / c),
    }
}

/// Runs `call` from `concurrency` workers for `seconds`; returns latencies.
async fn measure<F, Fut>(concurrency: usize, seconds: u64, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut i = w as u64 * 1_000_003 + 1;
                while Instant::now() < deadline {
                    i += 1;
                    let t = Instant::now();
                    call(i).await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    (all, started.elapsed())
}

/// Sends `call`s at `rate` per second for `seconds`, each on its own task,
/// never waiting for answers (no coordinated omission). A latency counts
/// from the actual send: the timer wakes up to a millisecond late, which is
/// the generator's jitter, not the server's.
async fn measure_rate<F, Fut>(rate: f64, seconds: u64, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let total = (rate * seconds as f64) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let request = call(i + 1);
        let sent = Instant::now();
        tasks.spawn(async move {
            request.await;
            sent.elapsed()
        });
    }
    let mut all = Vec::with_capacity(total as usize);
    while let Some(sample) = tasks.join_next().await {
        all.push(sample.expect("request task"));
    }
    (all, started.elapsed())
}

/// Closed or open loop, as asked.
async fn run<F, Fut>(args: &Args, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if args.rate > 0.0 {
        measure_rate(args.rate, args.seconds, call).await
    } else {
        measure(args.concurrency, args.seconds, call).await
    }
}

/// [`run`] against the server process `pid`, with the CPU it spent, as
/// the results row `path` / `batch`.
async fn timed<F, Fut>(
    args: &Args,
    pid: u32,
    path: &'static str,
    batch: usize,
    load: &str,
    call: F,
) -> Stats
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cpu_before = cpu_seconds(pid);
    let (samples, wall) = run(args, call).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    stats(path, batch, load, samples, wall, Some(cpu))
}

/// The floor: the same server answering the smallest unary call it has
/// (grpc.health.v1 Check: no store read, a few bytes each way) through the
/// same layers and connection; what a request costs before serving does
/// anything.
async fn health_floor(
    args: &Args,
    channel: tonic::transport::Channel,
    pid: u32,
    path: &'static str,
    load: &str,
) -> Stats {
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    timed(args, pid, path, 1, load, move |_| {
        let mut health = health.clone();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("health check");
        }
    })
    .await
}

/// Reads straight from the online store, for the comparison.
#[derive(Clone)]
struct Direct {
    store: Arc<CassandraStore>,
    table: OnlineTable,
    encoder: EntityKeyEncoder,
}

/// What the measurement runs against, and what keeps it alive.
struct Setup {
    channel: tonic::transport::Channel,
    project: String,
    direct: Option<Direct>,
    process: Killed,
    /// Standalone's data directory (for `--secure`).
    data_dir: Option<PathBuf>,
    _keep: Box<dyn std::any::Any>,
}

const FEATURES: usize = 10;

fn value(id: i64, feature: usize) -> Value {
    Value {
        kind: Some(Kind::Float64Value((id * 10 + feature as i64) as f64)),
    }
}

/// One HTTP/2 connection to the serving port, shared by every worker.
async fn connect_serving(port: u16) -> tonic::transport::Channel {
    featurestore_benches::channel(port).await
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    Ok(featurestore_benches::sibling_binary(name, "bench-serve"))
}

/// Registers `project` with a `customer` entity, a 10-feature group and a view.
async fn register(
    admin: &mut RegistryServiceClient<tonic::transport::Channel>,
    project: &str,
) -> anyhow::Result<featurestore_proto::v1::FeatureGroup> {
    admin
        .create_project(CreateProjectRequest {
            project: Some(fixtures::project(project)),
        })
        .await?;
    admin
        .create_entity(CreateEntityRequest {
            entity: Some(fixtures::entity(
                project,
                "customer",
                &[("customer_id", ScalarType::Int64)],
            )),
        })
        .await?;
    let names: Vec<String> = (0..FEATURES).map(|i| format!("f{i}")).collect();
    let features: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "float64")).collect();
    let g = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(project, "stats", "customer", &features)),
        })
        .await?
        .into_inner();
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(project, "model", &[("stats", &[])])),
        })
        .await?;
    Ok(g)
}

/// `online-serving` over the test Cassandra, loaded directly with the driver.
async fn setup_cassandra(args: &Args) -> anyhow::Result<Setup> {
    let registry = RegistrySandbox::start().await;
    let project = featurestore_integration_tests::unique_name("sbench");
    let g = register(&mut registry.client().await, &project).await?;
    let store = Arc::new(
        CassandraStore::connect(CassandraConfig {
            nodes: vec![cassandra_node()],
            keyspace: "fs_bench".into(),
            ..CassandraConfig::default()
        })
        .await?,
    );
    let table = OnlineTable::for_group(&g);
    store.ensure_table(&table).await?;
    let encoder = EntityKeyEncoder::new(&g.primary_key);
    let key = |id: i64| encoder.encode([Some(&Kind::Int64Value(id))]).expect("key");
    for chunk in (0..args.entities as i64).collect::<Vec<_>>().chunks(5_000) {
        let rows: Vec<OnlineRow> = chunk
            .iter()
            .map(|id| OnlineRow {
                entity_key: key(*id),
                event_time_micros: 1_700_000_000_000_000,
                values: (0..FEATURES).map(|f| value(*id, f)).collect(),
            })
            .collect();
        store.upsert(&table, &rows).await?;
    }
    let port = featurestore_benches::free_port();
    let process = Killed(
        Command::new(sibling_binary("online-serving")?)
            .env(
                "FS_SERVING_SERVER__LISTEN_ADDR",
                format!("127.0.0.1:{port}"),
            )
            .env(
                "FS_SERVING_ETCD__ENDPOINTS",
                format!("[\"{}\"]", etcd_endpoint()),
            )
            .env("FS_SERVING_ETCD__ROOT", registry.root())
            .env(
                "FS_SERVING_CASSANDRA__NODES",
                format!("[\"{}\"]", cassandra_node()),
            )
            .env("FS_SERVING_CASSANDRA__KEYSPACE", "fs_bench")
            .env("FS_SERVING_TELEMETRY__LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    Ok(Setup {
        channel: connect_serving(port).await,
        project,
        direct: Some(Direct {
            store,
            table,
            encoder,
        }),
        process,
        data_dir: None,
        _keep: Box::new(registry),
    })
}

/// The `standalone` binary on a fresh data directory, loaded through its
/// ingestion port; returns once every entity is served.
async fn setup_standalone(args: &Args) -> anyhow::Result<Setup> {
    let data = tempfile::tempdir()?;
    let (process, ports) =
        featurestore_benches::spawn_standalone(data.path(), "bench-serve-standalone");
    let channel = featurestore_benches::channel;
    let project = "sbench".to_string();
    register(
        &mut RegistryServiceClient::new(channel(ports[0]).await),
        &project,
    )
    .await?;
    let mut ingestion = IngestionServiceClient::new(channel(ports[1]).await);
    let columns: Vec<String> = ["customer_id", "event_time"]
        .into_iter()
        .map(String::from)
        .chain((0..FEATURES).map(|f| format!("f{f}")))
        .collect();
    let loading = Instant::now();
    for chunk in (0..args.entities as i64).collect::<Vec<_>>().chunks(5_000) {
        let request = IngestRequest {
            group: Some(FeatureGroupRef {
                project: project.clone(),
                name: "stats".into(),
                version: 0,
            }),
            columns: columns.clone(),
            rows: chunk
                .iter()
                .map(|id| Row {
                    values: [
                        Value {
                            kind: Some(Kind::Int64Value(*id)),
                        },
                        Value {
                            kind: Some(Kind::TimestampValue(1_700_000_000_000_000)),
                        },
                    ]
                    .into_iter()
                    .chain((0..FEATURES).map(|f| value(*id, f)))
                    .collect(),
                })
                .collect(),
            idempotency_key: String::new(),
        };
        // The first requests may arrive before ingestion's catalog watch saw the group.
        let mut tries = 0;
        while let Err(e) = ingestion.ingest(request.clone()).await {
            tries += 1;
            anyhow::ensure!(tries < 50, "ingest: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let channel = connect_serving(ports[2]).await;
    let client = OnlineServingServiceClient::new(channel.clone());
    // Materialized when the last entity is served.
    let last = GetFeatureVectorsRequest {
        consistency: None,
        include_freshness: false,
        project: project.clone(),
        selector: Some(view_selector()),
        join_keys: vec!["customer_id".into()],
        entity_rows: vec![Row {
            values: vec![Value {
                kind: Some(Kind::Int64Value(args.entities as i64 - 1)),
            }],
        }],
        include_event_times: false,
    };
    loop {
        let response = client.clone().get_feature_vectors(last.clone()).await?;
        if response.into_inner().vectors[0].values[0] == value(args.entities as i64 - 1, 0) {
            break;
        }
        anyhow::ensure!(
            loading.elapsed() < Duration::from_secs(600),
            "entities not materialized within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "loaded {} entities through ingestion → event log → materialization in {:.1} s",
        args.entities,
        loading.elapsed().as_secs_f64()
    );
    Ok(Setup {
        channel,
        project,
        direct: None,
        process,
        data_dir: Some(data.path().to_path_buf()),
        _keep: Box::new(data),
    })
}

fn view_selector() -> FeatureSelector {
    FeatureSelector {
        selector: Some(Selector::View(FeatureViewRef {
            project: String::new(),
            name: "model".into(),
            version: 0,
        })),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let setup = match args.target {
        Target::Cassandra => setup_cassandra(&args).await?,
        Target::Standalone => setup_standalone(&args).await?,
    };
    anyhow::ensure!(
        !(args.secure || args.metrics) || setup.data_dir.is_some(),
        "--secure and --metrics run against --target standalone"
    );
    let (channel, project, direct) = (
        &setup.channel.clone(),
        &setup.project.clone(),
        &setup.direct.clone(),
    );
    let selector = Some(view_selector());
    let client = &OnlineServingServiceClient::new(channel.clone());

    let load = if args.rate > 0.0 {
        format!("open loop, {} requests/s", args.rate)
    } else {
        format!("closed loop, {} in flight", args.concurrency)
    };
    // Warm-up through the service (its plan cache, the store's caches).
    measure(
        args.concurrency,
        args.warmup,
        service_call(
            client,
            project,
            &selector,
            args.entities,
            10,
            Keys::Uniform,
            None,
        ),
    )
    .await;
    let path = match args.target {
        Target::Cassandra => "service",
        Target::Standalone => "standalone",
    };
    let mut results = Vec::new();
    for &batch in &args.batch {
        let call = service_call(
            client,
            project,
            &selector,
            args.entities,
            batch,
            args.keys,
            None,
        );
        results.push(timed(&args, setup.process.0.id(), path, batch, &load, call).await);

        if let Some(direct) = direct.clone() {
            let (n, mode) = (args.entities, args.keys);
            let (samples, wall) = run(&args, move |i| {
                let direct = direct.clone();
                let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let keys: Vec<Vec<u8>> = (0..batch)
                    .map(|_| {
                        direct
                            .encoder
                            .encode([Some(&Kind::Int64Value(pick(&mut state, n, mode)))])
                            .expect("key")
                    })
                    .collect();
                async move {
                    direct
                        .store
                        .get(&direct.table, &keys)
                        .await
                        .expect("direct read");
                }
            })
            .await;
            results.push(stats("direct-driver", batch, &load, samples, wall, None));
        }
    }

    results.push(
        health_floor(
            &args,
            channel.clone(),
            setup.process.0.id(),
            "health-check",
            &load,
        )
        .await,
    );
    // Stop the plain standalone (it holds the data directory's lock); keep
    // the directory for the restarts below.
    let (data_dir, keep) = {
        let Setup {
            process,
            data_dir,
            _keep: keep,
            ..
        } = setup;
        drop(process);
        (data_dir, keep)
    };
    if args.metrics {
        let data_dir = data_dir.as_deref().expect("checked above");
        for round in 0..args.rounds.max(1) {
            if round > 0 {
                let plain = Restarted::plain(data_dir, project, &selector).await;
                results.extend(plain.runs(&args, path, &load).await);
            }
            let (otlp, spans) = observed::otlp_receiver().await?;
            let observed = Restarted::observed(data_dir, project, &selector, otlp).await?;
            results.extend(observed.runs(&args, "observed", &load).await);
            let scraped = featurestore_integration_tests::prometheus::scrape(
                observed.metrics_port.expect("observed"),
            );
            // Spans leave in batches every few seconds.
            let waited = std::time::Instant::now();
            while spans.spans() == 0 && waited.elapsed() < std::time::Duration::from_secs(15) {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            println!(
                "observed (round {}): {} series lines served at /metrics after the runs, {} spans received so far (traces started at the default ratio)",
                round + 1,
                scraped.lines().filter(|l| !l.starts_with('#')).count(),
                spans.spans()
            );
        }
    }
    if args.secure {
        let data_dir = data_dir.clone().expect("checked above");
        let secure = Secure::start(&data_dir, "bench-serve-standalone", project).await?;
        let channel = secure.channel(secure.ports[2]).await;
        let client = &OnlineServingServiceClient::new(channel.clone());
        let token = Some(secure.token.clone());
        let call = |batch, keys| {
            service_call(
                client,
                project,
                &selector,
                args.entities,
                batch,
                keys,
                token.clone(),
            )
        };
        measure(args.concurrency, args.warmup, call(10, Keys::Uniform)).await;
        let pid = secure.process.0.id();
        for &batch in &args.batch {
            let call = call(batch, args.keys);
            results.push(timed(&args, pid, "tls+token", batch, &load, call).await);
        }
        results.push(health_floor(&args, channel, pid, "health+tls", &load).await);
    }
    drop(keep);

    println!(
        "online serving ({:?}): {} entities x 10 features, {load}, {:?} keys, {} s per run, {} cores (everything co-located)",
        args.target,
        args.entities,
        args.keys,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<14} {:>6} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8} {:>11} {:>10} {:>13}",
        "path",
        "batch",
        "requests",
        "vectors/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "cpu µs/req",
        "cpu µs/vec",
        "req/server-s"
    );
    let or_dash = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
    };
    for s in &results {
        println!(
            "{:<14} {:>6} {:>9} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11} {:>10} {:>13}",
            s.path,
            s.batch,
            s.requests,
            s.vectors_per_sec,
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.p999_ms,
            or_dash(s.server_cpu_us_per_request, 1),
            or_dash(s.server_cpu_us_per_vector, 2),
            or_dash(s.requests_per_server_cpu_sec, 0),
        );
    }
    for (path, what) in [
        ("tls+token", "TLS + token + roles"),
        ("observed", "metrics + traces"),
    ] {
        for &batch in &args.batch {
            let of = |p: &str| -> Vec<&Stats> {
                results
                    .iter()
                    .filter(|s| s.path == p && s.batch == batch)
                    .collect()
            };
            let (variant, plain) = (of(path), of("standalone"));
            if variant.is_empty() || plain.is_empty() {
                continue;
            }
            let p99 = |runs: &[&Stats]| median(runs.iter().map(|s| s.p99_ms).collect());
            let rate = |runs: &[&Stats]| median(runs.iter().map(|s| s.vectors_per_sec).collect());
            let over = match (variant.len(), plain.len()) {
                (1, 1) => "one run each".to_string(),
                (v, p) if v == p => format!("median of {v} runs each"),
                (v, p) => format!("median of {v} runs against {p}"),
            };
            println!(
                "batch {batch:>4}: {what} p99 {:+.2} ms, throughput {:+.1} % over plain ({over})",
                p99(&variant) - p99(&plain),
                (rate(&variant) / rate(&plain) - 1.0) * 100.0
            );
        }
    }
    for pair in results.chunks(2).filter(|_| direct.is_some()) {
        if let [service, direct] = pair
            && direct.path == "direct-driver"
        {
            println!(
                "batch {:>4}: service p99 overhead over the driver {:+.2} ms",
                service.batch,
                service.p99_ms - direct.p99_ms
            );
        }
    }
    let out = args.out.clone().unwrap_or_else(|| match args.target {
        Target::Cassandra => "bench-results/serve.json".into(),
        Target::Standalone => "bench-results/serve-standalone.json".into(),
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Standalone restarted over the data directory the setup filled: plain,
/// or with metrics served and traces exported (`--metrics`).
struct Restarted {
    process: Killed,
    client: OnlineServingServiceClient<tonic::transport::Channel>,
    project: String,
    selector: Option<FeatureSelector>,
    metrics_port: Option<u16>,
    _config: Option<tempfile::TempDir>,
}

impl Restarted {
    async fn plain(
        data_dir: &std::path::Path,
        project: &str,
        selector: &Option<FeatureSelector>,
    ) -> Self {
        let (process, ports) =
            featurestore_benches::spawn_standalone_with(data_dir, "bench-serve-standalone", None);
        Self::ready(process, ports, project, selector, None, None).await
    }

    async fn observed(
        data_dir: &std::path::Path,
        project: &str,
        selector: &Option<FeatureSelector>,
        otlp: std::net::SocketAddr,
    ) -> anyhow::Result<Self> {
        let (process, ports, metrics_port, config) =
            observed::spawn_standalone_with_metrics(data_dir, "bench-serve-standalone", otlp)?;
        Ok(Self::ready(
            process,
            ports,
            project,
            selector,
            Some(metrics_port),
            Some(config),
        )
        .await)
    }

    /// Once serving answers (its catalog has loaded).
    async fn ready(
        process: Killed,
        ports: [u16; 5],
        project: &str,
        selector: &Option<FeatureSelector>,
        metrics_port: Option<u16>,
        config: Option<tempfile::TempDir>,
    ) -> Self {
        let channel = featurestore_benches::channel(ports[2]).await;
        let client = OnlineServingServiceClient::new(channel);
        while client
            .clone()
            .get_feature_vectors(GetFeatureVectorsRequest {
                project: project.to_string(),
                selector: selector.clone(),
                join_keys: vec!["customer_id".into()],
                ..Default::default()
            })
            .await
            .is_err()
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Self {
            process,
            client,
            project: project.to_string(),
            selector: selector.clone(),
            metrics_port,
            _config: config,
        }
    }

    /// Warms it up, then one timed run per batch size, as rows `path`.
    async fn runs(&self, args: &Args, path: &'static str, load: &str) -> Vec<Stats> {
        measure(
            args.concurrency,
            args.warmup,
            self.call(args, 10, Keys::Uniform),
        )
        .await;
        let mut rows = Vec::new();
        for &batch in &args.batch {
            let call = self.call(args, batch, args.keys);
            rows.push(timed(args, self.process.0.id(), path, batch, load, call).await);
        }
        rows
    }

    fn call(
        &self,
        args: &Args,
        batch: usize,
        keys: Keys,
    ) -> impl Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    + Clone
    + Send
    + 'static {
        service_call(
            &self.client,
            &self.project,
            &self.selector,
            args.entities,
            batch,
            keys,
            None,
        )
    }
}

/// A request of `batch` random keys to the serving client, per worker `i`.
fn service_call(
    client: &OnlineServingServiceClient<tonic::transport::Channel>,
    project: &str,
    selector: &Option<FeatureSelector>,
    n: usize,
    batch: usize,
    mode: Keys,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let (client, project, selector) = (client.clone(), project.to_string(), selector.clone());
    move |i| {
        let mut client = client.clone();
        let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let request = GetFeatureVectorsRequest {
            consistency: None,
            include_freshness: false,
            project: project.clone(),
            selector: selector.clone(),
            join_keys: vec!["customer_id".into()],
            entity_rows: (0..batch)
                .map(|_| Row {
                    values: vec![Value {
                        kind: Some(Kind::Int64Value(pick(&mut state, n, mode))),
                    }],
                })
                .collect(),
            include_event_times: false,
        };
        let mut request = tonic::Request::new(request);
        if let Some(token) = &token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Box::pin(async move {
            let response = client.get_feature_vectors(request).await.expect("serve");
            debug_assert_eq!(response.into_inner().vectors.len(), batch);
        })
    }
}
