//! `make bench-aggregations`: what windowed aggregations cost, against the
//! distributed services (release binaries over the test etcd, Kafka and
//! Cassandra) or the `standalone` binary (`--target standalone`).
//!
//! An event group `payments` of `--keys` cards with `--events-per-key`
//! events each, spread evenly over the last `--span-days` days (90), and 8 aggregated
//! features over windows of 1 h, 1 d, 7 d, 30 d and 90 d:
//!
//! 1. **Materialization**: the events ingested in chunks, then read back
//!    with AFTER_WRITE; events folded per second from the first ingest to
//!    the answer, and per CPU-second of the materializer (standalone: the
//!    whole process, ingestion included).
//! 2. **Serving**: closed loop, `--concurrency` in flight, single-vector
//!    then 100-vector requests of random cards: p50/p99. A request that
//!    fails (e.g. the service's request timeout) counts with the time it
//!    took, and the failures are reported (count and first error).
//! 3. **Offline**: the same features point in time for `--entity-rows`
//!    entity rows (random card, random time in the span) through
//!    `GetHistoricalFeatures` and Flight: wall time and rows per second;
//!    then DuckDB computing the same with SQL (same window rule) over the
//!    same entity rows and the group's Delta files
//!    (`dev/python/bench_duckdb_aggregations.py`): its wall time, and
//!    whether every feature's checksum agrees (exactly for count, max and
//!    last; within 1e-9 relative for sum, mean and stddev, which DuckDB
//!    does not round exactly).
//!
//! 4. **Correction**: the tiles of the whole history recomputed from the
//!    Delta table and compared (`StartBackfill`): wall time and
//!    materializer CPU of the tile phase, events per CPU-second, resident
//!    memory added.
//!
//!    Then the previous day only (`[today − 1 d, today)`, what the daily
//!    schedule corrects): the same figures — with `--keys 100000
//!    --events-per-key 10 --span-days 10`, a one-day correction of 100k
//!    keys.
//!
//! 5. **Bootstrap**: an aggregation added in place (a lifetime sum): its
//!    whole history computed from the Delta table on its own, until READY:
//!    wall time, materializer CPU, events per CPU-second, resident memory
//!    added. The memory budget is the services' own
//!    (`FS_STANDALONE_CORRECTIONS__MAX_EVENTS_IN_MEMORY` /
//!    `FS_MATERIALIZATION_CORRECTIONS__MAX_EVENTS_IN_MEMORY` in the
//!    environment of the bench reach the services it starts).
//!
//! Text and JSON (`bench-results/aggregations-<target>.json`). Not a test:
//! it never fails on numbers.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use arrow_array::RecordBatch;
use clap::{Parser, ValueEnum};
use featurestore_benches::{
    Stack,
    aggregations::{DAY, FEATURES, aggregations, checksums, differing, duckdb, entity_rows},
    cpu_seconds, quantile_ms, rss_bytes,
};
use featurestore_domain::{
    EntityKeyEncoder,
    aggregation::Aggregations,
    fixtures::{self, feature},
};
use featurestore_integration_tests::{materialization::cassandra_node, registry::RegistrySandbox};
use featurestore_online_serving::aggregates::{AggregateOutput, windows};
use featurestore_onlinestore::{CassandraConfig, CassandraStore, OnlineStore, TileTable};
use featurestore_proto::v1::{
    Aggregation, AggregationFunction, Consistency, CreateEntityRequest, CreateFeatureGroupRequest,
    CreateFeatureViewRequest, CreateProjectRequest, DriftReport, EntitySource, FeatureGroup,
    FeatureGroupRef, FeatureSelection, FeatureSelector, FeatureView, FeatureViewRef,
    GetBackfillJobRequest, GetFeatureGroupRequest, GetFeatureVectorsRequest,
    GetHistoricalFeaturesRequest, IngestRequest, ResourceState, Row, ScalarType,
    StartBackfillRequest, Value, consistency::Level, entity_source::Source,
    feature_selector::Selector, get_historical_features_request::Features,
    ingestion_service_client::IngestionServiceClient,
    materialization_admin_service_client::MaterializationAdminServiceClient,
    offline_query_service_client::OfflineQueryServiceClient,
    online_serving_service_client::OnlineServingServiceClient, value::Kind,
};
use futures::TryStreamExt;
use serde::Serialize;

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
    #[arg(long, default_value_t = 100)]
    keys: i64,
    #[arg(long, default_value_t = 10_000)]
    events_per_key: i64,
    /// Days the events of a card are spread over (ending now).
    #[arg(long, default_value_t = 90)]
    span_days: i64,
    /// Seconds of each serving measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 100_000)]
    entity_rows: i64,
    /// Default: bench-results/aggregations-<target>.json.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    target: Target,
    cores: usize,
    keys: i64,
    events: i64,
    features: usize,
    ingest_and_fold_seconds: f64,
    events_per_second: f64,
    materializer_cpu_seconds: f64,
    events_per_materializer_cpu_second: f64,
    single_requests: usize,
    /// Requests that failed (counted in the latencies with the time they took).
    single_failed: usize,
    single_p50_ms: f64,
    single_p99_ms: f64,
    batch_requests: usize,
    batch_failed: usize,
    batch_p50_ms: f64,
    batch_p99_ms: f64,
    /// Distributed: the same tiles read straight from Cassandra.
    direct_single_p50_ms: Option<f64>,
    direct_single_p99_ms: Option<f64>,
    direct_single_failed: Option<usize>,
    direct_batch_p50_ms: Option<f64>,
    direct_batch_p99_ms: Option<f64>,
    direct_batch_failed: Option<usize>,
    entity_rows: i64,
    offline_seconds: f64,
    offline_rows_per_second: f64,
    duckdb_seconds: f64,
    offline_time_vs_duckdb: f64,
    /// Features whose checksum differs from DuckDB's (empty: identical).
    offline_differs_from_duckdb: Vec<String>,
    correction: CorrectionFigures,
    /// The previous day only.
    day_correction: CorrectionFigures,
    /// A lifetime sum added in place (its lifetime tiles only).
    bootstrap: CorrectionFigures,
    /// A 7-day max added in place (every grain tile of the history).
    windowed_bootstrap: CorrectionFigures,
}

