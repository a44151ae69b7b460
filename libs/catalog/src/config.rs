//! How a service reaches the catalog in etcd (the `[etcd]` section of every
//! service's configuration).

use std::time::Duration;

use featurestore_metastore::EtcdConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    /// Prefix of every catalog key.
    pub root: String,
    /// Upper bound of each etcd call; keep it below `server.request_timeout`
    /// so an etcd outage is answered with UNAVAILABLE, not a deadline.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for EtcdSettings {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            root: crate::DEFAULT_ROOT.into(),
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl EtcdSettings {
    pub fn validate(&self, server_request_timeout: Duration) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("etcd.endpoints must name at least one etcd member".into());
        }
        if !self.root.starts_with('/') {
            return Err(format!("etcd.root {:?} must start with '/'", self.root));
        }
        if self.request_timeout >= server_request_timeout {
            return Err("etcd.request_timeout must be below server.request_timeout".into());
        }
        Ok(())
    }

    pub fn client_config(&self) -> EtcdConfig {
        EtcdConfig {
            endpoints: self.endpoints.clone(),
            request_timeout: self.request_timeout,
            connect_timeout: self.connect_timeout,
        }
    }
}
