//! Standalone configuration: defaults, then `--config <file.toml>`, then
//! `FS_STANDALONE_*` environment variables (`FS_STANDALONE_DATA_DIR`,
//! `FS_STANDALONE_LISTEN__SERVING=0.0.0.0:50053`, ...). Everything else
//! each service needs has its distributed-mode default.

use std::{net::SocketAddr, path::PathBuf};

use featurestore_eventlog::RedbLog;
use featurestore_materialization::config::CorrectionSettings;
use featurestore_offline_query::config::QuerySettings;
use featurestore_onlinestore::RedbOnlineStore;
use featurestore_runtime::{
    AuthConfig, AuthzConfig, RateLimitConfig, ServerConfig, ServiceConfig, TelemetryConfig,
    TlsConfig, Validate,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StandaloneConfig {
    /// Holds every embedded backend (see `data_dir.rs` for the layout).
    pub data_dir: PathBuf,
    pub listen: Listen,
    pub telemetry: TelemetryConfig,
    /// The offline query engine (memory limit, spill directory, ...).
    pub query: QuerySettings,
    /// `[tls]`: TLS (mutual with `client_ca_file`) on every listener, as
    /// `[server.tls]` of a service. Off by default (loopback only).
    pub tls: TlsConfig,
    /// `[auth]`: who may call every listener, as `[server.auth]` of a
    /// service. Off by default.
    pub auth: AuthConfig,
    /// `[rate_limit]`: requests per second per caller on every listener.
    pub rate_limit: RateLimitConfig,
    /// `[authz]`: project roles and the audit log, as `[server.authz]` of a
    /// service. Off by default.
    pub authz: AuthzConfig,
    /// `[corrections]`: tile corrections of every aggregated group on a
    /// schedule, as materialization's. Off by default.
    pub corrections: CorrectionSettings,
    /// `[storage]`: the embedded stores' page caches.
    pub storage: StorageSettings,
    /// `[runtime]`: the process's threads.
    pub runtime: RuntimeSettings,
}

/// The threads of the standalone process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Most threads running blocking work at once: every read and write of
    /// the embedded stores, file reads, the query engine's per-batch
    /// computation. Each thread keeps allocator memory of its own (pages
    /// one thread allocates and another frees are reused by the first
    /// only), so resident memory under load grows with the threads in use:
    /// Tokio's default of 512 let a 500k-event fold hold ~2 GB, 4 threads
    /// ~1.4 GB, as fast (ARCHITECTURE.md, "Memory"). Default: twice the
    /// cores, at least 4.
    pub blocking_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            blocking_threads: (2 * cores).max(4),
        }
    }
}

/// How much memory the embedded stores may keep of their files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Page cache of the online store (`online.redb`), in MiB: pages read
    /// and written stay cached up to it (serving's hot tiles and rows).
    pub online_cache_mb: usize,
    /// Page cache of the event log (`eventlog.redb`), in MiB.
    pub event_log_cache_mb: usize,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            online_cache_mb: RedbOnlineStore::DEFAULT_CACHE_BYTES >> 20,
            event_log_cache_mb: RedbLog::DEFAULT_CACHE_BYTES >> 20,
        }
    }
}

/// Where each service listens: the ports of the distributed services, so
/// clients (fsctl, inference services, pyarrow.flight) work unchanged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub registry: SocketAddr,
    pub ingestion: SocketAddr,
    pub serving: SocketAddr,
    /// Offline query and its Arrow Flight endpoint.
    pub offline: SocketAddr,
    pub materialization: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            registry: local(featurestore_registry::config::DEFAULT_PORT),
            ingestion: local(featurestore_ingestion::config::DEFAULT_PORT),
            serving: local(featurestore_online_serving::config::DEFAULT_PORT),
            offline: local(featurestore_offline_query::config::DEFAULT_PORT),
            materialization: local(featurestore_materialization::config::DEFAULT_PORT),
        }
    }
}