/// A tile correction of the whole history (`StartBackfill`; what also
/// fills an aggregation added in place), after the offline phase.
#[derive(Debug, Serialize)]
struct CorrectionFigures {
    /// The tile phase (the job first re-materialises the rows).
    seconds: f64,
    /// CPU of the materializer (standalone: the process) over the tile
    /// phase, sampled every 20 ms.
    cpu_seconds: f64,
    events_read: u64,
    events_per_cpu_second: f64,
    tiles_compared: u64,
    tiles_changed: u64,
    /// Whether the lifetime tiles were compared (the range held every event).
    lifetime_compared: bool,
    /// The largest resident memory sampled during the tile phase, less the
    /// resident memory when it started.
    added_rss_bytes: u64,
}

const CHUNK: i64 = 5_000;

fn v(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn register(stack: &Stack) -> anyhow::Result<()> {
    let project = &stack.project;
    let mut registry = stack.registry().await;
    registry
        .create_project(CreateProjectRequest {
            project: Some(fixtures::project(project)),
        })
        .await?;
    registry
        .create_entity(CreateEntityRequest {
            entity: Some(fixtures::entity(
                project,
                "card",
                &[("card_id", ScalarType::Int64)],
            )),
        })
        .await?;
    registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(FeatureGroup {
                project: project.clone(),
                name: "payments".into(),
                entity: "card".into(),
                features: vec![feature("amount", "float64")],
                online_enabled: true,
                offline_enabled: true,
                aggregations: aggregations(),
                ..Default::default()
            }),
        })
        .await?;
    registry
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(FeatureView {
                project: project.clone(),
                name: "risk".into(),
                selections: vec![FeatureSelection {
                    group: "payments".into(),
                    group_version: 0,
                    features: FEATURES.iter().map(|f| f.0.to_string()).collect(),
                }],
                ..Default::default()
            }),
        })
        .await?;
    Ok(())
}

