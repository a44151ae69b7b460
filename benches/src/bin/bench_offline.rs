//! `make bench-offline`: a point-in-time join of N entity rows against a
//! group of M rows × 11 features, by the offline-query engine
//! (`libs/query-engine`) and by DuckDB's `ASOF LEFT JOIN` over the same files
//! in the same run. Reports wall time, rows/s and peak memory of both and
//! checks the results agree (exact checksums). Text and JSON
//! (`bench-results/offline.json`). Not a test: it never fails on timings.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Instant,
};

use arrow_array::{
    Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
    cast::AsArray,
    types::{Float64Type, Int64Type},
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use clap::Parser;
use featurestore_benches::{peak_rss_mb, reset_peak_rss};
use featurestore_domain::fixtures::group;
use featurestore_offlinestore::{DeltaStore, OfflineRow, OfflineTable};
use featurestore_proto::v1::{KeyColumn, ScalarType, Value, value::Kind};
use featurestore_query_engine::{AsOf, EntitySource, GroupRead, OfflineQuery, QueryConfig};
use futures::StreamExt;
use serde::Serialize;

#[derive(Debug, Parser)]
struct Args {
    /// Entity rows (customer_id, event_timestamp) to join.
    #[arg(long, default_value_t = 1_000_000)]
    entities: usize,
    /// Feature rows in the group's Delta table.
    #[arg(long, default_value_t = 500_000)]
    rows: usize,
    /// Distinct keys among the feature rows (entity keys go 10% beyond).
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// The engine's memory limit.
    #[arg(long, default_value_t = 1024)]
    memory_mb: usize,
    #[arg(long, default_value = "bench-results/offline.json")]
    out: PathBuf,
    /// Only run the in-memory join this many times (no DuckDB, no report):
    /// for profiling with `perf record`.
    #[arg(long)]
    profile: Option<usize>,
}

const FEATURES: usize = 11;
const SECOND: i64 = 1_000_000;

#[derive(Debug, Serialize, PartialEq)]
struct Checksums {
    rows: u64,
    matched: u64,
    sum_f0: f64,
    weighted_f0: f64,
}

#[derive(Debug, Serialize)]
struct Run {
    engine: &'static str,
    wall_s: f64,
    rows_per_sec: f64,
    peak_rss_mb: f64,
    checksums: Checksums,
}

/// xorshift64*.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

async fn write_features(store: &DeltaStore, args: &Args) -> anyhow::Result<OfflineTable> {
    let names: Vec<String> = (0..FEATURES).map(|i| format!("f{i}")).collect();
    let features: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "float64")).collect();
    let mut g = group("bench", "stats", "customer", &features);
    g.version = 1;
    g.primary_key = vec![KeyColumn {
        name: "customer_id".into(),
        r#type: ScalarType::Int64 as i32,
        description: String::new(),
    }];
    let table = OfflineTable::for_group(&g);
    store.ensure_table(&table).await?;
    let chunk = 50_000;
    for start in (0..args.rows).step_by(chunk) {
        let rows: Vec<OfflineRow> = (start..(start + chunk).min(args.rows))
            .map(|i| OfflineRow {
                key_values: vec![Value {
                    kind: Some(Kind::Int64Value((i % args.keys) as i64)),
                }],
                // Unique per key: no ties, so DuckDB's answer is unambiguous.
                event_time_micros: ((i / args.keys) as i64 + 1) * SECOND,
                feature_values: (0..FEATURES)
                    .map(|j| Value {
                        kind: Some(Kind::Float64Value((i * FEATURES + j) as f64)),
                    })
                    .collect(),
                ingest_time_micros: 0,
                partition: 0,
                offset: i as i64,
            })
            .collect();
        store.append(&table, "bench", "bench", &rows).await?;
    }
    Ok(table)
}

fn write_entities(path: &PathBuf, args: &Args) -> anyhow::Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let file = std::fs::File::create(path)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let span = (args.rows / args.keys) as u64 + 2;
    for start in (0..args.entities).step_by(100_000) {
        let n = (args.entities - start).min(100_000);
        let mut keys = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push((next(&mut state) % (args.keys as u64 * 11 / 10)) as i64);
            // Between two event times, or exactly on one.
            let t = next(&mut state) % (span * 2);
            times.push(t as i64 * SECOND / 2);
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    start as i64..(start + n) as i64,
                )),
                Arc::new(Int64Array::from(keys)),
                Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            ],
        )?;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(())
}

