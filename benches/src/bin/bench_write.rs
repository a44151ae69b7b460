//! `make bench-write`: the write path under load, everything co-located on
//! this machine. Ingestion and materialization run as their own (release)
//! processes so their CPU time can be read from /proc; the registry runs in
//! this process. Reports ingest rows/s, materialized rows/s, rows per
//! CPU-second of each service, and freshness (ingest acknowledged → row
//! readable online) as text and JSON (`bench-results/write.json`). Not a
//! test: it never fails on numbers.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Parser;
use featurestore_benches::{Killed, cpu_seconds, free_port, sibling_binary, spawn_service};
use featurestore_domain::{EntityKeyEncoder, fixtures::group};
use featurestore_integration_tests::{
    etcd_endpoint, ingestion::kafka_bootstrap, materialization::cassandra_node,
    registry::RegistrySandbox,
};
use featurestore_offlinestore::{DeltaStore, OfflineTable};
use featurestore_onlinestore::{CassandraConfig, CassandraStore, OnlineStore, OnlineTable};
use featurestore_proto::v1::{
    CreateFeatureGroupRequest, FeatureGroupRef, IngestRequest, Row, Value,
    ingestion_service_client::IngestionServiceClient, value::Kind,
};
use futures::{StreamExt, stream};
use serde::Serialize;

#[derive(Debug, Parser)]
struct Args {
    /// Rows to ingest.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per Ingest request.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Ingest requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Pace ingestion at this many rows/s (0 = as fast as possible). A pace
    /// below the materializer's throughput measures freshness without a
    /// backlog; flat out measures throughput.
    #[arg(long, default_value_t = 0)]
    rate: usize,
    /// Distinct entity keys.
    #[arg(long, default_value_t = 50_000)]
    keys: usize,
    #[arg(long, default_value = "bench-results/write.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Report {
    rows: usize,
    rate_limit_rows_per_sec: usize,
    features: usize,
    partitions: u32,
    batch: usize,
    concurrency: usize,
    ingest_seconds: f64,
    ingest_rows_per_sec: f64,
    ingestion_cpu_seconds: f64,
    ingestion_rows_per_cpu_sec: f64,
    materialize_seconds: f64,
    materialized_rows_per_sec: f64,
    materialization_cpu_seconds: f64,
    materialization_rows_per_cpu_sec: f64,
    freshness_samples: usize,
    freshness_p50_ms: f64,
    freshness_p99_ms: f64,
    freshness_max_ms: f64,
    cores: usize,
}

fn spawn(name: &str, prefix: &str, env: &[(String, String)], log: &Path) -> Killed {
    spawn_service(&sibling_binary(name, "bench-write"), prefix, env, log)
}

