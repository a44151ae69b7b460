//! What a service was built from ([`featurestore_domain::build_info`]),
//! logged at start and exported as a metric.

use featurestore_domain::build_info::{COMMIT, PROFILE, VERSION};

/// `featurestore_build_info{service, version, commit, profile}`: 1.
pub const BUILD_INFO: &str = "featurestore_build_info";

/// Logs what `service` was built from and exports it as a metric.
pub fn announce(service: &str) {
    tracing::info!(
        service,
        version = VERSION,
        commit = COMMIT,
        profile = PROFILE,
        "starting"
    );
    metrics::gauge!(
        BUILD_INFO,
        "service" => service.to_string(),
        "version" => VERSION,
        "commit" => COMMIT,
        "profile" => PROFILE,
    )
    .set(1.0);
}
