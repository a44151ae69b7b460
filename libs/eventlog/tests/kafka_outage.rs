//! Kafka stops in the middle: appends fail with UNAVAILABLE within the
//! append timeout (no hang, no false acknowledgement), work again once Kafka
//! is back, and no acknowledged record is lost. Its own test binary, so
//! stopping Kafka does not disturb other tests (cargo runs binaries one at a
//! time).

use std::{
    process::Command,
    time::{Duration, Instant},
};

use featurestore_eventlog::{
    EventLog, EventLogError, KafkaConfig, KafkaLog, Record, Topics,
    testsuite::{read, unique},
};

fn kafka_ctl(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/kafka.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(action)
        .status()
        .expect("kafka.sh");
    assert!(status.success(), "kafka.sh {action} failed");
}

struct KafkaBack;

impl Drop for KafkaBack {
    fn drop(&mut self) {
        kafka_ctl("start");
    }
}

fn record(i: usize) -> Record {
    Record {
        partition: 0,
        key: vec![i as u8],
        payload: format!("{i}").into_bytes(),
        headers: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_fast_while_kafka_is_down_and_nothing_acknowledged_is_lost() {
    let append_timeout = Duration::from_secs(4);
    let log = KafkaLog::new(KafkaConfig {
        append_timeout,
        ..KafkaConfig::default()
    })
    .unwrap();
    let topic = unique("outage");
    log.ensure_topic(&topic, 1).await.unwrap();
    let mut acknowledged = log
        .append(&topic, (0..5).map(record).collect())
        .await
        .unwrap()
        .len();

    let _guard = KafkaBack;
    kafka_ctl("stop");
    let started = Instant::now();
    let err = log.append(&topic, vec![record(100)]).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, EventLogError::Unavailable(_)), "{err:?}");
    assert!(
        took < append_timeout + Duration::from_secs(3),
        "answered in {took:?}"
    );

    kafka_ctl("start");
    let started = Instant::now();
    loop {
        match log.append(&topic, (5..10).map(record).collect()).await {
            Ok(offsets) => {
                acknowledged += offsets.len();
                break;
            }
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "kafka did not recover: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    // Every acknowledged record is there, in order; the refused one may or
    // may not be (it was never acknowledged), nothing else is.
    let mut sub = log
        .subscribe(&unique("g"), Topics::Named(vec![topic]))
        .await
        .unwrap();
    let messages = read(&mut *sub, acknowledged, Duration::from_secs(30)).await;
    let extra = sub.next_batch(100, Duration::from_secs(2)).await.unwrap();
    let payloads: Vec<String> = messages
        .iter()
        .chain(&extra)
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .filter(|p| p != "100")
        .collect();
    assert_eq!(payloads, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
}