/// Ingests every event; returns the write tokens.
async fn ingest(stack: &Stack, args: &Args, now: i64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut client = IngestionServiceClient::new(stack.ingestion.clone());
    let total = args.keys * args.events_per_key;
    let step = args.span_days * DAY / args.events_per_key.max(1);
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < total {
        let rows = (at..(at + CHUNK).min(total))
            .map(|i| {
                let (card, n) = (i % args.keys, i / args.keys);
                Row {
                    values: vec![
                        v(Kind::Int64Value(card)),
                        v(Kind::TimestampValue(now - n * step - card)),
                        v(Kind::Float64Value(((i * 7919) % 1000) as f64 / 10.0)),
                    ],
                }
            })
            .collect();
        let request = IngestRequest {
            group: Some(FeatureGroupRef {
                project: stack.project.clone(),
                name: "payments".into(),
                version: 0,
            }),
            columns: ["card_id", "event_time", "amount"]
                .map(String::from)
                .to_vec(),
            rows,
            idempotency_key: String::new(),
        };
        let started = Instant::now();
        let token = loop {
            match client.ingest(request.clone()).await {
                Ok(r) => break r.into_inner().write_token,
                // The catalog reaches ingestion through its watch.
                Err(s) if started.elapsed() < Duration::from_secs(30) => {
                    not_ready(&s).await;
                }
                Err(s) => anyhow::bail!("ingest: {s}"),
            }
        };
        tokens.push(token);
        at += CHUNK;
    }
    Ok(tokens)
}

async fn not_ready(status: &tonic::Status) {
    eprintln!("ingest not ready yet: {}", status.message());
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn vectors_request(
    project: &str,
    cards: Vec<i64>,
    tokens: Vec<Vec<u8>>,
) -> GetFeatureVectorsRequest {
    GetFeatureVectorsRequest {
        project: project.into(),
        selector: Some(FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "risk".into(),
                version: 0,
            })),
        }),
        join_keys: vec!["card_id".into()],
        entity_rows: cards
            .into_iter()
            .map(|k| Row {
                values: vec![v(Kind::Int64Value(k))],
            })
            .collect(),
        include_event_times: false,
        consistency: (!tokens.is_empty()).then(|| Consistency {
            level: Level::AfterWrite as i32,
            write_tokens: tokens,
            max_wait_millis: 2_000,
            ..Default::default()
        }),
        include_freshness: false,
    }
}

/// The latencies of a closed loop's calls, failed ones included.
#[derive(Debug, Default)]
struct Latencies {
    /// Sorted.
    all: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
}

impl Latencies {
    fn len(&self) -> usize {
        self.all.len()
    }

    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    fn ms(&self, q: f64) -> f64 {
        quantile_ms(&self.all, q)
    }

    /// `N requests`, and what failed.
    fn requests(&self) -> String {
        match &self.first_error {
            Some(e) if self.failed > 0 => {
                format!(
                    "{} requests, {} failed, first: {e}",
                    self.len(),
                    self.failed
                )
            }
            _ => format!("{} requests", self.len()),
        }
    }
}

/// Calls of `call` with `batch` random cards for `--seconds`,
/// `--concurrency` in flight.
async fn closed_loop<F, Fut>(args: &Args, batch: usize, call: F) -> anyhow::Result<Latencies>
where
    F: Fn(Vec<i64>) -> Fut + Clone,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let workers = (0..args.concurrency).map(|w| {
        let (call, keys) = (call.clone(), args.keys);
        async move {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ w as u64;
            let mut latencies = Latencies::default();
            while Instant::now() < deadline {
                let cards = (0..batch)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % keys as u64) as i64
                    })
                    .collect();
                let started = Instant::now();
                let answer = call(cards).await;
                latencies.all.push(started.elapsed());
                if let Err(e) = answer {
                    latencies.failed += 1;
                    latencies
                        .first_error
                        .get_or_insert_with(|| format!("{e:#}"));
                }
            }
            anyhow::Ok(latencies)
        }
    });
    let mut total = Latencies::default();
    for part in futures::future::try_join_all(workers).await? {
        total.all.extend(part.all);
        total.failed += part.failed;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
    }
    total.all.sort();
    Ok(total)
}

