//! Ingestion configuration (see `config/ingestion.example.toml`).

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use featurestore_catalog::EtcdSettings;
use featurestore_eventlog::KafkaConfig;
use featurestore_runtime::{ServerConfig, ServiceConfig, TelemetryConfig, Validate};
use serde::{Deserialize, Serialize};

pub use crate::idempotency::IdempotencySettings;

/// Default gRPC port of ingestion.
pub const DEFAULT_PORT: u16 = 50052;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestionConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub etcd: EtcdSettings,
    pub kafka: KafkaSettings,
    pub limits: Limits,
    pub idempotency: IdempotencySettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// Longest an ingest waits for Kafka to acknowledge its rows; keep it
    /// below `server.request_timeout`.
    #[serde(with = "humantime_serde")]
    pub append_timeout: Duration,
    /// Replication factor of the topics ingestion creates.
    pub replication_factor: i32,
    /// The producer's `transactional.id` (one per replica, e.g. the pod
    /// name); empty: a new one per process. See `KafkaConfig`.
    pub transactional_id: String,
    /// Extra librdkafka properties.
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Rows in one `Ingest` request.
    pub max_rows_per_request: usize,
    /// Rows in one `IngestStream` call (they are held until the stream ends).
    pub max_rows_per_stream: usize,
    /// Violations reported in a rejected request's details.
    pub max_violations_reported: usize,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            append_timeout: Duration::from_secs(5),
            replication_factor: 1,
            transactional_id: String::new(),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    pub fn client_config(&self) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            append_timeout: self.append_timeout,
            replication_factor: self.replication_factor,
            transactional_id: (!self.transactional_id.is_empty())
                .then(|| self.transactional_id.clone()),
            properties: self.properties.clone(),
            ..KafkaConfig::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows_per_request: 100_000,
            max_rows_per_stream: 2_000_000,
            max_violations_reported: 100,
        }
    }
}

impl Default for IngestionConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                ..ServerConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            etcd: EtcdSettings::default(),
            kafka: KafkaSettings::default(),
            limits: Limits::default(),
            idempotency: IdempotencySettings::default(),
        }
    }
}

impl ServiceConfig for IngestionConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl Validate for IngestionConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.etcd.validate(self.server.request_timeout)?;
        if self.kafka.bootstrap_servers.is_empty() {
            return Err("kafka.bootstrap_servers is required".into());
        }
        if self.kafka.append_timeout >= self.server.request_timeout {
            return Err("kafka.append_timeout must be below server.request_timeout".into());
        }
        if self.kafka.replication_factor < 1 {
            return Err("kafka.replication_factor must be at least 1".into());
        }
        if self.idempotency.window.is_zero() {
            return Err("idempotency.window must be positive".into());
        }
        if self.limits.max_rows_per_request == 0 || self.limits.max_rows_per_stream == 0 {
            return Err(
                "limits.max_rows_per_request and max_rows_per_stream must be positive".into(),
            );
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
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/base/ingestion/ingestion.toml");
        featurestore_runtime::config::load::<IngestionConfig>(
            Some(&file),
            &HashMap::new(),
            "FS_INGESTION_",
        )
        .unwrap();
    }

    #[test]
    fn example_config_loads() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ingestion.example.toml");
        let config: IngestionConfig =
            featurestore_runtime::config::load(Some(&example), &HashMap::new(), "FS_INGESTION_")
                .unwrap();
        assert_eq!(config.server.listen_addr.port(), DEFAULT_PORT);
        assert_eq!(config.limits, Limits::default());
    }
}
