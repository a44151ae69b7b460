//! The `standalone` binary as a user runs it: a child process on free ports
//! over a data directory.

#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use featurestore_proto::v1::{ListProjectsRequest, registry_service_client::RegistryServiceClient};
use tonic::transport::Channel;

/// Five free ports (bound and released; the OS does not hand them out again
/// right away).
pub fn free_ports() -> [u16; 5] {
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    ports.try_into().unwrap()
}

/// `standalone --data-dir <dir>` listening on `ports` (registry, ingestion,
/// serving, offline, materialization).
pub fn command(data_dir: &Path, ports: [u16; 5]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_standalone"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("FS_STANDALONE_CONFIG")
        .env("FS_STANDALONE_TELEMETRY__LOG_LEVEL", "warn");
    for (name, port) in [
        "registry",
        "ingestion",
        "serving",
        "offline",
        "materialization",
    ]
    .iter()
    .zip(ports)
    {
        command.env(
            format!("FS_STANDALONE_LISTEN__{}", name.to_uppercase()),
            format!("127.0.0.1:{port}"),
        );
    }
    command
}

/// A running standalone process, killed (SIGKILL) when dropped.
pub struct Running {
    pub child: Child,
    pub ports: [u16; 5],
}

impl Running {
    pub fn url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[index])
    }

    pub async fn channel(&self, index: usize) -> Channel {
        Channel::from_shared(self.url(index))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    /// Kills the process the hard way: no graceful shutdown, no flush.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and waits until the registry answers.
pub async fn start(data_dir: &Path, ports: [u16; 5]) -> Running {
    start_command(command(data_dir, ports), ports).await
}

/// Starts `command` (from [`command`], with more settings) and waits until
/// the registry answers.
pub async fn start_command(mut command: Command, ports: [u16; 5]) -> Running {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn standalone");
    let mut running = Running { child, ports };
    let started = Instant::now();
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("standalone exited at start-up: {status}");
        }
        if let Ok(channel) = Channel::from_shared(running.url(0))
            .unwrap()
            .connect()
            .await
            && RegistryServiceClient::new(channel)
                .list_projects(ListProjectsRequest::default())
                .await
                .is_ok()
        {
            return running;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "standalone did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the binary expecting it to refuse to start; its exit and stderr.
pub fn refused(data_dir: &Path, ports: [u16; 5]) -> (Output, String) {
    let mut child = command(data_dir, ports)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn standalone");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("standalone kept running; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// Project `energy`: entity `household` (household_id int64), group `daily`
/// (kwh float64, measures int64) and view `model` over it.
pub async fn energy_catalog(running: &Running) {
    use featurestore_domain::fixtures::{entity, group, project, view};
    use featurestore_proto::v1::{
        CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest,
        CreateProjectRequest, ScalarType,
    };
    let mut registry = RegistryServiceClient::new(running.channel(0).await);
    registry
        .create_project(CreateProjectRequest {
            project: Some(project("energy")),
        })
        .await
        .unwrap();
    registry
        .create_entity(CreateEntityRequest {
            entity: Some(entity(
                "energy",
                "household",
                &[("household_id", ScalarType::Int64)],
            )),
        })
        .await
        .unwrap();
    registry
        .create_feature_group(CreateFeatureGroupRequest {
            feature_group: Some(group(
                "energy",
                "daily",
                "household",
                &[("kwh", "float64"), ("measures", "int64")],
            )),
        })
        .await
        .unwrap();
    registry
        .create_feature_view(CreateFeatureViewRequest {
            feature_view: Some(view("energy", "model", &[("daily", &[])])),
        })
        .await
        .unwrap();
}

/// An ingest of `keys` into the energy catalog's `daily` group (see
/// [`energy_catalog`]), every row at `event_time`, `kwh` from the key.
pub fn daily_rows(
    keys: std::ops::Range<i64>,
    event_time: i64,
    kwh: impl Fn(i64) -> f64,
) -> featurestore_proto::v1::IngestRequest {
    use featurestore_proto::v1::{FeatureGroupRef, IngestRequest, Row, Value, value::Kind};
    let v = |kind| Value { kind: Some(kind) };
    IngestRequest {
        group: Some(FeatureGroupRef {
            project: "energy".into(),
            name: "daily".into(),
            version: 0,
        }),
        columns: ["household_id", "event_time", "kwh", "measures"]
            .map(String::from)
            .to_vec(),
        rows: keys
            .map(|k| Row {
                values: vec![
                    v(Kind::Int64Value(k)),
                    v(Kind::TimestampValue(event_time)),
                    v(Kind::Float64Value(kwh(k))),
                    v(Kind::Int64Value(48)),
                ],
            })
            .collect(),
        idempotency_key: String::new(),
    }
}

/// `GetFeatureVector` of `key` through view `model` of the energy catalog
/// (see [`energy_catalog`]), with freshness.
pub fn vector_request(
    key: i64,
    consistency: Option<featurestore_proto::v1::Consistency>,
) -> featurestore_proto::v1::GetFeatureVectorRequest {
    use featurestore_proto::v1::{
        EntityKey, FeatureSelector, FeatureViewRef, GetFeatureVectorRequest, Value,
        feature_selector::Selector, value::Kind,
    };
    GetFeatureVectorRequest {
        project: "energy".into(),
        selector: Some(FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "model".into(),
                version: 0,
            })),
        }),
        entity_key: Some(EntityKey {
            join_keys: vec!["household_id".into()],
            values: vec![Value {
                kind: Some(Kind::Int64Value(key)),
            }],
        }),
        include_event_times: false,
        consistency,
        include_freshness: true,
    }
}