/// `GetFeatureVectors` of the view for `batch` random cards at a time.
async fn serve(stack: &Stack, args: &Args, batch: usize) -> anyhow::Result<Latencies> {
    let client = OnlineServingServiceClient::new(stack.serving.clone());
    let project = stack.project.clone();
    closed_loop(args, batch, move |cards| {
        let mut client = client.clone();
        let request = vectors_request(&project, cards, Vec::new());
        async move {
            client.get_feature_vectors(request).await?;
            Ok(())
        }
    })
    .await
}

/// The reference of distributed serving: the same tiles read straight from
/// Cassandra with the store's driver calls (the ranges serving computes,
/// `scan_tiles`; no service, no decoding or merging).
async fn direct(stack: &Stack, args: &Args, batch: usize) -> anyhow::Result<Latencies> {
    let group = stack
        .registry()
        .await
        .get_feature_group(GetFeatureGroupRequest {
            project: stack.project.clone(),
            name: "payments".into(),
            version: 0,
        })
        .await?
        .into_inner();
    let outputs: Vec<AggregateOutput> = Aggregations::of(&group)
        .expect("aggregated")
        .features
        .into_iter()
        .enumerate()
        .map(|(position, feature)| AggregateOutput {
            feature,
            position,
            backfilling: false,
        })
        .collect();
    let store = Arc::new(
        CassandraStore::connect(CassandraConfig {
            nodes: vec![cassandra_node()],
            keyspace: "fs_bench".into(),
            ..CassandraConfig::default()
        })
        .await?,
    );
    let table = Arc::new(TileTable::for_group(&group));
    let encoder = Arc::new(EntityKeyEncoder::new(&group.primary_key));
    let outputs = Arc::new(outputs);
    closed_loop(args, batch, move |cards| {
        let (store, table, encoder, outputs) = (
            store.clone(),
            table.clone(),
            encoder.clone(),
            outputs.clone(),
        );
        async move {
            let keys: Vec<Vec<u8>> = cards
                .iter()
                .map(|c| encoder.encode([Some(&Kind::Int64Value(*c))]))
                .collect::<Result<_, _>>()?;
            let (_, ranges) = windows(&outputs, now_micros());
            store.scan_tiles(&table, &keys, &ranges).await?;
            Ok(())
        }
    })
    .await
}

/// `GetHistoricalFeatures` of the view for `--entity-rows` random (card,
/// time) rows (also written to `entities_file` for DuckDB), read over
/// Flight once every event is committed offline: the answer and the time
/// from the request to the last batch.
async fn offline(
    stack: &Stack,
    args: &Args,
    now: i64,
    tokens: Vec<Vec<u8>>,
    entities_file: &std::path::Path,
) -> anyhow::Result<(Vec<RecordBatch>, Duration)> {
    let batch = entity_rows(
        args.entity_rows,
        args.keys,
        now,
        args.span_days,
        entities_file,
    )?;
    let mut ipc = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    let mut client =
        OfflineQueryServiceClient::new(stack.offline.clone()).max_encoding_message_size(usize::MAX);
    let request = GetHistoricalFeaturesRequest {
        project: stack.project.clone(),
        features: Some(Features::View(FeatureViewRef {
            project: String::new(),
            name: "risk".into(),
            version: 0,
        })),
        entities: Some(EntitySource {
            source: Some(Source::ArrowIpcStream(ipc)),
            ..Default::default()
        }),
        consistency: Some(Consistency {
            level: Level::AfterWrite as i32,
            write_tokens: tokens,
            max_wait_millis: 2_000,
            ..Default::default()
        }),
    };
    // Every event committed to Delta first (each try waits at most the
    // service's cap); then the query timed on its own.
    loop {
        match client.get_historical_features(request.clone()).await {
            Ok(_) => break,
            Err(s) if s.code() == tonic::Code::DeadlineExceeded => {}
            Err(s) => anyhow::bail!("{s}"),
        }
    }
    let started = Instant::now();
    let handle = client
        .get_historical_features(GetHistoricalFeaturesRequest {
            consistency: None,
            ..request
        })
        .await?
        .into_inner();
    let batches: Vec<RecordBatch> = arrow_flight::FlightClient::new(stack.offline.clone())
        .do_get(arrow_flight::Ticket::new(handle.flight_ticket))
        .await?
        .try_collect()
        .await?;
    Ok((batches, started.elapsed()))
}

