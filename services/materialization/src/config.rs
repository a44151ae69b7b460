//! Materialization configuration (see `config/materialization.example.toml`).

use std::{net::SocketAddr, time::Duration};

use featurestore_catalog::EtcdSettings;
use featurestore_eventlog::KafkaConfig;
use featurestore_onlinestore::CassandraConfig;
use featurestore_runtime::{ServerConfig, ServiceConfig, TelemetryConfig, Validate};
use serde::{Deserialize, Serialize};

/// Default gRPC port of materialization (health and admin).
pub const DEFAULT_PORT: u16 = 50055;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MaterializationConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub etcd: EtcdSettings,
    pub kafka: KafkaSettings,
    pub cassandra: CassandraSettings,
    pub offline: OfflineSettings,
    pub batch: BatchSettings,
    pub corrections: CorrectionSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// The consumer group; also the consumer name recorded in Delta commits.
    pub group_id: String,
    /// Topics consumed: every feature-group topic (`fs.`), or a narrower
    /// prefix such as `fs.<project>.` to run one instance per project.
    pub topic_prefix: String,
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraSettings {
    pub nodes: Vec<String>,
    pub keyspace: String,
    pub replication: String,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineSettings {
    /// Directory (or object-store URL) holding the Delta tables.
    pub root: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSettings {
    /// Most records per batch.
    pub max_records: usize,
    /// How long to wait for the first record of a batch.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// How often queued offline rows are committed to Delta (and Kafka
    /// offsets after them). Online writes do not wait for it.
    #[serde(with = "humantime_serde")]
    pub offline_flush_interval: Duration,
    /// Commit to Delta sooner when this many offline rows are queued.
    pub max_pending_rows: usize,
    /// Longest pause between retries of a failing batch.
    #[serde(with = "humantime_serde")]
    pub max_retry_delay: Duration,
    /// Progress (offsets applied, watermarks) is published at most this
    /// often; the first change after a quiet spell at once.
    #[serde(with = "humantime_serde")]
    pub progress_interval: Duration,
    /// The metadata store's history is compacted to this many revisions
    /// behind the newest progress write (0: never; leave it to etcd's
    /// auto-compaction). Watchers further behind re-list.
    pub progress_keep_revisions: u64,
}

/// `[corrections]`: tile corrections of every aggregated group on a
/// schedule (`crate::schedule`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CorrectionSettings {
    /// How often to look for a range due (0: never, the default).
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// The range each covers, ending where the current tile of the
    /// coarsest grain starts (with daily tiles and the default 1 day: the
    /// previous day). One replica corrects each range once.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// Most events of the offline table a correction (or a bootstrap)
    /// holds in memory: a larger table is read once per hash bucket of
    /// keys, as many buckets as it takes; keys are compared in rounds of a
    /// tenth of it in events (their tiles take more room than events).
    pub max_events_in_memory: u64,
}

impl Default for CorrectionSettings {
    fn default() -> Self {
        Self {
            every: Duration::ZERO,
            lookback: Duration::from_secs(86_400),
            max_events_in_memory: 2_000_000,
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_id: "fs-materialization".into(),
            topic_prefix: featurestore_domain::names::TOPIC_PREFIX.into(),
            session_timeout: Duration::from_secs(10),
        }
    }
}

impl KafkaSettings {
    pub fn client_config(&self) -> KafkaConfig {
        let mut properties = std::collections::BTreeMap::new();
        // A long outage of a sink keeps a batch retrying without polling;
        // allow that for a while before the group moves the partitions.
        properties.insert("max.poll.interval.ms".into(), "900000".into());
        KafkaConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            session_timeout: self.session_timeout,
            properties,
            ..KafkaConfig::default()
        }
    }
}

impl Default for CassandraSettings {
    fn default() -> Self {
        let defaults = CassandraConfig::default();
        Self {
            nodes: defaults.nodes,
            keyspace: defaults.keyspace,
            replication: defaults.replication,
            request_timeout: defaults.request_timeout,
        }
    }
}

impl CassandraSettings {
    pub fn client_config(&self) -> CassandraConfig {
        CassandraConfig {
            nodes: self.nodes.clone(),
            keyspace: self.keyspace.clone(),
            replication: self.replication.clone(),
            request_timeout: self.request_timeout,
            ..CassandraConfig::default()
        }
    }
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            root: "./data/offline".into(),
        }
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            max_wait: Duration::from_millis(50),
            offline_flush_interval: Duration::from_secs(1),
            max_pending_rows: 200_000,
            max_retry_delay: Duration::from_secs(5),
            progress_interval: Duration::from_millis(20),
            progress_keep_revisions: 10_000,
        }
    }
}

impl Default for MaterializationConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                ..ServerConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            etcd: EtcdSettings::default(),
            kafka: KafkaSettings::default(),
            cassandra: CassandraSettings::default(),
            offline: OfflineSettings::default(),
            batch: BatchSettings::default(),
            corrections: CorrectionSettings::default(),
        }
    }
}

impl ServiceConfig for MaterializationConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl Validate for MaterializationConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.etcd.validate(self.server.request_timeout)?;
        if self.kafka.group_id.is_empty() || self.kafka.group_id.contains('/') {
            return Err("kafka.group_id must be non-empty and without '/'".into());
        }
        if !self
            .kafka
            .topic_prefix
            .starts_with(featurestore_domain::names::TOPIC_PREFIX)
        {
            return Err(format!(
                "kafka.topic_prefix must start with {:?}",
                featurestore_domain::names::TOPIC_PREFIX
            ));
        }
        if self.cassandra.nodes.is_empty() {
            return Err("cassandra.nodes must name at least one node".into());
        }
        if self.offline.root.is_empty() {
            return Err("offline.root is required".into());
        }
        if self.batch.max_pending_rows == 0 || self.batch.offline_flush_interval.is_zero() {
            return Err(
                "batch.max_pending_rows and batch.offline_flush_interval must be positive".into(),
            );
        }
        if self.batch.max_records == 0 {
            return Err("batch.max_records must be positive".into());
        }
        if !self.corrections.every.is_zero() && self.corrections.lookback.is_zero() {
            return Err("corrections.lookback must be positive when corrections.every is".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, path::Path};

    use super::*;

    #[test]
    fn kubernetes_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../k8s/base/materialization/materialization.toml");
        featurestore_runtime::config::load::<MaterializationConfig>(
            Some(&file),
            &HashMap::new(),
            "FS_MATERIALIZATION_",
        )
        .unwrap();
    }

    #[test]
    fn example_config_loads_and_checks_the_topic_prefix() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/materialization.example.toml");
        let config: MaterializationConfig = featurestore_runtime::config::load(
            Some(&example),
            &HashMap::new(),
            "FS_MATERIALIZATION_",
        )
        .unwrap();
        assert_eq!(config.batch.offline_flush_interval, Duration::from_secs(1));
        let env: HashMap<String, String> = [(
            "FS_MATERIALIZATION_KAFKA__TOPIC_PREFIX".to_string(),
            "other.".to_string(),
        )]
        .into();
        let err = featurestore_runtime::config::load::<MaterializationConfig>(
            None,
            &env,
            "FS_MATERIALIZATION_",
        )
        .unwrap_err();
        assert!(err.to_string().contains("topic_prefix"), "{err}");
    }
}
