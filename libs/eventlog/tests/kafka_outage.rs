//! Kafka stops in the middle: appends fail with UNAVAILABLE within the
//! append timeout (no hang, no false acknowledgement), an offset commit
//! within the admin timeout, both work again once Kafka is back, and no
//! acknowledged record is lost. Its own test binary, so
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
    let admin_timeout = Duration::from_secs(3);
    let log = KafkaLog::new(KafkaConfig {
        append_timeout,
        admin_timeout,
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

    // A member that has read the first records, to commit during the outage.
    let group = unique("committer");
    let mut committer = log
        .subscribe(&group, Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    read(&mut *committer, acknowledged, Duration::from_secs(30)).await;

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
    // A commit answers too (librdkafka's own would wait for a coordinator).
    let positions = committer.positions();
    let started = Instant::now();
    let err = committer.commit(&positions).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("commit during the outage answered in {took:?}: {err}");
    assert!(matches!(err, EventLogError::Unavailable(_)), "{err:?}");
    assert!(
        took < admin_timeout + Duration::from_secs(2),
        "commit answered in {took:?}"
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

    // The commit goes through once Kafka is back (the member reads on
    // meanwhile, as the materializer does: one that stops polling cannot
    // rejoin its group).
    let started = Instant::now();
    while let Err(e) = committer.commit(&positions).await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the commit never went through: {e:?}"
        );
        committer
            .next_batch(100, Duration::from_millis(500))
            .await
            .ok();
    }
    // Past the five records read (and their transaction marker, maybe).
    let committed = log.committed_offsets(&group, &topic).await.unwrap();
    assert!(
        matches!(committed[..], [Some(o)] if o >= 5),
        "{committed:?}"
    );

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
