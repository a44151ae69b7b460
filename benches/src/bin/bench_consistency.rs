//! `make bench-consistency`: what reading your own writes costs. Against
//! the distributed services (`ingestion`, `materialization` and
//! `online-serving` release binaries over the test etcd, Kafka and
//! Cassandra) or the `standalone` binary (`--target standalone`):
//!
//! 1. **AFTER_WRITE**: one-row ingests at a steady rate (open loop), each
//!    followed at once by a `GetFeatureVector` with the ingest's write
//!    token; the time from the acknowledgement to the answer that has the
//!    row (p50/p99/max), and how many answers lacked it.
//! 2. **EVENTUAL** reads of the same keys (closed loop, 8 in flight):
//!    throughput, p50/p99 and serving CPU per request, to set beside
//!    `make bench-serve` (same request shape: one vector of a view).
//! 3. **Waiting requests**: many `AFTER_WRITE` requests held at once
//!    (distributed: the materializer is paused with SIGSTOP, so every one
//!    waits; standalone: they wait on a 100,000-row ingest still being
//!    materialized) and the serving process's resident memory meanwhile.
//!
//! Text and JSON (`bench-results/consistency-<target>.json`). Not a test:
//! it never fails on numbers.

use std::{
    path::PathBuf,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use featurestore_benches::{Stack, cpu_seconds, quantile_ms, rss_bytes};
use featurestore_domain::fixtures::{self, group, view};
use featurestore_integration_tests::registry::RegistrySandbox;
use featurestore_proto::v1::{
    Consistency, CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest,
    CreateProjectRequest, EntityKey, FeatureGroupRef, FeatureSelector, FeatureStatus,
    FeatureViewRef, GetFeatureVectorRequest, IngestRequest, Row, ScalarType, Value,
    consistency::Level, feature_selector::Selector,
    ingestion_service_client::IngestionServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
    registry_service_client::RegistryServiceClient, value::Kind,
};
use serde::Serialize;
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Target {
    /// Separate service processes over etcd, Kafka and Cassandra.
    Distributed,
    /// The `standalone` binary over its embedded stores.
    Standalone,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "distributed")]
    target: Target,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// One-row ingests per second in the AFTER_WRITE measurement.
    #[arg(long, default_value_t = 50)]
    rate: u64,
    /// AFTER_WRITE requests held waiting at once.
    #[arg(long, default_value_t = 1_000)]
    waiters: usize,
    /// Default: bench-results/consistency-<target>.json.
    #[arg(long)]
    out: Option<PathBuf>,
}

const BASE_TIME: i64 = 1_790_000_000_000_000;

#[derive(Debug, Serialize)]
struct Report {
    target: Target,
    cores: usize,
    after_write_rate_per_sec: u64,
    after_write_samples: usize,
    after_write_missing: usize,
    after_write_failed: usize,
    /// Acknowledgement → AFTER_WRITE answer with the row.
    after_write_p50_ms: f64,
    after_write_p99_ms: f64,
    after_write_max_ms: f64,
    ingest_p50_ms: f64,
    ingest_p99_ms: f64,
    eventual_requests_per_sec: f64,
    eventual_p50_ms: f64,
    eventual_p99_ms: f64,
    /// Serving process CPU per EVENTUAL request (standalone: the whole
    /// process, ingestion and materialization idle meanwhile).
    eventual_server_cpu_us_per_request: f64,
    waiters: usize,
    /// Of `waiters`, answered with the row (the rest: an error).
    waiters_answered: usize,
    /// Answered more than 50 ms after they were sent (really waited).
    waiters_waited: usize,
    serving_rss_before_mb: f64,
    serving_rss_waiting_peak_mb: f64,
    serving_rss_per_waiter_kb: f64,
}

async fn register(admin: &mut RegistryServiceClient<Channel>, project: &str) -> anyhow::Result<()> {
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
    admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(
                project,
                "stats",
                "customer",
                &[("f0", "float64"), ("f1", "float64"), ("f2", "float64")],
            )),
        })
        .await?;
    admin
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view(project, "model", &[("stats", &[])])),
        })
        .await?;
    Ok(())
}

/// Room for the waiting requests (the default limit is 1,024), and waits
/// longer than the pause of the materializer (defaults: 2.5 s within 3 s).
const SERVING_ENV: [(&str, &str); 3] = [
    ("SERVER__CONCURRENCY_LIMIT", "20000"),
    ("SERVER__REQUEST_TIMEOUT", "30s"),
    ("CONSISTENCY__MAX_WAIT", "20s"),
];

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn row(key: i64) -> Row {
    Row {
        values: vec![
            v(Kind::Int64Value(key)),
            v(Kind::TimestampValue(BASE_TIME + key)),
            v(Kind::Float64Value(key as f64)),
            v(Kind::Float64Value(1.0)),
            v(Kind::Float64Value(2.0)),
        ],
    }
}