/// Corrects the tiles of `[from, to)` and measures the tile phase.
async fn correct(stack: &Stack, from: i64, to: i64, pid: u32) -> anyhow::Result<CorrectionFigures> {
    let mut admin = MaterializationAdminServiceClient::new(stack.materialization.clone());
    let job = admin
        .start_backfill(StartBackfillRequest {
            group: Some(FeatureGroupRef {
                project: stack.project.clone(),
                name: "payments".into(),
                version: 1,
            }),
            start_time_micros: from,
            end_time_micros: to,
        })
        .await?
        .into_inner();
    // (CPU and resident memory when the tile phase showed.)
    let mut at_start: Option<(f64, u64)> = None;
    let mut peak = 0;
    let job = loop {
        let job = admin
            .get_backfill_job(GetBackfillJobRequest { id: job.id.clone() })
            .await?
            .into_inner();
        if job.drift.is_some() {
            let rss = rss_bytes(pid);
            at_start.get_or_insert((cpu_seconds(pid), rss));
            peak = peak.max(rss);
        }
        match job.state() {
            ResourceState::Pending => tokio::time::sleep(Duration::from_millis(20)).await,
            ResourceState::Ready => break job,
            _ => anyhow::bail!("the correction failed: {job:?}"),
        }
    };
    let (cpu0, rss0) = at_start.unwrap_or_default();
    let cpu = cpu_seconds(pid) - cpu0;
    let drift = job.drift.unwrap_or_default();
    eprintln!("correction: {drift:?}");
    let seconds = (drift.finished_micros - drift.started_micros) as f64 / 1e6;
    Ok(CorrectionFigures::of(
        &drift,
        seconds,
        cpu,
        peak.saturating_sub(rss0),
    ))
}

/// `N events in S s, C CPU-s = R events/CPU-s; T tiles compared, X
/// changed; +M MB resident at peak`.
impl std::fmt::Display for CorrectionFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events in {:.2} s, {:.2} CPU-s = {:.0} events/CPU-s; {} tiles compared, {} changed; +{:.0} MB resident at peak",
            self.events_read,
            self.seconds,
            self.cpu_seconds,
            self.events_per_cpu_second,
            self.tiles_compared,
            self.tiles_changed,
            self.added_rss_bytes as f64 / 1e6
        )
    }
}

impl CorrectionFigures {
    fn of(drift: &DriftReport, seconds: f64, cpu_seconds: f64, added_rss_bytes: u64) -> Self {
        Self {
            seconds,
            cpu_seconds,
            events_read: drift.events_read,
            events_per_cpu_second: drift.events_read as f64 / cpu_seconds,
            tiles_compared: drift.tiles_compared,
            tiles_changed: drift.tiles_changed,
            lifetime_compared: drift.lifetime_compared,
            added_rss_bytes,
        }
    }
}