fn checksums(batch: &RecordBatch, sums: &mut Checksums) {
    let ids = batch
        .column_by_name("row_id")
        .expect("row_id")
        .as_primitive::<Int64Type>();
    let f0 = batch
        .column_by_name("stats__f0")
        .expect("f0")
        .as_primitive::<Float64Type>();
    sums.rows += batch.num_rows() as u64;
    for i in 0..batch.num_rows() {
        if !f0.is_null(i) {
            sums.matched += 1;
            sums.sum_f0 += f0.value(i);
            sums.weighted_f0 += (ids.value(i) % 1000) as f64 * f0.value(i);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = featurestore_benches::scratch_dir()?;
    let store = Arc::new(DeltaStore::new(
        dir.path().join("offline").to_str().unwrap(),
    )?);
    let started = Instant::now();
    let table = write_features(&store, &args).await?;
    let entities = dir.path().join("entities.parquet");
    write_entities(&entities, &args)?;
    eprintln!(
        "data written in {:.1} s: {} feature rows x {FEATURES}, {} entity rows",
        started.elapsed().as_secs_f64(),
        args.rows,
        args.entities
    );

    let mut g = group("bench", "stats", "customer", &[]);
    g.version = 1;
    g.primary_key = vec![KeyColumn {
        name: "customer_id".into(),
        r#type: ScalarType::Int64 as i32,
        description: String::new(),
    }];
    let read = GroupRead {
        group: g,
        features: (0..FEATURES).map(|i| format!("f{i}")).collect(),
        as_of: AsOf::Latest,
    };
    if let Some(times) = args.profile {
        let engine = OfflineQuery::new(
            store.clone(),
            QueryConfig {
                memory_limit_bytes: args.memory_mb << 20,
                spill_dir: dir.path().join("spill"),
                ..QueryConfig::default()
            },
        )?;
        for _ in 0..times {
            let run = run_ours(&engine, "in memory", &entities, &read, args.entities).await?;
            eprintln!("in-memory join: {:.3} s", run.wall_s);
        }
        return Ok(());
    }
    let mut runs = Vec::new();
    for (in_memory_join, name) in [
        (true, "featurestore (in-memory as-of join)"),
        (false, "featurestore (sort + as-of merge, spilling)"),
    ] {
        let engine = OfflineQuery::new(
            store.clone(),
            QueryConfig {
                memory_limit_bytes: args.memory_mb << 20,
                spill_dir: dir.path().join("spill"),
                in_memory_join,
                ..QueryConfig::default()
            },
        )?;
        runs.push(run_ours(&engine, name, &entities, &read, args.entities).await?);
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/python.sh");
    let duck = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/python/bench_duckdb.py");
    let table_dir = store
        .table_url(&table)?
        .to_file_path()
        .expect("local table");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let output = Command::new("bash")
        .args([
            script,
            duck,
            entities.to_str().unwrap(),
            table_dir.to_str().unwrap(),
            &FEATURES.to_string(),
            &threads.to_string(),
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let duck_wall = d["wall_s"].as_f64().unwrap_or_default();
    let duck_run = Run {
        engine: "duckdb ASOF LEFT JOIN",
        wall_s: duck_wall,
        rows_per_sec: args.entities as f64 / duck_wall,
        peak_rss_mb: d["peak_rss_mb"].as_f64().unwrap_or_default(),
        checksums: Checksums {
            rows: d["rows"].as_u64().unwrap_or_default(),
            matched: d["matched"].as_u64().unwrap_or_default(),
            sum_f0: d["sum_f0"].as_f64().unwrap_or_default(),
            weighted_f0: d["weighted_f0"].as_f64().unwrap_or_default(),
        },
    };
    let identical = runs.iter().all(|r| r.checksums == duck_run.checksums);
    let engine_run = &runs[0];
    println!(
        "offline point-in-time join: {} entity rows x {} feature rows ({} keys, {FEATURES} float64 features), memory limit {} MB, {threads} cores",
        args.entities, args.rows, args.keys, args.memory_mb
    );
    println!(
        "{:<46} {:>8} {:>12} {:>10} {:>9} {:>9}",
        "engine", "wall s", "rows/s", "peak MB", "rows", "matched"
    );
    for r in runs.iter().chain([&duck_run]) {
        println!(
            "{:<46} {:>8.2} {:>12.0} {:>10.0} {:>9} {:>9}",
            r.engine,
            r.wall_s,
            r.rows_per_sec,
            r.peak_rss_mb,
            r.checksums.rows,
            r.checksums.matched
        );
    }
    println!(
        "time vs duckdb: {:.2}x in memory, {:.2}x sorting; results identical: {identical}",
        engine_run.wall_s / duck_run.wall_s,
        runs[1].wall_s / duck_run.wall_s
    );
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &args.out,
        serde_json::to_string_pretty(&serde_json::json!({
            "entities": args.entities,
            "feature_rows": args.rows,
            "keys": args.keys,
            "memory_limit_mb": args.memory_mb,
            "runs": [&runs[0], &runs[1], &duck_run],
            "ratio_vs_duckdb": engine_run.wall_s / duck_run.wall_s,
            "ratio_vs_duckdb_sorting": runs[1].wall_s / duck_run.wall_s,
            "identical": identical,
        }))?,
    )?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Runs the join with `engine` and sums its result.
async fn run_ours(
    engine: &OfflineQuery,
    name: &'static str,
    entities: &Path,
    read: &GroupRead,
    entity_rows: usize,
) -> anyhow::Result<Run> {
    reset_peak_rss();
    let started = Instant::now();
    let mut stream = engine
        .historical_features(
            &EntitySource::Parquet(entities.to_path_buf()),
            "event_timestamp",
            std::slice::from_ref(read),
        )
        .await?;
    let mut sums = Checksums {
        rows: 0,
        matched: 0,
        sum_f0: 0.0,
        weighted_f0: 0.0,
    };
    while let Some(batch) = stream.next().await {
        checksums(&batch?, &mut sums);
    }
    let wall = started.elapsed().as_secs_f64();
    Ok(Run {
        engine: name,
        wall_s: wall,
        rows_per_sec: entity_rows as f64 / wall,
        peak_rss_mb: peak_rss_mb(),
        checksums: sums,
    })
}
