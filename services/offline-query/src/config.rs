//! Offline query configuration (see `config/offline-query.example.toml`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use featurestore_catalog::{ConsistencySettings, EtcdSettings, LogSettings};
use featurestore_runtime::{ServerConfig, ServiceConfig, TelemetryConfig, Validate};
use serde::{Deserialize, Serialize};

/// Default port of offline query: the gRPC control API and Arrow Flight.
pub const DEFAULT_PORT: u16 = 50054;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineQueryConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub etcd: EtcdSettings,
    pub offline: OfflineSettings,
    pub query: QuerySettings,
    pub datasets: DatasetSettings,
    /// Waits for AFTER_WRITE reads (offline: until rows are committed to
    /// Delta, `batch.offline_flush_interval` of materialization apart).
    pub consistency: ConsistencySettings,
    /// Where partitions end, for consistency waits (distributed mode).
    pub kafka: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetSettings {
    /// Local directory of the training datasets
    /// (`<root>/<project>/<name>/v<version>-<id>/`).
    pub root: PathBuf,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        Self {
            root: "./data/datasets".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineSettings {
    /// Root of the Delta tables (what materialization writes).
    pub root: String,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            root: "./data/offline".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySettings {
    /// Memory for sorts across all running queries; beyond it they spill.
    pub memory_limit_mb: usize,
    /// Where sorts spill and entity rows are spooled.
    pub spill_dir: PathBuf,
    pub batch_size: usize,
    /// Join in memory when every group's rows fit in half of
    /// `memory_limit_mb` (faster); otherwise, or when false, sort and spill.
    pub in_memory_join: bool,
    /// Where entity rows given by location (`parquet_path`, `delta_path`)
    /// may be read: absolute directories. Empty: only inline Arrow rows
    /// (see `entity_roots.rs`).
    pub entity_roots: Vec<String>,
    /// The key Flight tickets are signed with (at least 32 bytes; the same
    /// file on every replica). Unset: a random key per process, so tickets
    /// work only on the replica that issued them.
    pub ticket_key_file: Option<PathBuf>,
    /// How long a ticket is accepted after it was issued.
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            memory_limit_mb: 1024,
            spill_dir: std::env::temp_dir().join("featurestore-offline-query"),
            batch_size: 8192,
            in_memory_join: true,
            entity_roots: Vec::new(),
            ticket_key_file: None,
            ticket_ttl: Duration::from_secs(3600),
        }
    }
}

impl Default for OfflineQueryConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                // Planning a query or building a training dataset (which
                // runs inside the call); reading over Flight streams past it.
                request_timeout: Duration::from_secs(600),
                max_message_bytes: 256 << 20,
                ..ServerConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            etcd: EtcdSettings::default(),
            offline: OfflineSettings::default(),
            query: QuerySettings::default(),
            datasets: DatasetSettings::default(),
            consistency: ConsistencySettings::default(),
            kafka: LogSettings::default(),
        }
    }
}

impl ServiceConfig for OfflineQueryConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl Validate for OfflineQueryConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.etcd.validate(self.server.request_timeout)?;
        self.consistency.validate(self.server.request_timeout)?;
        self.kafka.validate(self.server.request_timeout)?;
        if self.offline.root.is_empty() {
            return Err("offline.root is required".into());
        }
        if self.datasets.root.as_os_str().is_empty() {
            return Err("datasets.root is required".into());
        }
        if self.query.memory_limit_mb == 0 {
            return Err("query.memory_limit_mb must be positive".into());
        }
        if self.query.batch_size == 0 {
            return Err("query.batch_size must be positive".into());
        }
        if self.query.ticket_ttl.is_zero() {
            return Err("query.ticket_ttl must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, path::Path};

    use super::*;

    #[test]
    fn example_config_loads() {
        let example =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/offline-query.example.toml");
        let config: OfflineQueryConfig =
            featurestore_runtime::config::load(Some(&example), &HashMap::new(), "FS_OFFLINE_")
                .unwrap();
        assert_eq!(config.server.listen_addr.port(), DEFAULT_PORT);
        assert_eq!(config.query.memory_limit_mb, 1024);
    }

    #[test]
    fn kubernetes_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../k8s/base/offline-query/offline-query.toml");
        featurestore_runtime::config::load::<OfflineQueryConfig>(
            Some(&file),
            &HashMap::new(),
            "FS_OFFLINE_",
        )
        .unwrap();
    }
}