/// Adds `aggregation` to the group in place and measures its bootstrap
/// until READY.
async fn bootstrap(
    stack: &Stack,
    pid: u32,
    aggregation: Aggregation,
) -> anyhow::Result<CorrectionFigures> {
    use featurestore_proto::v1::{GetMaterializationStatusRequest, UpdateFeatureGroupRequest};
    let group = FeatureGroupRef {
        project: stack.project.clone(),
        name: "payments".into(),
        version: 1,
    };
    let mut registry = stack.registry().await;
    let mut payments = registry
        .get_feature_group(GetFeatureGroupRequest {
            project: group.project.clone(),
            name: group.name.clone(),
            version: 1,
        })
        .await?
        .into_inner();
    let name = aggregation.name.clone();
    payments.aggregations.push(aggregation);
    let (cpu0, rss0) = (cpu_seconds(pid), rss_bytes(pid));
    registry
        .update_feature_group(UpdateFeatureGroupRequest {
            feature_group: Some(payments),
            expected_revision: 0,
        })
        .await?;
    let mut admin = MaterializationAdminServiceClient::new(stack.materialization.clone());
    let mut peak = 0;
    let done = loop {
        peak = peak.max(rss_bytes(pid));
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(group.clone()),
            })
            .await?
            .into_inner();
        match status.bootstrap {
            Some(b) if b.state() == ResourceState::Ready && b.aggregations.contains(&name) => {
                break b;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let cpu = cpu_seconds(pid) - cpu0;
    eprintln!("bootstrap: {done:?}");
    let seconds = (done.finished_micros - done.requested_micros) as f64 / 1e6;
    Ok(CorrectionFigures::of(
        &done.drift.unwrap_or_default(),
        seconds,
        cpu,
        peak.saturating_sub(rss0),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let stack = match args.target {
        Target::Distributed => {
            let registry = RegistrySandbox::start().await;
            let project = featurestore_integration_tests::unique_name("abench");
            Stack::distributed(dir.path(), registry, project, "bench-aggregations", &[]).await
        }
        Target::Standalone => {
            Stack::standalone(dir.path(), "abench", "bench-aggregations-standalone").await
        }
    };
    register(&stack).await?;
    let now = now_micros();
    let cpu_pid = stack.materialization_pid.unwrap_or(stack.serving_pid);
    let cpu0 = cpu_seconds(cpu_pid);
    let started = Instant::now();
    let tokens = ingest(&stack, &args, now).await?;
    // Every event folded: an AFTER_WRITE read with every token answers
    // (each try waits at most the service's cap).
    let mut client = OnlineServingServiceClient::new(stack.serving.clone());
    let read = vectors_request(&stack.project, vec![0], tokens.clone());
    while let Err(s) = client.get_feature_vectors(read.clone()).await {
        anyhow::ensure!(s.code() == tonic::Code::DeadlineExceeded, "{s}");
    }
    let fold_seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(cpu_pid) - cpu0;
    let events = args.keys * args.events_per_key;
    eprintln!("{events} events folded in {fold_seconds:.1} s ({cpu:.1} CPU-s)");

    let single = serve(&stack, &args, 1).await?;
    let batch = serve(&stack, &args, 100).await?;
    let (direct_single, direct_batch) = if stack.materialization_pid.is_some() {
        (
            direct(&stack, &args, 1).await?,
            direct(&stack, &args, 100).await?,
        )
    } else {
        (Latencies::default(), Latencies::default())
    };

    let entities_file = dir.path().join("entities.parquet");
    let (batches, took) = offline(&stack, &args, now, tokens, &entities_file).await?;
    let offline_seconds = took.as_secs_f64();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    anyhow::ensure!(rows as i64 == args.entity_rows, "{rows} offline rows");
    let table_dir = stack.offline_root.join(&stack.project).join("payments/v1");
    let (duckdb_seconds, duck) = duckdb(&entities_file, &table_dir)?;
    let differs = differing(&checksums(&batches), &duck);
    let history = (now - (args.span_days + 1) * DAY, now + DAY);
    let correction = correct(&stack, history.0, history.1, cpu_pid).await?;
    let today = now.div_euclid(DAY) * DAY;
    let day_correction = correct(&stack, today - DAY, today, cpu_pid).await?;
    let lifetime_sum = Aggregation {
        name: "amount_sum_life".into(),
        function: AggregationFunction::Sum as i32,
        input: "amount".into(),
        ..Default::default()
    };
    let windowed_max = Aggregation {
        name: "amount_max_7d".into(),
        function: AggregationFunction::Max as i32,
        input: "amount".into(),
        window_seconds: 7 * 86_400,
        ..Default::default()
    };
    let bootstrap_figures = bootstrap(&stack, cpu_pid, lifetime_sum).await?;
    let windowed_bootstrap = bootstrap(&stack, cpu_pid, windowed_max).await?;

    let report = Report {
        target: args.target,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        keys: args.keys,
        events,
        features: FEATURES.len(),
        ingest_and_fold_seconds: fold_seconds,
        events_per_second: events as f64 / fold_seconds,
        materializer_cpu_seconds: cpu,
        events_per_materializer_cpu_second: events as f64 / cpu,
        single_requests: single.len(),
        single_failed: single.failed,
        single_p50_ms: single.ms(0.5),
        single_p99_ms: single.ms(0.99),
        batch_requests: batch.len(),
        batch_failed: batch.failed,
        batch_p50_ms: batch.ms(0.5),
        batch_p99_ms: batch.ms(0.99),
        direct_single_p50_ms: (!direct_single.is_empty()).then(|| direct_single.ms(0.5)),
        direct_single_p99_ms: (!direct_single.is_empty()).then(|| direct_single.ms(0.99)),
        direct_single_failed: (!direct_single.is_empty()).then_some(direct_single.failed),
        direct_batch_p50_ms: (!direct_batch.is_empty()).then(|| direct_batch.ms(0.5)),
        direct_batch_p99_ms: (!direct_batch.is_empty()).then(|| direct_batch.ms(0.99)),
        direct_batch_failed: (!direct_batch.is_empty()).then_some(direct_batch.failed),
        entity_rows: args.entity_rows,
        offline_seconds,
        offline_rows_per_second: args.entity_rows as f64 / offline_seconds,
        duckdb_seconds,
        offline_time_vs_duckdb: offline_seconds / duckdb_seconds,
        offline_differs_from_duckdb: differs,
        correction,
        day_correction,
        bootstrap: bootstrap_figures,
        windowed_bootstrap,
    };
    println!(
        "aggregations ({target:?}, {keys} cards x {per} events over {span} days, {f} features over 1h..90d)\n\
         materialization: {events} events in {fold:.1} s = {eps:.0} events/s; {cpu:.1} materializer CPU-s = {epc:.0} events/CPU-s{note}\n\
         serving, {c} in flight: 1 vector p50 {s50:.2} ms p99 {s99:.2} ms ({sn}); 100 vectors p50 {b50:.2} ms p99 {b99:.2} ms ({bn}){direct}\n\
         offline: {rows} entity rows in {os:.2} s = {ors:.0} rows/s; DuckDB (SQL, same rule) {ds:.2} s: {ratio:.2}x its time; results {agree}\n\
         correction of the whole history: {correction}\n\
         correction of the previous day: {day}\n\
         bootstrap of a lifetime sum added in place: {bootstrap}\n\
         bootstrap of a 7-day max added in place: {windowed}",
        target = args.target,
        keys = args.keys,
        per = args.events_per_key,
        span = args.span_days,
        f = FEATURES.len(),
        fold = fold_seconds,
        eps = report.events_per_second,
        epc = report.events_per_materializer_cpu_second,
        note = if stack.materialization_pid.is_none() {
            " (the whole standalone process, ingestion included)"
        } else {
            ""
        },
        c = args.concurrency,
        s50 = report.single_p50_ms,
        s99 = report.single_p99_ms,
        sn = single.requests(),
        b50 = report.batch_p50_ms,
        b99 = report.batch_p99_ms,
        bn = batch.requests(),
        direct = match (
            report.direct_single_p50_ms,
            report.direct_single_p99_ms,
            report.direct_batch_p50_ms,
            report.direct_batch_p99_ms,
        ) {
            (Some(s50), Some(s99), Some(b50), Some(b99)) => format!(
                "\n  the same tiles read straight from Cassandra: 1 vector p50 {s50:.2} ms p99 {s99:.2} ms ({}); 100 vectors p50 {b50:.2} ms p99 {b99:.2} ms ({})",
                direct_single.requests(),
                direct_batch.requests(),
            ),
            _ => String::new(),
        },
        rows = args.entity_rows,
        os = offline_seconds,
        ors = report.offline_rows_per_second,
        ds = report.duckdb_seconds,
        ratio = report.offline_time_vs_duckdb,
        correction = report.correction,
        day = report.day_correction,
        bootstrap = report.bootstrap,
        windowed = report.windowed_bootstrap,
        agree = if report.offline_differs_from_duckdb.is_empty() {
            "identical".to_string()
        } else {
            format!("differ in {:?}", report.offline_differs_from_duckdb)
        },
    );
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "bench-results/aggregations-{}.json",
            match args.target {
                Target::Distributed => "distributed",
                Target::Standalone => "standalone",
            }
        ))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