fn ingest_request(project: &str, keys: std::ops::Range<i64>) -> IngestRequest {
    IngestRequest {
        group: Some(FeatureGroupRef {
            project: project.into(),
            name: "stats".into(),
            version: 0,
        }),
        columns: ["customer_id", "event_time", "f0", "f1", "f2"]
            .map(String::from)
            .to_vec(),
        rows: keys.map(row).collect(),
        idempotency_key: String::new(),
    }
}

fn read_request(
    project: &str,
    key: i64,
    tokens: Vec<Vec<u8>>,
    max_wait_millis: u32,
) -> GetFeatureVectorRequest {
    GetFeatureVectorRequest {
        project: project.into(),
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
        consistency: (!tokens.is_empty()).then(|| Consistency {
            level: Level::AfterWrite as i32,
            write_tokens: tokens,
            max_wait_millis,
            ..Consistency::default()
        }),
        include_freshness: false,
    }
}

/// Whether an answer has `key`'s row (its first feature is the key).
fn has_row(vector: Option<featurestore_proto::v1::FeatureVector>, key: i64) -> bool {
    vector.is_some_and(|v| {
        v.statuses.first() == Some(&(FeatureStatus::Present as i32))
            && v.values.first() == Some(&self::v(Kind::Float64Value(key as f64)))
    })
}

