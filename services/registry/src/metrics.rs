//! What the registry tells Prometheus (see `featurestore_runtime::metrics`)
//! besides its calls, whose `rpc_server_call_duration_seconds` counts the
//! catalog changes by method and code.

/// `featurestore_registry_conflicts_total{operation}`: catalog changes that
/// lost a race with a concurrent one (each is retried).
pub const CONFLICTS: &str = "featurestore_registry_conflicts_total";

/// A lost race of `operation` ("create feature group", …).
pub fn conflict(operation: &'static str) {
    metrics::counter!(CONFLICTS, "operation" => operation).increment(1);
}
