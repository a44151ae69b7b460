//! Configuration: defaults, then a TOML file, then environment variables
//! with the service's prefix, validated at start-up. Unknown keys are
//! rejected (config structs use `deny_unknown_fields`), so a typo fails the
//! start instead of being ignored.
//!
//! Environment variables map to keys by dropping the prefix, lowercasing and
//! reading `__` as nesting: `FS_REGISTRY_SERVER__LISTEN_ADDR` sets
//! `server.listen_addr`.

use std::{collections::HashMap, net::SocketAddr, path::Path, str::FromStr, time::Duration};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Checks a loaded configuration.
pub trait Validate {
    fn validate(&self) -> Result<(), String>;
}

/// Loads `T` from its defaults, the optional TOML `file`, and the variables
/// of `env` starting with `env_prefix` (pass `std::env::vars().collect()`).
pub fn load<T>(
    file: Option<&Path>,
    env: &HashMap<String, String>,
    env_prefix: &str,
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(ConfigError::MissingFile(file.display().to_string()));
        }
        figment = figment.merge(Toml::file(file));
    }
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(env_prefix) && k.len() > env_prefix.len())
        .collect();
    vars.sort();
    for (key, value) in vars {
        let path = key[env_prefix.len()..].to_lowercase().replace("__", ".");
        let value = figment::value::Value::from_str(value)
            .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
        figment = figment.merge(Serialized::default(&path, value));
    }
    let config: T = figment.extract().map_err(Box::new)?;
    config.validate().map_err(ConfigError::Invalid)?;
    Ok(config)
}

/// The gRPC server of a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen_addr: SocketAddr,
    /// A second, plain-text listener answering only `grpc.health.v1` (the
    /// same statuses), for probes that cannot speak TLS (the kubelet's gRPC
    /// probes) when `[server.tls]` is on. Unset: none.
    pub health_listen_addr: Option<SocketAddr>,
    /// Upper bound of a unary request (clients' `grpc-timeout` may be lower).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Requests in flight across all connections; beyond it, requests wait.
    pub concurrency_limit: usize,
    /// Shed load (UNAVAILABLE) instead of queueing when at the limit.
    pub load_shed: bool,
    /// How long in-flight requests may run after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Largest request or response message.
    pub max_message_bytes: usize,
    /// `[server.tls]`: TLS (and mutual TLS) on the listener; off by default.
    pub tls: crate::TlsConfig,
    /// `[server.auth]`: who may call (bearer tokens, client certificates).
    pub auth: crate::AuthConfig,
    /// `[server.rate_limit]`: requests per second per caller; off by default.
    pub rate_limit: crate::RateLimitConfig,
    /// `[server.authz]`: project roles and the audit log; off by default.
    pub authz: crate::AuthzConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            health_listen_addr: None,
            request_timeout: Duration::from_secs(10),
            concurrency_limit: 1024,
            load_shed: true,
            shutdown_grace: Duration::from_secs(20),
            max_message_bytes: 64 << 20,
            tls: crate::TlsConfig::default(),
            auth: crate::AuthConfig::default(),
            rate_limit: crate::RateLimitConfig::default(),
            authz: crate::AuthzConfig::default(),
        }
    }
}

impl Validate for ServerConfig {
    fn validate(&self) -> Result<(), String> {
        if self.concurrency_limit == 0 {
            return Err("server.concurrency_limit must be at least 1".into());
        }
        if self.request_timeout.is_zero() {
            return Err("server.request_timeout must be positive".into());
        }
        if self.max_message_bytes < 1024 {
            return Err("server.max_message_bytes must be at least 1024".into());
        }
        self.tls.validate()?;
        self.auth.validate()?;
        self.authz.validate()?;
        self.rate_limit.validate()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Logs and traces.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// A `tracing` filter such as `info` or `info,featurestore=debug`.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces (e.g. `http://otel-collector:4317`);
    /// empty disables trace export.
    pub otlp_endpoint: String,
    /// The share of traces this process starts (0 to 1); a request whose
    /// caller sampled its trace is always traced.
    pub trace_sample_ratio: f64,
    /// Where Prometheus scrapes this process's metrics (`GET /metrics`);
    /// unset: none recorded.
    pub metrics_listen_addr: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Text,
            otlp_endpoint: String::new(),
            trace_sample_ratio: 0.01,
            metrics_listen_addr: None,
        }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self) -> Result<(), String> {
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| format!("telemetry.log_level {:?}: {e}", self.log_level))?;
        if !(0.0..=1.0).contains(&self.trace_sample_ratio) {
            return Err(format!(
                "telemetry.trace_sample_ratio {} must be between 0 and 1",
                self.trace_sample_ratio
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, Default, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct TestConfig {
        server: ServerConfig,
        name: String,
    }

    impl Validate for TestConfig {
        fn validate(&self) -> Result<(), String> {
            self.server.validate()
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_defaults_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "name = \"from-file\"\n[server]\nlisten_addr = \"127.0.0.1:7000\"\nrequest_timeout = \"3s\"\n",
        )
        .unwrap();
        let config: TestConfig = load(
            Some(&file),
            &env(&[
                ("FS_T_SERVER__LISTEN_ADDR", "127.0.0.1:7001"),
                ("OTHER", "x"),
            ]),
            "FS_T_",
        )
        .unwrap();
        assert_eq!(config.name, "from-file");
        assert_eq!(config.server.listen_addr.port(), 7001, "env wins over file");
        assert_eq!(config.server.request_timeout, Duration::from_secs(3));
        assert_eq!(config.server.concurrency_limit, 1024, "default kept");
    }

    #[test]
    fn rejects_unknown_keys_and_invalid_values() {
        let err = load::<TestConfig>(None, &env(&[("FS_T_SERVER__LISTEN_ADRR", "x")]), "FS_T_")
            .unwrap_err();
        assert!(err.to_string().contains("listen_adrr"), "{err}");
        let err = load::<TestConfig>(
            None,
            &env(&[("FS_T_SERVER__CONCURRENCY_LIMIT", "0")]),
            "FS_T_",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
        let err = load::<TestConfig>(Some(Path::new("/nonexistent.toml")), &env(&[]), "FS_T_")
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }
}
