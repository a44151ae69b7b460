//! How to reach Kafka (always available, so configuration parses in every
//! build; the client itself is behind the `kafka` feature).

use std::{collections::BTreeMap, time::Duration};

/// How to reach Kafka and how long to wait for it.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    /// Longest an append waits for acknowledgements (librdkafka
    /// `message.timeout.ms`).
    pub append_timeout: Duration,
    /// Longest an admin or metadata call waits.
    pub admin_timeout: Duration,
    /// Replication factor of created topics (3 in production, 1 in tests).
    pub replication_factor: i32,
    /// Consumer session timeout: how fast a dead consumer's partitions move.
    pub session_timeout: Duration,
    /// How often subscriptions look for new topics matching a prefix.
    pub topic_refresh: Duration,
    /// The base of the producers' `transactional.id`s (`<base>-<n>`, one per
    /// writer); `None`: a new one per process.
    /// A stable id (one per replica, e.g. the pod name) lets a restarted
    /// replica abort its predecessor's open transaction at once instead of
    /// after the transaction timeout (`append_timeout` + 10 s), during
    /// which `read_committed` consumers wait behind it.
    pub transactional_id: Option<String>,
    /// Extra librdkafka properties, applied last.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            append_timeout: Duration::from_secs(10),
            admin_timeout: Duration::from_secs(10),
            replication_factor: 1,
            session_timeout: Duration::from_secs(10),
            topic_refresh: Duration::from_secs(2),
            transactional_id: None,
            properties: BTreeMap::new(),
        }
    }
}
