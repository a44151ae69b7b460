//! The README's quick start, as a new user runs it, against standalone mode
//! (started in-process on free ports): register the energy example, ingest
//! its readings, read a feature vector, build and export a point-in-time
//! training set — and check the values against the example's CSV files;
//! then the half-hourly readings of the last 6 days, made by the example's
//! generator, and their windowed aggregates as of now.

mod common;

use std::{collections::HashMap, path::PathBuf, time::Duration};

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use common::fsctl_async;
use featurestore_standalone::{StandaloneConfig, config::Listen};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn example(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/energy")
        .join(file)
        .display()
        .to_string()
}

/// `(household, day end µs) → energy_sum` from the example's readings.
fn readings() -> HashMap<String, Vec<(i64, f64)>> {
    let text = std::fs::read_to_string(example("daily_readings.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, day, sum) = (col("household_id"), col("day"), col("energy_sum"));
    let mut out: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let micros = humantime::parse_rfc3339(f[day])
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        out.entry(f[id].to_string())
            .or_default()
            .push((micros, f[sum].parse().unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_energy_example_runs_end_to_end_on_standalone() {
    let data = tempfile::tempdir().unwrap();
    let config = StandaloneConfig {
        data_dir: data.path().join("featurestore-data"),
        listen: Listen::any_port(),
        ..StandaloneConfig::default()
    };
    let standalone = featurestore_standalone::start(&config, featurestore_runtime::Shutdown::new())
        .await
        .unwrap();
    let a = standalone.addrs;
    let run = |args: &[&str]| {
        let mut all: Vec<String> = vec![
            format!("--registry=http://{}", a.registry),
            format!("--ingestion=http://{}", a.ingestion),
            format!("--serving=http://{}", a.serving),
            format!("--offline=http://{}", a.offline),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        fsctl_async(all)
    };

    let (ok, out) = run(&["apply", "-f", &example("energy.yaml")]).await;
    assert!(ok, "{out}");
    let (ok, out) = run(&[
        "ingest",
        "-p",
        "energy",
        "--group",
        "daily_readings",
        "--file",
        &example("daily_readings.csv"),
    ])
    .await;
    assert!(
        ok && out.contains("2400 rows read, 2400 accepted, 0 rejected"),
        "{out}"
    );

    // The latest day of MAC000001, once materialized.
    let latest = readings()["MAC000001"]
        .iter()
        .max_by_key(|r| r.0)
        .unwrap()
        .1;
    let started = std::time::Instant::now();
    loop {
        let (ok, out) = run(&[
            "get-vectors",
            "-p",
            "energy",
            "--view",
            "consumption_model",
            "--key",
            "household_id=MAC000001",
            "-o",
            "json",
        ])
        .await;
        assert!(ok, "{out}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sum = &json[0]["features"]["daily_readings__energy_sum"];
        if sum["status"] == "PRESENT" {
            assert_eq!(sum["value"].as_f64(), Some(latest), "{out}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The training set: Delta is committed within about a second of the
    // online write; retry until every row has its features.
    let out_file = data.path().join("consumption.parquet");
    let readings = readings();
    let started = std::time::Instant::now();
    let batches = loop {
        let (ok, out) = run(&[
            "training-set",
            "create",
            "consumption",
            "-p",
            "energy",
            "--view",
            "consumption_model",
            "--entities",
            &example("training_rows.csv"),
        ])
        .await;
        assert!(ok && out.contains("320 rows"), "{out}");
        let (ok, out) = run(&[
            "training-set",
            "export",
            "consumption",
            "-p",
            "energy",
            "--out",
            out_file.to_str().unwrap(),
        ])
        .await;
        assert!(ok, "{out}");
        let batches: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out_file).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let complete = batches.iter().all(|b| {
            b.column_by_name("daily_readings__energy_sum")
                .is_some_and(|c| c.null_count() == 0)
        });
        if complete {
            break batches;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "features missing offline"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // Point in time: each row has the latest day ended at or before its time.
    let mut checked = 0;
    for b in &batches {
        let ids = b.column_by_name("household_id").unwrap();
        let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
        let times = b.column_by_name("event_timestamp").unwrap();
        let times = times
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("the entity time stays a timestamp");
        let sums = b.column_by_name("daily_readings__energy_sum").unwrap();
        let sums = sums.as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            let want = readings[ids.value(i)]
                .iter()
                .filter(|(day, _)| *day <= times.value(i))
                .max_by_key(|(day, _)| *day)
                .unwrap()
                .1;
            assert_eq!(
                sums.value(i),
                want,
                "{} at {}",
                ids.value(i),
                times.value(i)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 320);

    // The raw readings, and the aggregates of MAC000001's as of now.
    let file = data.path().join("meter_readings.csv");
    let generated = std::process::Command::new("python3")
        .arg(example("generate.py"))
        .arg("--meter-readings")
        .arg(&file)
        .args(["--days", "6"])
        .status()
        .expect("python3 runs the example's generator");
    assert!(generated.success());
    let (ok, out) = run(&[
        "ingest",
        "-p",
        "energy",
        "--group",
        "meter_readings",
        "--file",
        file.to_str().unwrap(),
    ])
    .await;
    assert!(
        ok && out.contains("11520 rows read, 11520 accepted, 0 rejected"),
        "{out}"
    );
    let mut kwh: Vec<f64> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("MAC000001,"))
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(kwh.len(), 6 * 48);
    let started = std::time::Instant::now();
    let features = loop {
        let (ok, out) = run(&[
            "get-vectors",
            "-p",
            "energy",
            "--view",
            "usage_now",
            "--key",
            "household_id=MAC000001",
            "-o",
            "json",
        ])
        .await;
        assert!(ok, "{out}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        let features = json[0]["features"].clone();
        if features["meter_readings__readings_total"]["value"].as_i64() == Some(6 * 48) {
            break features;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never folded: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let value = |name: &str| {
        features[format!("meter_readings__{name}")]["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {features}"))
    };
    // Six days of readings: all inside 7 and 30 days.
    let total: f64 = kwh.iter().sum();
    assert!((value("kwh_7d") - total).abs() < 1e-9, "{features}");
    assert_eq!(value("kwh_30d"), value("kwh_7d"));
    assert!((value("kwh_mean_7d") - total / 288.0).abs() < 1e-9);
    // One day back from the 5-minute tile holding now: 48 or 49 readings.
    assert!((47.0..=49.0).contains(&value("readings_1d")), "{features}");
    kwh.sort_by(f64::total_cmp);
    let p90 = kwh[(0.9 * 287.0) as usize];
    assert!(
        (value("kwh_p90_30d") - p90).abs() <= 0.01 * p90,
        "{features}"
    );

    // The live status: one JSON document per refresh, rows/s from the
    // second on.
    let materialization = format!("--materialization=http://{}", a.materialization);
    let (ok, out) = run(&[
        &materialization,
        "status",
        "-p",
        "energy",
        "--watch",
        "0.2",
        "--refreshes",
        "2",
        "-o",
        "json",
    ])
    .await;
    assert!(ok, "{out}");
    let refreshes: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(refreshes.len(), 2, "{out}");
    let groups = |r: &serde_json::Value| r.as_array().unwrap().clone();
    assert!(
        groups(&refreshes[0])
            .iter()
            .all(|g| g.get("rows_per_second").is_none())
    );
    let daily = groups(&refreshes[1])
        .into_iter()
        .find(|g| g["group"] == "daily_readings")
        .expect("daily_readings");
    assert_eq!(
        daily["rows_per_second"].as_f64(),
        Some(0.0),
        "nothing new: {daily}"
    );

    // Per partition: the example's 4 partitions of daily_readings, every
    // record applied online and committed offline (2,400 rows in all).
    let (ok, out) = run(&[
        &materialization,
        "status",
        "-p",
        "energy",
        "--group",
        "daily_readings",
        "--partitions",
        "-o",
        "json",
    ])
    .await;
    assert!(ok, "{out}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let partitions = status[0]["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 4, "{out}");
    let sum = |field: &str| -> i64 { partitions.iter().map(|p| p[field].as_i64().unwrap()).sum() };
    assert_eq!(sum("online_lag_offsets"), 0, "{out}");
    assert!(sum("online_offset") >= 2400, "{out}");
    assert_eq!(sum("online_offset"), sum("offline_offset"), "{out}");
    let (ok, table) = run(&[&materialization, "status", "-p", "energy", "--partitions"]).await;
    assert!(ok && table.contains("ONLINE (offset / lag)"), "{table}");

    // A correction of the readings' tiles over their whole history (once
    // the offline table holds them all): every tile compared, none changed
    // (the stream and the offline table agree), and the status shows it.
    let started = std::time::Instant::now();
    loop {
        let (ok, out) = run(&[
            &materialization,
            "status",
            "-p",
            "energy",
            "--group",
            "meter_readings",
            "-o",
            "json",
        ])
        .await;
        assert!(ok, "{out}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        if status[0]["offline_lag_offsets"] == 0 && status[0]["offline_watermark_micros"] != 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let at = |days: i64| {
        let now = std::time::SystemTime::now();
        let shifted = if days < 0 {
            now - Duration::from_secs(days.unsigned_abs() * 86_400)
        } else {
            now + Duration::from_secs(days as u64 * 86_400)
        };
        humantime::format_rfc3339_seconds(shifted).to_string()
    };
    // `fsctl backfill` from `from` to `to` days from now, following the job
    // (JSON) or not.
    let backfill = |from: i64, to: i64, follow: bool| {
        let mut args: Vec<String> = [materialization.as_str(), "backfill", "-p", "energy"]
            .into_iter()
            .chain(["--group", "meter_readings", "--from"])
            .map(String::from)
            .collect();
        args.extend([at(from), "--to".into(), at(to)]);
        if follow {
            args.extend(["--wait", "120", "-o", "json"].map(String::from));
        }
        args
    };
    let args = backfill(-8, 1, true);
    let (ok, out) = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(ok, "{out}");
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["state"], "READY", "{out}");
    let drift = &job["drift"];
    assert_eq!(drift["events_read"], 11520, "{out}");
    assert_eq!(drift["tiles_changed"], 0, "{out}");
    assert_eq!(drift["tiles_deferred"], 0, "{out}");
    assert_eq!(drift["lifetime_compared"], true, "{out}");
    let compared = drift["tiles_compared"].as_u64().unwrap();
    assert!(compared > 0, "{out}");
    let (ok, table) = run(&[
        &materialization,
        "status",
        "-p",
        "energy",
        "--group",
        "meter_readings",
    ])
    .await;
    assert!(
        ok && table.contains("LAST CORRECTION") && table.contains(&format!("0 / {compared} tiles")),
        "{table}"
    );
    // A range after the newest reading: refused, naming the field.
    let args = backfill(2, 3, false);
    let (ok, out) = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(
        !ok && out.contains("InvalidArgument") && out.contains("start_time_micros"),
        "{out}"
    );
    standalone.stop().await.unwrap();
}
