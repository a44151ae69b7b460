//! How to reach etcd (always available, so configuration parses in every
//! build; the client itself is behind the `etcd` feature).

use std::time::Duration;

/// How to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// `host:port` or `http://host:port` of each member.
    pub endpoints: Vec<String>,
    /// Upper bound of every unary call.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
        }
    }
}