/// Ingests one row, then reads it with its token; `(ingest, ack → answer,
/// answer had the row)`.
async fn write_then_read(stack: &Stack, key: i64) -> anyhow::Result<(Duration, Duration, bool)> {
    let sent = Instant::now();
    let ack = IngestionServiceClient::new(stack.ingestion.clone())
        .ingest(ingest_request(&stack.project, key..key + 1))
        .await?
        .into_inner();
    let acked = Instant::now();
    let answer = OnlineServingServiceClient::new(stack.serving.clone())
        .get_feature_vector(read_request(
            &stack.project,
            key,
            vec![ack.write_token],
            2_000,
        ))
        .await?
        .into_inner();
    Ok((acked - sent, acked.elapsed(), has_row(answer.vector, key)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let stack = match args.target {
        Target::Distributed => {
            let registry = RegistrySandbox::start().await;
            let project = featurestore_integration_tests::unique_name("cbench");
            register(&mut registry.client().await, &project).await?;
            Stack::distributed(
                dir.path(),
                registry,
                project,
                "bench-consistency",
                &SERVING_ENV,
            )
            .await
        }
        Target::Standalone => {
            let stack =
                Stack::standalone(dir.path(), "cbench", "bench-consistency-standalone").await;
            register(&mut stack.registry().await, &stack.project).await?;
            stack
        }
    };
    // Warm-up: ingestion knows the group (its catalog watch), the topic and
    // tables exist, and a first AFTER_WRITE read has the row.
    let started = Instant::now();
    loop {
        match write_then_read(&stack, 0).await {
            Ok((_, _, true)) => break,
            other => {
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(120),
                    "not ready after 2 minutes: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    // 1. AFTER_WRITE at a steady rate.
    let stack = Arc::new(stack);
    let count = (args.rate * args.seconds).max(1) as i64;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for key in 1..=count {
        let stack = stack.clone();
        let at = started + Duration::from_secs_f64((key - 1) as f64 / args.rate as f64);
        tasks.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            write_then_read(&stack, key).await
        });
    }
    let (mut ingests, mut reads, mut missing, mut failed) = (Vec::new(), Vec::new(), 0, 0);
    while let Some(done) = tasks.join_next().await {
        match done? {
            Ok((ingest, read, present)) => {
                ingests.push(ingest);
                reads.push(read);
                missing += usize::from(!present);
            }
            Err(e) => {
                failed += 1;
                eprintln!("write then read failed: {e}");
            }
        }
    }
    ingests.sort();
    reads.sort();

    // 2. EVENTUAL reads of those keys, closed loop.
    let cpu0 = cpu_seconds(stack.serving_pid);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8_i64 {
        let stack = stack.clone();
        workers.spawn(async move {
            let mut client = OnlineServingServiceClient::new(stack.serving.clone());
            let mut latencies = Vec::new();
            let mut key = w;
            while Instant::now() < deadline {
                key = (key * 7 + 13) % count + 1;
                let sent = Instant::now();
                client
                    .get_feature_vector(read_request(&stack.project, key, Vec::new(), 0))
                    .await
                    .expect("eventual read");
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    let mut eventual = Vec::new();
    while let Some(latencies) = workers.join_next().await {
        eventual.extend(latencies?);
    }
    let eventual_seconds = started.elapsed().as_secs_f64();
    let eventual_cpu = cpu_seconds(stack.serving_pid) - cpu0;
    eventual.sort();

    // 3. Many requests waiting at once.
    let rss_before = rss_bytes(stack.serving_pid);
    let (tokens, key) = match stack.materialization_pid {
        Some(pid) => {
            signal(pid, "STOP")?;
            let ack = IngestionServiceClient::new(stack.ingestion.clone())
                .ingest(ingest_request(&stack.project, count + 1..count + 2))
                .await?
                .into_inner();
            (vec![ack.write_token], count + 1)
        }
        None => {
            let mut tokens = Vec::new();
            let first = count + 1;
            for chunk in 0..20 {
                let from = first + chunk * 5_000;
                let ack = IngestionServiceClient::new(stack.ingestion.clone())
                    .max_encoding_message_size(64 << 20)
                    .ingest(ingest_request(&stack.project, from..from + 5_000))
                    .await?
                    .into_inner();
                tokens.push(ack.write_token);
            }
            (tokens, first + 99_999)
        }
    };
    let mut waiting = tokio::task::JoinSet::new();
    for _ in 0..args.waiters {
        let mut client = OnlineServingServiceClient::new(stack.serving.clone());
        let request = read_request(&stack.project, key, tokens.clone(), 20_000);
        waiting.spawn(async move {
            let sent = Instant::now();
            let answer = client.get_feature_vector(request).await;
            (
                sent.elapsed(),
                answer.map(|a| has_row(a.into_inner().vector, key)),
            )
        });
    }
    let mut peak = rss_before;
    let held = Instant::now();
    while held.elapsed() < Duration::from_millis(1_500) && !waiting.is_empty() {
        peak = peak.max(rss_bytes(stack.serving_pid));
        tokio::time::sleep(Duration::from_millis(20)).await;
        if stack.materialization_pid.is_none() && waiting.len() < args.waiters {
            break;
        }
    }
    peak = peak.max(rss_bytes(stack.serving_pid));
    if let Some(pid) = stack.materialization_pid {
        signal(pid, "CONT")?;
    }
    let (mut answered, mut waited) = (0, 0);
    while let Some(done) = waiting.join_next().await {
        let (took, answer) = done?;
        match answer {
            Ok(true) => answered += 1,
            Ok(false) => eprintln!("a waiting request was answered without the row"),
            Err(e) => eprintln!("a waiting request failed: {e}"),
        }
        waited += usize::from(took > Duration::from_millis(50));
    }

    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let report = Report {
        target: args.target,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        after_write_rate_per_sec: args.rate,
        after_write_samples: reads.len(),
        after_write_missing: missing,
        after_write_failed: failed,
        after_write_p50_ms: quantile_ms(&reads, 0.5),
        after_write_p99_ms: quantile_ms(&reads, 0.99),
        after_write_max_ms: quantile_ms(&reads, 1.0),
        ingest_p50_ms: quantile_ms(&ingests, 0.5),
        ingest_p99_ms: quantile_ms(&ingests, 0.99),
        eventual_requests_per_sec: eventual.len() as f64 / eventual_seconds,
        eventual_p50_ms: quantile_ms(&eventual, 0.5),
        eventual_p99_ms: quantile_ms(&eventual, 0.99),
        eventual_server_cpu_us_per_request: eventual_cpu * 1e6 / eventual.len().max(1) as f64,
        waiters: args.waiters,
        waiters_answered: answered,
        waiters_waited: waited,
        serving_rss_before_mb: mb(rss_before),
        serving_rss_waiting_peak_mb: mb(peak),
        serving_rss_per_waiter_kb: peak.saturating_sub(rss_before) as f64
            / 1024.0
            / waited.max(1) as f64,
    };
    println!(
        "consistency ({:?}, {} cores, everything co-located)",
        report.target, report.cores
    );
    println!(
        "  AFTER_WRITE at {}/s: ack -> answer with the row p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} ({} without the row, {} failed); ingest p50 {:.1} ms, p99 {:.1} ms",
        report.after_write_rate_per_sec,
        report.after_write_p50_ms,
        report.after_write_p99_ms,
        report.after_write_max_ms,
        report.after_write_samples,
        report.after_write_missing,
        report.after_write_failed,
        report.ingest_p50_ms,
        report.ingest_p99_ms
    );
    println!(
        "  EVENTUAL, 8 in flight: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, serving CPU {:.0} µs/request",
        report.eventual_requests_per_sec,
        report.eventual_p50_ms,
        report.eventual_p99_ms,
        report.eventual_server_cpu_us_per_request
    );
    println!(
        "  {} AFTER_WRITE requests at once: {} answered with the row, {} waited > 50 ms; serving RSS {:.1} MB -> peak {:.1} MB ({:.1} KB per waiting request)",
        report.waiters,
        report.waiters_answered,
        report.waiters_waited,
        report.serving_rss_before_mb,
        report.serving_rss_waiting_peak_mb,
        report.serving_rss_per_waiter_kb
    );
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from(match args.target {
            Target::Distributed => "bench-results/consistency-distributed.json",
            Target::Standalone => "bench-results/consistency-standalone.json",
        })
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Sends `kill -<name>` to a process (pausing and resuming the materializer).
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} {pid}: {status}");
    Ok(())
}