impl Listen {
    /// Every service on a free loopback port (tests, several instances).
    pub fn any_port() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            registry: any,
            ingestion: any,
            serving: any,
            offline: any,
            materialization: any,
        }
    }

    /// Every address with its key under `[listen]` and the service's name.
    pub fn named(&self) -> [(&'static str, &'static str, SocketAddr); 5] {
        [
            ("registry", "registry", self.registry),
            ("ingestion", "ingestion", self.ingestion),
            ("serving", "online serving", self.serving),
            ("offline", "offline query", self.offline),
            ("materialization", "materialization", self.materialization),
        ]
    }
}

impl Default for StandaloneConfig {
    fn default() -> Self {
        Self {
            data_dir: "featurestore-data".into(),
            listen: Listen::default(),
            telemetry: TelemetryConfig::default(),
            query: QuerySettings::default(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            authz: AuthzConfig::default(),
            corrections: CorrectionSettings::default(),
            storage: StorageSettings::default(),
            runtime: RuntimeSettings::default(),
        }
    }
}

impl ServiceConfig for StandaloneConfig {
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

impl StandaloneConfig {
    /// Gives a service's server the listeners' TLS, identities, limits and
    /// roles.
    pub fn secure(&self, server: &mut ServerConfig) {
        server.tls = self.tls.clone();
        server.auth = self.auth.clone();
        server.rate_limit = self.rate_limit.clone();
        server.authz = self.authz.clone();
    }
}

impl Validate for StandaloneConfig {
    fn validate(&self) -> Result<(), String> {
        self.telemetry.validate()?;
        self.tls
            .validate()
            .map_err(|e| e.replace("server.tls", "tls"))?;
        self.auth
            .validate()
            .map_err(|e| e.replace("server.auth", "auth"))?;
        self.rate_limit
            .validate()
            .map_err(|e| e.replace("server.rate_limit", "rate_limit"))?;
        self.authz
            .validate()
            .map_err(|e| e.replace("server.authz", "authz"))?;
        if self.data_dir.as_os_str().is_empty() {
            return Err("data_dir is required".into());
        }
        let named = self.listen.named();
        for (i, (a, _, addr)) in named.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if let Some((b, _, _)) = named[i + 1..].iter().find(|(_, _, other)| other == addr) {
                return Err(format!("listen.{a} and listen.{b} are both {addr}"));
            }
        }
        if self.query.memory_limit_mb == 0 || self.query.batch_size == 0 {
            return Err("query.memory_limit_mb and query.batch_size must be positive".into());
        }
        if self.runtime.blocking_threads == 0 {
            return Err("runtime.blocking_threads must be positive".into());
        }
        if self.storage.online_cache_mb == 0 || self.storage.event_log_cache_mb == 0 {
            return Err(
                "storage.online_cache_mb and storage.event_log_cache_mb must be positive".into(),
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
    fn example_config_loads() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/standalone.example.toml");
        let config: StandaloneConfig =
            featurestore_runtime::config::load(Some(&example), &HashMap::new(), "FS_STANDALONE_")
                .unwrap();
        assert_eq!(config.listen, Listen::default());
        assert_eq!(config.storage, StorageSettings::default());
    }

    /// The error of loading the defaults with one variable set.
    fn refusal(name: &str, value: &str) -> String {
        let env = HashMap::from([(format!("FS_STANDALONE_{name}"), value.to_string())]);
        featurestore_runtime::config::load::<StandaloneConfig>(None, &env, "FS_STANDALONE_")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_store_without_a_page_cache_is_refused_naming_it() {
        let error = refusal("STORAGE__ONLINE_CACHE_MB", "0");
        assert!(error.contains("storage.online_cache_mb"), "{error}");
    }

    #[test]
    fn no_blocking_threads_is_refused_naming_the_setting() {
        let error = refusal("RUNTIME__BLOCKING_THREADS", "0");
        assert!(error.contains("runtime.blocking_threads"), "{error}");
        assert!(StandaloneConfig::default().runtime.blocking_threads >= 4);
    }

    #[test]
    fn two_services_on_one_port_are_refused() {
        let error = refusal("LISTEN__SERVING", "127.0.0.1:50051");
        assert!(
            error.contains("listen.registry and listen.serving are both"),
            "{error}"
        );
    }
}
