//! Cassandra stops in the middle: reads and writes fail with UNAVAILABLE
//! within the request timeout (never a hang), and the same store works again
//! once Cassandra is back, without reconnecting by hand. Its own test
//! binary, so stopping Cassandra does not disturb other tests.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use featurestore_onlinestore::{
    CassandraConfig, CassandraStore, OnlineRow, OnlineStore, OnlineStoreError, testsuite::table,
};
use featurestore_proto::v1::{Value, value::Kind};

fn cassandra_ctl(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/cassandra.sh");
    let status = Command::new("bash")
        .arg(script)
        .arg(action)
        .status()
        .expect("cassandra.sh");
    assert!(status.success(), "cassandra.sh {action} failed");
}

struct CassandraBack;

impl Drop for CassandraBack {
    fn drop(&mut self) {
        cassandra_ctl("start");
    }
}

fn row(i: i64) -> OnlineRow {
    OnlineRow {
        entity_key: vec![1, 3, i as u8],
        event_time_micros: i,
        values: vec![Value {
            kind: Some(Kind::Int64Value(i)),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_while_down_and_recovers_by_itself() {
    let request_timeout = Duration::from_secs(2);
    let store = CassandraStore::connect(CassandraConfig {
        keyspace: "fs_conformance".into(),
        request_timeout,
        ..CassandraConfig::default()
    })
    .await
    .expect("cassandra is not reachable: run `make infra-up`");
    let t = table(&[("x", "int64")], 0);
    store.ensure_table(&t).await.unwrap();
    store.upsert(&t, &[row(1)]).await.unwrap();

    let _guard = CassandraBack;
    cassandra_ctl("stop");
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get(&t, &[vec![1, 3, 1]]).await.unwrap_err();
        assert!(matches!(err, OnlineStoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < request_timeout + Duration::from_secs(2),
            "read answered in {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let err = store.upsert(&t, &[row(2)]).await.unwrap_err();
        assert!(matches!(err, OnlineStoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < request_timeout + Duration::from_secs(2),
            "write answered in {:?}",
            started.elapsed()
        );
    }

    cassandra_ctl("start");
    let started = Instant::now();
    loop {
        match store.get(&t, &[vec![1, 3, 1]]).await {
            Ok(rows) => {
                assert_eq!(
                    rows[0].as_ref().map(|r| r.event_time_micros),
                    Some(1),
                    "data written before the outage"
                );
                break;
            }
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(90),
                    "did not recover: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    store.upsert(&t, &[row(3)]).await.unwrap();
    println!(
        "online store recovered {:?} after cassandra restarted",
        started.elapsed()
    );
}
