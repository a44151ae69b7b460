//! kill -9 of the materialization process in the middle of a stream, then a
//! restart: every acknowledged row is in Delta exactly once and the online
//! store holds the latest per key. Runs the real binary against the real
//! servers (`make infra-up`).

use std::process::{Child, Command, Stdio};

use featurestore_integration_tests::{
    etcd_endpoint,
    ingestion::kafka_bootstrap,
    materialization::cassandra_node,
    world::{World, event, ingest, offline_rows, wait_online, world},
};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(w: &World) -> Process {
    // The test never calls the admin port: let the system pick one.
    let child = Command::new(env!("CARGO_BIN_EXE_materialization"))
        .env("FS_MATERIALIZATION_SERVER__LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "FS_MATERIALIZATION_ETCD__ENDPOINTS",
            format!("[\"{}\"]", etcd_endpoint()),
        )
        .env("FS_MATERIALIZATION_ETCD__ROOT", w.registry.root())
        .env(
            "FS_MATERIALIZATION_KAFKA__BOOTSTRAP_SERVERS",
            kafka_bootstrap(),
        )
        .env(
            "FS_MATERIALIZATION_KAFKA__GROUP_ID",
            format!("mat_{}", w.project),
        )
        .env(
            "FS_MATERIALIZATION_KAFKA__TOPIC_PREFIX",
            format!("fs.{}.", w.project),
        )
        .env("FS_MATERIALIZATION_KAFKA__SESSION_TIMEOUT", "6s")
        .env(
            "FS_MATERIALIZATION_CASSANDRA__NODES",
            format!("[\"{}\"]", cassandra_node()),
        )
        .env("FS_MATERIALIZATION_CASSANDRA__KEYSPACE", "fs_e2e")
        .env("FS_MATERIALIZATION_OFFLINE__ROOT", w.offline_dir.path())
        .env("FS_MATERIALIZATION_BATCH__MAX_RECORDS", "50")
        .env("FS_MATERIALIZATION_TELEMETRY__LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start materialization");
    Process(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_leaves_every_row_exactly_once() {
    let w = world().await;
    // Published progress is followed from outside: it must only move forward.
    let progress = featurestore_integration_tests::progress::ProgressWatch::start(
        featurestore_integration_tests::metadata_store().await,
        w.registry.root(),
    );
    let keys: Vec<i64> = (0..100).collect();
    let mut process = start(&w);
    for time in 1..=10 {
        ingest(&w, keys.iter().map(|k| event(*k, time)).collect()).await;
        if time == 4 {
            // Once it has applied the fourth batch online (its Delta commit
            // and log positions may still be pending), kill it without
            // warning.
            let _ = wait_online(&w, &keys, 4).await;
            let pid = process.0.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-9", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            let _ = process.0.wait();
            process = start(&w);
        }
    }
    let _ = wait_online(&w, &keys, 10).await;
    let rows = offline_rows(&w, 1000).await;
    let mut want: Vec<(i64, i64)> = keys
        .iter()
        .flat_map(|k| (1..=10).map(move |t| (*k, t)))
        .collect();
    want.sort();
    assert_eq!(rows, want, "every acknowledged row exactly once in Delta");
    progress.assert_only_forward();
    drop(process);
}
