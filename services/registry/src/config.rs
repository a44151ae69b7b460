//! Registry configuration (see `config/registry.example.toml`).

use std::net::SocketAddr;

pub use featurestore_catalog::EtcdSettings;
use featurestore_runtime::{ServerConfig, ServiceConfig, TelemetryConfig, Validate};
use serde::{Deserialize, Serialize};

/// Default gRPC port of the registry.
pub const DEFAULT_PORT: u16 = 50051;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub etcd: EtcdSettings,
    /// Kafka partitions of a group that does not ask for a number.
    pub default_partitions: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
                ..ServerConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            etcd: EtcdSettings::default(),
            default_partitions: 8,
        }
    }
}

impl ServiceConfig for RegistryConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl Validate for RegistryConfig {
    fn validate(&self) -> Result<(), String> {
        self.server.validate()?;
        self.telemetry.validate()?;
        if self.etcd.endpoints.is_empty() {
            return Err("etcd.endpoints must name at least one etcd member".into());
        }
        if !self.etcd.root.starts_with('/') {
            return Err(format!(
                "etcd.root {:?} must start with '/'",
                self.etcd.root
            ));
        }
        if self.etcd.request_timeout >= self.server.request_timeout {
            return Err("etcd.request_timeout must be below server.request_timeout".into());
        }
        if self.default_partitions == 0
            || self.default_partitions > featurestore_domain::schema::MAX_PARTITIONS
        {
            return Err(format!(
                "default_partitions must be in 1..={}",
                featurestore_domain::schema::MAX_PARTITIONS
            ));
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
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s/base/registry/registry.toml");
        featurestore_runtime::config::load::<RegistryConfig>(
            Some(&file),
            &HashMap::new(),
            "FS_REGISTRY_",
        )
        .unwrap();
    }

    #[test]
    fn example_config_loads_and_env_overrides_it() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/registry.example.toml");
        let env: HashMap<String, String> = [
            (
                "FS_REGISTRY_ETCD__ENDPOINTS".to_string(),
                "[\"http://etcd:2379\"]".to_string(),
            ),
            (
                "FS_REGISTRY_DEFAULT_PARTITIONS".to_string(),
                "16".to_string(),
            ),
        ]
        .into();
        let config: RegistryConfig =
            featurestore_runtime::config::load(Some(&example), &env, "FS_REGISTRY_").unwrap();
        assert_eq!(config.etcd.endpoints, ["http://etcd:2379"]);
        assert_eq!(config.default_partitions, 16);
        assert_eq!(config.server.listen_addr.port(), DEFAULT_PORT);
    }

    #[test]
    fn etcd_timeout_must_fit_in_the_request_deadline() {
        let env: HashMap<String, String> = [(
            "FS_REGISTRY_ETCD__REQUEST_TIMEOUT".to_string(),
            "30s".to_string(),
        )]
        .into();
        let err = featurestore_runtime::config::load::<RegistryConfig>(None, &env, "FS_REGISTRY_")
            .unwrap_err();
        assert!(err.to_string().contains("etcd.request_timeout"), "{err}");
    }
}
