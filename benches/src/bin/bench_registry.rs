//! `make bench-registry`: latency of registry creates and gets over gRPC
//! against real etcd (registry in-process, loopback). Not a test: it only
//! reports, as text and as JSON (`bench-results/registry.json`).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Parser;
use featurestore_domain::fixtures::{entity, group};
use featurestore_integration_tests::registry::RegistrySandbox;
use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateProjectRequest, GetFeatureGroupRequest,
    Project, ScalarType,
};
use futures::{StreamExt, stream};
use serde::Serialize;

#[derive(Debug, Parser)]
struct Args {
    /// Feature groups to create.
    #[arg(long, default_value_t = 300)]
    creates: usize,
    /// Gets to issue (spread over the created groups).
    #[arg(long, default_value_t = 3000)]
    gets: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value = "bench-results/registry.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Stats {
    operation: &'static str,
    count: usize,
    concurrency: usize,
    ops_per_sec: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn stats(
    operation: &'static str,
    mut samples: Vec<Duration>,
    wall: Duration,
    concurrency: usize,
) -> Stats {
    samples.sort();
    let q = |p: f64| featurestore_benches::quantile_ms(&samples, p);
    Stats {
        operation,
        count: samples.len(),
        concurrency,
        ops_per_sec: samples.len() as f64 / wall.as_secs_f64(),
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p99_ms: q(0.99),
        max_ms: q(1.0),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let registry = RegistrySandbox::start().await;
    let client = registry.client().await;
    {
        let mut c = client.clone();
        c.create_project(CreateProjectRequest {
            project: Some(Project {
                name: "bench".into(),
                ..Default::default()
            }),
        })
        .await?;
        c.create_entity(CreateEntityRequest {
            entity: Some(entity(
                "bench",
                "customer",
                &[("customer_id", ScalarType::Int64)],
            )),
        })
        .await?;
    }
    let features: Vec<(String, &str)> = (0..10).map(|i| (format!("f{i}"), "float64")).collect();
    let features: Vec<(&str, &str)> = features.iter().map(|(n, t)| (n.as_str(), *t)).collect();

    let started = Instant::now();
    let creates: Vec<Duration> = stream::iter(0..args.creates)
        .map(|i| {
            let mut c = client.clone();
            let g = group("bench", &format!("g{i}"), "customer", &features);
            async move {
                let t = Instant::now();
                c.create_feature_group(CreateFeatureGroupRequest {
                    feature_group: Some(g),
                })
                .await
                .expect("create");
                t.elapsed()
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let create_stats = stats(
        "create_feature_group",
        creates,
        started.elapsed(),
        args.concurrency,
    );

    let started = Instant::now();
    let gets: Vec<Duration> = stream::iter(0..args.gets)
        .map(|i| {
            let mut c = client.clone();
            let name = format!("g{}", i % args.creates.max(1));
            async move {
                let t = Instant::now();
                c.get_feature_group(GetFeatureGroupRequest {
                    project: "bench".into(),
                    name,
                    version: 1,
                })
                .await
                .expect("get");
                t.elapsed()
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let get_stats = stats(
        "get_feature_group",
        gets,
        started.elapsed(),
        args.concurrency,
    );

    let results = [create_stats, get_stats];
    println!(
        "registry over gRPC + etcd (loopback, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<22} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "operation", "count", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for s in &results {
        println!(
            "{:<22} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.operation, s.count, s.ops_per_sec, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
        );
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    println!("wrote {}", args.out.display());
    registry.stop().await?;
    Ok(())
}
