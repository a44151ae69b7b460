//! `make bench-offline-aggregations`: aggregated features in training data
//! at scale, by the query engine in process (`libs/query-engine`, what
//! `GetHistoricalFeatures` runs) and by DuckDB over the same files in the
//! same run.
//!
//! The event group `payments` of `bench_aggregations` (8 aggregated
//! features over 1 h .. 90 d) with `--keys` cards × `--events-per-key`
//! events over `--span-days`, written straight to its Delta table as
//! materialization writes it (no services: ingesting 10M events through
//! them takes longer than the query); `--entity-rows` random (card, time)
//! rows. The engine runs once per `--memory-mb` limit (the default 1 GiB
//! takes the sorting, spilling path for 10M events; a large one lets the
//! events be held in memory), each with its wall time and the peak resident
//! memory of this process; DuckDB (`dev/python/bench_duckdb_aggregations.py`)
//! its wall time. Checksums compared as in `bench_aggregations` (exact for
//! count, max and last). Text and JSON
//! (`bench-results/offline-aggregations.json`). Not a test: it never fails
//! on numbers.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use arrow_array::RecordBatch;
use clap::Parser;
use featurestore_benches::{
    aggregations::{
        Checksums, DAY, FEATURES, aggregations, checksums, differing, duckdb, entity_rows,
    },
    peak_rss_mb, reset_peak_rss,
};
use featurestore_domain::fixtures;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{FeatureGroup, ScalarType, Value, value::Kind};
use featurestore_query_engine::{AsOf, EntitySource, GroupRead, OfflineQuery, QueryConfig};
use futures::TryStreamExt;
use serde::Serialize;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    keys: i64,
    #[arg(long, default_value_t = 100)]
    events_per_key: i64,
    /// Days the events of a card are spread over (ending now).
    #[arg(long, default_value_t = 90)]
    span_days: i64,
    #[arg(long, default_value_t = 1_000_000)]
    entity_rows: i64,
    /// The engine's memory limits, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1024")]
    memory_mb: Vec<usize>,
    #[arg(long, default_value = "bench-results/offline-aggregations.json")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Run {
    memory_limit_mb: usize,
    wall_s: f64,
    rows_per_second: f64,
    peak_rss_mb: f64,
    vs_duckdb: f64,
    differs_from_duckdb: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    cores: usize,
    keys: i64,
    events: i64,
    entity_rows: i64,
    features: usize,
    write_s: f64,
    duckdb_s: f64,
    runs: Vec<Run>,
}

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

/// `payments` of card, as the registry normalizes it.
fn payments() -> anyhow::Result<FeatureGroup> {
    let mut g = FeatureGroup {
        project: "bench".into(),
        name: "payments".into(),
        entity: "card".into(),
        features: vec![fixtures::feature("amount", "float64")],
        online_enabled: true,
        offline_enabled: true,
        aggregations: aggregations(),
        ..Default::default()
    };
    let card = fixtures::entity("bench", "card", &[("card_id", ScalarType::Int64)]);
    featurestore_domain::schema::normalize_feature_group(&mut g, &card, 1)?;
    g.version = 1;
    Ok(g)
}

/// The events `bench_aggregations` ingests, in the same log order, as
/// materialization appends them (chunks of 500k rows per commit).
async fn write_events(
    store: &DeltaStore,
    group: &FeatureGroup,
    args: &Args,
    now: i64,
) -> anyhow::Result<()> {
    let table = OfflineTable::for_group(group);
    store.ensure_table(&table).await?;
    let total = args.keys * args.events_per_key;
    let step = args.span_days * DAY / args.events_per_key.max(1);
    let chunk = 500_000;
    for start in (0..total).step_by(chunk) {
        let rows: Vec<OfflineRow> = (start..(start + chunk as i64).min(total))
            .map(|i| {
                let (card, n) = (i % args.keys, i / args.keys);
                OfflineRow {
                    key_values: vec![v(Kind::Int64Value(card))],
                    event_time_micros: now - n * step - card,
                    feature_values: vec![v(Kind::Float64Value(((i * 7919) % 1000) as f64 / 10.0))],
                    ingest_time_micros: now,
                    partition: 0,
                    offset: i,
                }
            })
            .collect();
        store.append(&table, "bench", "payments", &rows).await?;
    }
    Ok(())
}

