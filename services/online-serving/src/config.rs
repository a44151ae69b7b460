//! Online serving configuration (see `config/online-serving.example.toml`).

use std::{net::SocketAddr, time::Duration};

use featurestore_catalog::{ConsistencySettings, EtcdSettings, LogSettings};
use featurestore_onlinestore::CassandraConfig;
use featurestore_runtime::{ServerConfig, ServiceConfig, TelemetryConfig, Validate};
use serde::{Deserialize, Serialize};

/// Default gRPC port of online serving.
pub const DEFAULT_PORT: u16 = 50053;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServingConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub etcd: EtcdSettings,
    pub cassandra: CassandraSettings,
    /// Entity keys in one GetFeatureVectors call.
    pub max_keys_per_request: usize,
    /// Waits for AFTER_WRITE reads.
    pub consistency: ConsistencySettings,
    /// Where partitions end, for consistency waits (distributed mode).
    pub kafka: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraSettings {
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// Upper bound of each read; keep it below `server.request_timeout`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A batch read asks for up to this many keys per `IN` query, grouped
    /// by owning replica (1 = one query per key).
    pub keys_per_query: usize,
}

impl Default for CassandraSettings {
    fn default() -> Self {
        let d = CassandraConfig::default();
        Self {
            nodes: d.nodes,
            keyspace: d.keyspace,
            request_timeout: Duration::from_secs(1),
            keys_per_query: d.keys_per_query,
        }
    }
}

impl CassandraSettings {
    pub fn client_config(&self) -> CassandraConfig {
        CassandraConfig {
            nodes: self.nodes.clone(),
            keyspace: self.keyspace.clone(),
            request_timeout: self.request_timeout,
            keys_per_query: self.keys_per_query,
            ..CassandraConfig::default()
        }
    }
}

impl Default for ServingConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                request_timeout: Duration::from_secs(3),
                ..ServerConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            etcd: EtcdSettings {
                request_timeout: Duration::from_secs(2),
                ..EtcdSettings::default()
            },
            cassandra: CassandraSettings::default(),
            max_keys_per_request: 10_000,
            consistency: ConsistencySettings {
                default_max_wait: Duration::from_secs(1),
                max_wait: Duration::from_millis(2_500),
            },
            kafka: LogSettings::default(),
        }
    }
}

impl ServiceConfig for ServingConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl Validate for ServingConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.etcd.validate(self.server.request_timeout)?;
        self.consistency.validate(self.server.request_timeout)?;
        self.kafka.validate(self.server.request_timeout)?;
        if self.cassandra.request_timeout >= self.server.request_timeout {
            return Err("cassandra.request_timeout must be below server.request_timeout".into());
        }
        if self.cassandra.keys_per_query == 0 {
            return Err("cassandra.keys_per_query must be at least 1".into());
        }
        if self.max_keys_per_request == 0 {
            return Err("max_keys_per_request must be positive".into());
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
            .join("../../k8s/base/online-serving/online-serving.toml");
        featurestore_runtime::config::load::<ServingConfig>(
            Some(&file),
            &HashMap::new(),
            "FS_SERVING_",
        )
        .unwrap();
    }

    #[test]
    fn example_config_loads() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/online-serving.example.toml");
        let config: ServingConfig =
            featurestore_runtime::config::load(Some(&example), &HashMap::new(), "FS_SERVING_")
                .unwrap();
        assert_eq!(config.server.listen_addr.port(), DEFAULT_PORT);
        assert_eq!(config.cassandra.request_timeout, Duration::from_secs(1));
    }
}
