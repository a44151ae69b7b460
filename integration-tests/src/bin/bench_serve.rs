//! `make bench-serve`: online serving under load, and the same reads done
//! directly with the driver (no service in between) in the same run, so the
//! service's overhead is visible. Everything is co-located on this machine:
//! the `online-serving` release binary, Cassandra, etcd, and this load
//! generator. Reports throughput and p50/p90/p99/p99.9 as text and JSON
//! (`bench-results/serve.json`). Not a test: it never fails on numbers.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use featurestore_domain::{
    EntityKeyEncoder,
    fixtures::{group, view},
};
use featurestore_integration_tests::{
    etcd_endpoint, materialization::cassandra_node, registry::RegistrySandbox,
};
use featurestore_onlinestore::{
    CassandraConfig, CassandraStore, OnlineRow, OnlineStore, OnlineTable,
};
use featurestore_proto::v1::{
    CreateFeatureGroupRequest, CreateFeatureViewRequest, FeatureSelector, FeatureViewRef,
    GetFeatureVectorsRequest, Row, Value, feature_selector::Selector,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Keys {
    Uniform,
    Skewed,
}

#[derive(Debug, Parser)]
struct Args {
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
    #[arg(long, default_value = "bench-results/serve.json")]
    out: PathBuf,
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
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
) -> Stats {
    samples.sort();
    let q = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e3
    };
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let registry = RegistrySandbox::start().await;
    let mut admin = registry.client().await;
    let project = registry.create_customer_project("sbench").await;
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let features: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "float64")).collect();
    let g = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(&project, "stats", "customer", &features)),
        })
        .await?
        .into_inner();
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(&project, "model", &[("stats", &[])])),
        })
        .await?;

    // Load the online store directly.
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
                values: (0..10)
                    .map(|f| Value {
                        kind: Some(Kind::Float64Value((*id * 10 + f) as f64)),
                    })
                    .collect(),
            })
            .collect();
        store.upsert(&table, &rows).await?;
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?
        .parent()
        .expect("dir")
        .join("online-serving");
    anyhow::ensure!(
        exe.exists(),
        "{} not built: run `make bench-serve`",
        exe.display()
    );
    let _serving = Killed(
        Command::new(exe)
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
    let client = loop {
        if let Ok(c) = OnlineServingServiceClient::connect(format!("http://127.0.0.1:{port}")).await
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let selector = Some(FeatureSelector {
        selector: Some(Selector::View(FeatureViewRef {
            project: String::new(),
            name: "model".into(),
            version: 0,
        })),
    });

    let load = if args.rate > 0.0 {
        format!("open loop, {} requests/s", args.rate)
    } else {
        format!("closed loop, {} in flight", args.concurrency)
    };
    {
        let (store, table, encoder) = (store.clone(), table.clone(), encoder.clone());
        let n = args.entities;
        measure(args.concurrency, args.warmup, move |i| {
            let (store, table) = (store.clone(), table.clone());
            let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let keys: Vec<Vec<u8>> = (0..10)
                .map(|_| {
                    encoder
                        .encode([Some(&Kind::Int64Value(pick(&mut state, n, Keys::Uniform)))])
                        .expect("key")
                })
                .collect();
            async move {
                store.get(&table, &keys).await.expect("warm-up read");
            }
        })
        .await;
    }
    let mut results = Vec::new();
    for &batch in &args.batch {
        let n = args.entities;
        let mode = args.keys;
        // The service's plan and connections.
        let warm = GetFeatureVectorsRequest {
            project: project.clone(),
            selector: selector.clone(),
            join_keys: vec!["customer_id".into()],
            entity_rows: vec![Row {
                values: vec![Value {
                    kind: Some(Kind::Int64Value(1)),
                }],
            }],
            include_event_times: false,
        };
        client.clone().get_feature_vectors(warm).await?;

        let (client2, project2, selector2) = (client.clone(), project.clone(), selector.clone());
        let (samples, wall) = run(&args, move |i| {
            let mut client = client2.clone();
            let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let request = GetFeatureVectorsRequest {
                project: project2.clone(),
                selector: selector2.clone(),
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
            async move {
                let response = client.get_feature_vectors(request).await.expect("serve");
                debug_assert_eq!(response.into_inner().vectors.len(), batch);
            }
        })
        .await;
        results.push(stats("service", batch, &load, samples, wall));

        let (store2, table2, encoder2) = (store.clone(), table.clone(), encoder.clone());
        let (samples, wall) = run(&args, move |i| {
            let (store, table) = (store2.clone(), table2.clone());
            let mut state = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let keys: Vec<Vec<u8>> = (0..batch)
                .map(|_| {
                    encoder2
                        .encode([Some(&Kind::Int64Value(pick(&mut state, n, mode)))])
                        .expect("key")
                })
                .collect();
            async move {
                store.get(&table, &keys).await.expect("direct read");
            }
        })
        .await;
        results.push(stats("direct-driver", batch, &load, samples, wall));
    }

    println!(
        "online serving: {} entities x 10 features, {load}, {:?} keys, {} s per run, {} cores (everything co-located)",
        args.entities,
        args.keys,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<14} {:>6} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8}",
        "path", "batch", "requests", "vectors/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"
    );
    for s in &results {
        println!(
            "{:<14} {:>6} {:>9} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.path, s.batch, s.requests, s.vectors_per_sec, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms
        );
    }
    for pair in results.chunks(2) {
        if let [service, direct] = pair {
            println!(
                "batch {:>4}: service p99 overhead over the driver {:+.2} ms",
                service.batch,
                service.p99_ms - direct.p99_ms
            );
        }
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