/// The engine's answer for the entity rows in `entities` and its wall time.
async fn run_ours(
    store: &Arc<DeltaStore>,
    spill: &Path,
    memory_mb: usize,
    group: &FeatureGroup,
    entities: &Path,
) -> anyhow::Result<(Vec<RecordBatch>, f64)> {
    let engine = OfflineQuery::new(
        store.clone(),
        QueryConfig {
            memory_limit_bytes: memory_mb << 20,
            spill_dir: spill.to_path_buf(),
            ..QueryConfig::default()
        },
    )?;
    let read = GroupRead {
        group: group.clone(),
        features: FEATURES.iter().map(|f| f.0.to_string()).collect(),
        as_of: AsOf::Latest,
    };
    let started = Instant::now();
    let batches = engine
        .historical_features(
            &EntitySource::Parquet(entities.to_path_buf()),
            "event_timestamp",
            &[read],
        )
        .await?
        .try_collect()
        .await?;
    Ok((batches, started.elapsed().as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = featurestore_benches::scratch_dir()?;
    let root = dir.path().join("offline");
    let store = Arc::new(DeltaStore::new(root.to_str().unwrap())?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros() as i64;
    let group = payments()?;
    let started = Instant::now();
    write_events(&store, &group, &args, now).await?;
    let entities = dir.path().join("entities.parquet");
    entity_rows(args.entity_rows, args.keys, now, args.span_days, &entities)?;
    let write_s = started.elapsed().as_secs_f64();
    let events = args.keys * args.events_per_key;
    eprintln!(
        "{events} events and {} entity rows written in {write_s:.1} s",
        args.entity_rows
    );
    let (duckdb_s, duck) = duckdb(&entities, &root.join("bench/payments/v1"))?;
    eprintln!("duckdb: {duckdb_s:.2} s");
    let mut runs = Vec::new();
    for memory_mb in &args.memory_mb {
        reset_peak_rss();
        let (batches, wall_s) = run_ours(
            &store,
            &dir.path().join("spill"),
            *memory_mb,
            &group,
            &entities,
        )
        .await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        anyhow::ensure!(rows as i64 == args.entity_rows, "{rows} rows");
        let ours: Checksums = checksums(&batches);
        drop(batches);
        let run = Run {
            memory_limit_mb: *memory_mb,
            wall_s,
            rows_per_second: args.entity_rows as f64 / wall_s,
            peak_rss_mb: peak_rss_mb(),
            vs_duckdb: wall_s / duckdb_s,
            differs_from_duckdb: differing(&ours, &duck),
        };
        eprintln!("{run:?}");
        runs.push(run);
    }
    let report = Report {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        keys: args.keys,
        events,
        entity_rows: args.entity_rows,
        features: FEATURES.len(),
        write_s,
        duckdb_s,
        runs,
    };
    println!(
        "offline aggregations: {} entity rows x {events} events ({} cards, {} features over 1h..90d, {} cores)",
        report.entity_rows, report.keys, report.features, report.cores
    );
    println!("duckdb (SQL, same window rule): {duckdb_s:.2} s");
    for run in &report.runs {
        println!(
            "engine, memory limit {} MB: {:.2} s = {:.0} rows/s, peak RSS {:.0} MB, {:.2}x DuckDB's time; results {}",
            run.memory_limit_mb,
            run.wall_s,
            run.rows_per_second,
            run.peak_rss_mb,
            run.vs_duckdb,
            if run.differs_from_duckdb.is_empty() {
                "identical".to_string()
            } else {
                format!("differ in {:?}", run.differs_from_duckdb)
            }
        );
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    Ok(())
}
