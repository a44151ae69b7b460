//! The Rust side of `make bench-sdk`: the calls the Python SDK's benchmark
//! (`sdk/python/bench/bench_sdk.py`) makes, made with tonic and arrow-flight
//! directly against the same running feature store, timed the same way, so
//! that the SDK's overhead is the difference. Prints one JSON object.
//!
//! - vectors: `--calls` sequential `GetFeatureVectors` of `--batch` int64
//!   keys each; call `i` asks keys `(i·7919 + j·104729) mod --keys`, the
//!   same as the Python side; p50/p99 per call.
//! - historical: `GetHistoricalFeatures` of the entity rows in `--entities`
//!   (Parquet, read before the clock starts) sent inline as Arrow IPC, the
//!   result streamed over Flight into memory; wall time and the process's
//!   peak RSS.

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_flight::{FlightClient, Ticket};
use clap::Parser;
use featurestore_benches::quantile_ms;
use featurestore_proto::v1::{
    EntitySource, FeatureSelector, FeatureViewRef, GetFeatureVectorsRequest,
    GetHistoricalFeaturesRequest, Row, Value, entity_source::Source, feature_selector::Selector,
    get_historical_features_request::Features,
    offline_query_service_client::OfflineQueryServiceClient,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};
use futures::TryStreamExt;
use serde_json::json;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// Online serving, `http://host:port`.
    #[arg(long)]
    serving: String,
    /// Offline query (gRPC and Flight), `http://host:port`.
    #[arg(long)]
    offline: String,
    #[arg(long)]
    project: String,
    #[arg(long)]
    view: String,
    /// The view's single int64 join key.
    #[arg(long)]
    join_key: String,
    /// Entity ids are 0..keys.
    #[arg(long)]
    keys: u64,
    #[arg(long, default_value_t = 100)]
    batch: u64,
    #[arg(long, default_value_t = 2000)]
    calls: u64,
    /// Entity rows (Parquet) for the historical read; skipped when absent.
    #[arg(long)]
    entities: Option<PathBuf>,
    #[arg(long, default_value = "event_timestamp")]
    timestamp_column: String,
}

/// The keys of call `i` (the Python side uses the same formula).
fn call_keys(i: u64, batch: u64, keys: u64) -> Vec<Row> {
    (0..batch)
        .map(|j| Row {
            values: vec![Value {
                kind: Some(Kind::Int64Value(((i * 7919 + j * 104_729) % keys) as i64)),
            }],
        })
        .collect()
}

async fn vectors(args: &Args) -> Result<serde_json::Value> {
    let channel = Channel::from_shared(args.serving.clone())?
        .connect()
        .await?;
    let mut client = OnlineServingServiceClient::new(channel);
    let selector = FeatureSelector {
        selector: Some(Selector::View(FeatureViewRef {
            project: args.project.clone(),
            name: args.view.clone(),
            version: 0,
        })),
    };
    let mut times = Vec::with_capacity(args.calls as usize);
    for i in 0..args.calls {
        let request = GetFeatureVectorsRequest {
            project: args.project.clone(),
            selector: Some(selector.clone()),
            join_keys: vec![args.join_key.clone()],
            entity_rows: call_keys(i, args.batch, args.keys),
            ..Default::default()
        };
        let start = Instant::now();
        let response = client.get_feature_vectors(request).await?.into_inner();
        times.push(start.elapsed());
        anyhow::ensure!(response.vectors.len() as u64 == args.batch, "short answer");
    }
    times.sort();
    Ok(json!({
        "calls": args.calls,
        "batch": args.batch,
        "p50_ms": quantile_ms(&times, 0.5),
        "p99_ms": quantile_ms(&times, 0.99),
    }))
}

fn ipc_stream(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let schema = batches.first().context("no entity rows")?.schema();
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Peak resident memory of this process (`VmHWM`), bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn historical(args: &Args, path: &PathBuf) -> Result<serde_json::Value> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .build()?
            .collect::<Result<_, _>>()?;
    let before = peak_rss();
    let channel = Channel::from_shared(args.offline.clone())?
        .connect()
        .await?;
    let start = Instant::now();
    let request = GetHistoricalFeaturesRequest {
        project: args.project.clone(),
        features: Some(Features::View(FeatureViewRef {
            project: args.project.clone(),
            name: args.view.clone(),
            version: 0,
        })),
        entities: Some(EntitySource {
            source: Some(Source::ArrowIpcStream(ipc_stream(&batches)?)),
            timestamp_column: args.timestamp_column.clone(),
            delta_version: None,
        }),
        consistency: None,
    };
    let handle = OfflineQueryServiceClient::new(channel.clone())
        .max_encoding_message_size(256 << 20)
        .max_decoding_message_size(256 << 20)
        .get_historical_features(request)
        .await?
        .into_inner();
    let result: Vec<RecordBatch> = FlightClient::new(channel)
        .do_get(Ticket {
            ticket: handle.flight_ticket.into(),
        })
        .await?
        .try_collect()
        .await?;
    let wall = start.elapsed();
    let rows: usize = result.iter().map(RecordBatch::num_rows).sum();
    Ok(json!({
        "rows": rows,
        "wall_s": wall.as_secs_f64(),
        "peak_rss_bytes": peak_rss(),
        "peak_rss_before_bytes": before,
    }))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let vectors = vectors(&args).await?;
    let historical = match &args.entities {
        Some(path) => historical(&args, path).await?,
        None => serde_json::Value::Null,
    };
    println!(
        "{}",
        json!({ "vectors": vectors, "historical": historical })
    );
    Ok(())
}
