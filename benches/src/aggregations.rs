//! What the aggregation benchmarks share (`bench_aggregations` against the
//! services, `bench_offline_aggregations` against the query engine in
//! process): the 8 aggregated features, the entity rows, and DuckDB's
//! reference computation with the checksums both sides are compared by.

use std::sync::Arc;

use arrow_array::{
    Array, Int64Array, RecordBatch, TimestampMicrosecondArray, cast::AsArray, types::Float64Type,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use featurestore_proto::v1::{Aggregation, AggregationFunction};

pub const MIN: i64 = 60_000_000;
pub const DAY: i64 = 24 * 60 * MIN;
/// The 8 aggregated features: (name, function, input, window seconds).
pub const FEATURES: [(&str, AggregationFunction, &str, i64); 8] = [
    ("n_1h", AggregationFunction::Count, "", 3600),
    ("amount_1d", AggregationFunction::Sum, "amount", 86_400),
    ("mean_7d", AggregationFunction::Mean, "amount", 7 * 86_400),
    ("max_30d", AggregationFunction::Max, "amount", 30 * 86_400),
    (
        "stddev_30d",
        AggregationFunction::Stddev,
        "amount",
        30 * 86_400,
    ),
    ("n_90d", AggregationFunction::Count, "", 90 * 86_400),
    (
        "amount_90d",
        AggregationFunction::Sum,
        "amount",
        90 * 86_400,
    ),
    ("last_7d", AggregationFunction::Last, "amount", 7 * 86_400),
];

/// Per feature: the sum of its values and how many are not null.
pub type Checksums = std::collections::BTreeMap<String, (f64, u64)>;

/// Whether the result of `function` is compared exactly with DuckDB's.
fn exact(function: AggregationFunction) -> bool {
    matches!(
        function,
        AggregationFunction::Count | AggregationFunction::Max | AggregationFunction::Last
    )
}

/// As `dev/python/bench_duckdb_aggregations.py` sums them: the exact
/// functions' values in tenths, rounded (an integer sum, compared exactly).
pub fn checksums(batches: &[RecordBatch]) -> Checksums {
    FEATURES
        .iter()
        .map(|(name, function, ..)| {
            let mut sum = 0.0;
            let mut present = 0;
            for b in batches {
                let column = b
                    .column_by_name(&format!("payments__{name}"))
                    .expect("every feature answered");
                let cast = arrow_cast::cast(column, &DataType::Float64).expect("numeric");
                let values = cast.as_primitive::<Float64Type>();
                sum += if exact(*function) {
                    values
                        .iter()
                        .flatten()
                        .map(|x| (x * 10.0).round())
                        .sum::<f64>()
                } else {
                    values.iter().flatten().sum::<f64>()
                };
                present += (values.len() - values.null_count()) as u64;
            }
            (name.to_string(), (sum, present))
        })
        .collect()
}

/// DuckDB's wall time and checksums of the same features.
pub fn duckdb(
    entities_file: &std::path::Path,
    table_dir: &std::path::Path,
) -> anyhow::Result<(f64, Checksums)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/python.sh");
    let sql = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dev/python/bench_duckdb_aggregations.py"
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg(sql)
        .arg(entities_file)
        .arg(table_dir)
        .arg(threads.to_string())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let sums = FEATURES
        .iter()
        .map(|(name, ..)| {
            let f = &d["features"][name];
            (
                name.to_string(),
                (
                    f["sum"].as_f64().unwrap_or(f64::NAN),
                    f["present"].as_u64().unwrap_or_default(),
                ),
            )
        })
        .collect();
    Ok((d["wall_s"].as_f64().unwrap_or(f64::NAN), sums))
}

/// The features whose checksums differ. Counts and sums are null here only
/// for a card without any event yet (DuckDB: 0), so only the other
/// functions' null counts are compared; sum, mean and stddev within 1e-9
/// relative (DuckDB's floating-point sums are not exactly rounded).
pub fn differing(ours: &Checksums, duck: &Checksums) -> Vec<String> {
    FEATURES
        .iter()
        .filter(|(name, function, ..)| {
            let ((a, a_present), (b, b_present)) = (ours[*name], duck[*name]);
            let sums_agree = if exact(*function) {
                a == b
            } else {
                (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
            };
            let nulls_agree = matches!(
                function,
                AggregationFunction::Count | AggregationFunction::Sum
            ) || a_present == b_present;
            !(sums_agree && nulls_agree)
        })
        .map(|(name, ..)| name.to_string())
        .collect()
}

/// The aggregations of `FEATURES`, as registered.
pub fn aggregations() -> Vec<Aggregation> {
    FEATURES
        .iter()
        .map(|(name, function, input, window)| Aggregation {
            name: name.to_string(),
            function: *function as i32,
            input: input.to_string(),
            window_seconds: *window,
            ..Default::default()
        })
        .collect()
}

/// `n` entity rows `(card_id, event_timestamp)`: cards spread over `keys`,
/// times over the `span_days` before `now`; also written to `parquet` (for
/// DuckDB).
pub fn entity_rows(
    n: i64,
    keys: i64,
    now: i64,
    span_days: i64,
    parquet: &std::path::Path,
) -> anyhow::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new(
            "event_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let cards = Int64Array::from_iter_values((0..n).map(|i| (i * 7919) % keys));
    let times = TimestampMicrosecondArray::from_iter_values(
        (0..n).map(|i| now - (i * 104_729) % (span_days * DAY)),
    )
    .with_timezone("UTC");
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(cards), Arc::new(times)])?;
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(parquet)?, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(batch)
}