/// An acknowledged row watched online: encoded key, event time, ack time.
type Watched = (Vec<u8>, i64, Instant);

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let registry = RegistrySandbox::start().await;
    let mut admin = registry.client().await;
    let project = registry.create_customer_project("bench").await;
    let feature_names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let features: Vec<(&str, &str)> = feature_names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.as_str(),
                if i < 8 {
                    "float64"
                } else if i < 10 {
                    "int64"
                } else {
                    "string"
                },
            )
        })
        .collect();
    let mut g = group(&project, "events", "customer", &features);
    g.partitions = 8;
    let g = admin
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(g),
        })
        .await?
        .into_inner();

    let dir = tempfile::tempdir()?;
    let offline_root = dir.path().join("offline");
    let ingest_port = free_port();
    let common = |port: u16| -> Vec<(String, String)> {
        vec![
            ("SERVER__LISTEN_ADDR".into(), format!("127.0.0.1:{port}")),
            (
                "ETCD__ENDPOINTS".into(),
                format!("[\"{}\"]", etcd_endpoint()),
            ),
            ("ETCD__ROOT".into(), registry.root().to_string()),
            ("KAFKA__BOOTSTRAP_SERVERS".into(), kafka_bootstrap()),
            ("TELEMETRY__LOG_LEVEL".into(), "warn".into()),
        ]
    };
    let ingestion = spawn(
        "ingestion",
        "FS_INGESTION_",
        &common(ingest_port),
        &dir.path().join("ingestion.log"),
    );
    let mut mat_env = common(free_port());
    mat_env.extend([
        ("KAFKA__GROUP_ID".to_string(), format!("mat_{project}")),
        ("KAFKA__TOPIC_PREFIX".to_string(), format!("fs.{project}.")),
        (
            "CASSANDRA__NODES".to_string(),
            format!("[\"{}\"]", cassandra_node()),
        ),
        ("CASSANDRA__KEYSPACE".to_string(), "fs_bench".into()),
        (
            "OFFLINE__ROOT".to_string(),
            offline_root.display().to_string(),
        ),
    ]);
    let materialization = spawn(
        "materialization",
        "FS_MATERIALIZATION_",
        &mat_env,
        &dir.path().join("materialization.log"),
    );

    let url = format!("http://127.0.0.1:{ingest_port}");
    let client = loop {
        if let Ok(c) = IngestionServiceClient::connect(url.clone()).await {
            break c
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Warm up: topic and tables exist, connections open.
    let columns: Vec<String> = ["customer_id", "event_time"]
        .iter()
        .map(|s| s.to_string())
        .chain(feature_names.iter().cloned())
        .collect();
    let row = |i: usize| Row {
        values: std::iter::once(v(Kind::Int64Value((i % args.keys) as i64)))
            .chain(std::iter::once(v(Kind::TimestampValue(
                1_700_000_000_000_000 + i as i64,
            ))))
            .chain((0..8).map(|f| v(Kind::Float64Value((i * 31 + f) as f64 * 0.5))))
            .chain((0..2).map(|f| v(Kind::Int64Value((i + f) as i64))))
            .chain(std::iter::once(v(Kind::StringValue(format!(
                "s{}",
                i % 97
            )))))
            .collect(),
    };
    let request = |rows: Vec<Row>| IngestRequest {
        group: Some(FeatureGroupRef {
            project: project.clone(),
            name: "events".into(),
            version: 1,
        }),
        columns: columns.clone(),
        rows,
        idempotency_key: String::new(),
    };
    client
        .clone()
        .ingest(request(vec![row(usize::MAX / 2)]))
        .await?;
    let online = CassandraStore::connect(CassandraConfig {
        nodes: vec![cassandra_node()],
        keyspace: "fs_bench".into(),
        ..CassandraConfig::default()
    })
    .await?;
    let online_table = OnlineTable::for_group(&g);
    let offline = DeltaStore::new(offline_root.to_str().unwrap())?;
    let offline_table = OfflineTable::for_group(&g);
    while offline.row_count(&offline_table).await.unwrap_or(0) < 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Freshness: every acknowledged batch's last row is watched online.
    let encoder = EntityKeyEncoder::new(&g.primary_key);
    let pending: Arc<Mutex<VecDeque<Watched>>> = Arc::new(Mutex::new(VecDeque::new()));
    let freshness: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (pending, freshness, done) = (pending.clone(), freshness.clone(), done.clone());
        let table = online_table.clone();
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed)
                || !pending.lock().unwrap().is_empty()
            {
                let batch: Vec<Watched> = pending.lock().unwrap().iter().cloned().collect();
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let keys: Vec<Vec<u8>> = batch.iter().map(|(k, _, _)| k.clone()).collect();
                if let Ok(rows) = online.get(&table, &keys).await {
                    let now = Instant::now();
                    let mut p = pending.lock().unwrap();
                    for ((key, time, acked), row) in batch.iter().zip(rows) {
                        if row.is_some_and(|r| r.event_time_micros >= *time) {
                            freshness
                                .lock()
                                .unwrap()
                                .push(now.duration_since(*acked).as_secs_f64() * 1e3);
                            p.retain(|(k, t, _)| !(k == key && t == time));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let ingestion_cpu0 = cpu_seconds(ingestion.0.id());
    let mat_cpu0 = cpu_seconds(materialization.0.id());
    let started = Instant::now();
    let batches: Vec<(usize, usize)> = (0..args.rows)
        .step_by(args.batch)
        .map(|s| (s, (s + args.batch).min(args.rows)))
        .collect();
    let results: Vec<anyhow::Result<()>> = stream::iter(batches)
        .map(|(from, to)| {
            let mut client = client.clone();
            let rows: Vec<Row> = (from..to).map(row).collect();
            let request = request(rows);
            let pending = pending.clone();
            let encoder = encoder.clone();
            let not_before = (args.rate > 0)
                .then(|| started + Duration::from_secs_f64(from as f64 / args.rate as f64));
            async move {
                if let Some(at) = not_before {
                    tokio::time::sleep_until(at.into()).await;
                }
                client.ingest(request).await?;
                let last = to - 1;
                let key = encoder.encode([Some(&Kind::Int64Value((last % args.keys) as i64))])?;
                pending.lock().unwrap().push_back((
                    key,
                    1_700_000_000_000_000 + last as i64,
                    Instant::now(),
                ));
                Ok(())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let ingestion_cpu = cpu_seconds(ingestion.0.id()) - ingestion_cpu0;
    let target = args.rows + 1;
    while offline.row_count(&offline_table).await.unwrap_or(0) < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "materialization did not finish"
        );
    }
    let materialize_seconds = started.elapsed().as_secs_f64();
    let mat_cpu = cpu_seconds(materialization.0.id()) - mat_cpu0;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(30), watcher).await;
    let mut fresh = freshness.lock().unwrap().clone();
    fresh.sort_by(f64::total_cmp);

    let report = Report {
        rows: args.rows,
        rate_limit_rows_per_sec: args.rate,
        features: 11,
        partitions: g.partitions,
        batch: args.batch,
        concurrency: args.concurrency,
        ingest_seconds,
        ingest_rows_per_sec: args.rows as f64 / ingest_seconds,
        ingestion_cpu_seconds: ingestion_cpu,
        ingestion_rows_per_cpu_sec: args.rows as f64 / ingestion_cpu.max(0.01),
        materialize_seconds,
        materialized_rows_per_sec: args.rows as f64 / materialize_seconds,
        materialization_cpu_seconds: mat_cpu,
        materialization_rows_per_cpu_sec: args.rows as f64 / mat_cpu.max(0.01),
        freshness_samples: fresh.len(),
        freshness_p50_ms: quantile(&fresh, 0.5),
        freshness_p99_ms: quantile(&fresh, 0.99),
        freshness_max_ms: quantile(&fresh, 1.0),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    println!(
        "write path: {} rows x {} features, {} partitions, batches of {}, {} in flight, {} cores (everything co-located)",
        report.rows,
        report.features,
        report.partitions,
        report.batch,
        report.concurrency,
        report.cores
    );
    println!(
        "  ingest:       {:>10.0} rows/s  ({:.2} s)   ingestion process: {:.2} CPU-s -> {:>9.0} rows/CPU-s",
        report.ingest_rows_per_sec,
        report.ingest_seconds,
        report.ingestion_cpu_seconds,
        report.ingestion_rows_per_cpu_sec
    );
    println!(
        "  materialized: {:>10.0} rows/s  ({:.2} s)   materialization process: {:.2} CPU-s -> {:>9.0} rows/CPU-s",
        report.materialized_rows_per_sec,
        report.materialize_seconds,
        report.materialization_cpu_seconds,
        report.materialization_rows_per_cpu_sec
    );
    println!(
        "  freshness (ack -> readable online): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} samples",
        report.freshness_p50_ms,
        report.freshness_p99_ms,
        report.freshness_max_ms,
        report.freshness_samples
    );
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("wrote {}", args.out.display());
    drop(ingestion);
    drop(materialization);
    Ok(())
}
