//! What a binary was built from: the crate version, the commit when the
//! build says it (`FS_BUILD_COMMIT`, set by the image build), and the
//! profile. Every binary's `--version` prints it; services also log it at
//! start and export it as `featurestore_build_info{service, version,
//! commit, profile} 1` (`featurestore_runtime::service`).

use std::sync::OnceLock;

/// The workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit built, or "unknown" (a build from a work tree).
pub const COMMIT: &str = match option_env!("FS_BUILD_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

/// `release` or `debug`.
pub const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// `0.1.0 (commit abc1234, release)`, for `--version`.
pub fn version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| format!("{VERSION} (commit {COMMIT}, {PROFILE})"))
}
