//! How to reach Cassandra/ScyllaDB (always available, so configuration
//! parses in every build; the driver is behind the `cassandra` feature).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CassandraConfig {
    /// `host:port` of contact points.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The keyspace's replication, as a CQL map (used when creating it).
    pub replication: String,
    /// Upper bound of each request.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Writes or reads in flight per call.
    pub max_in_flight: usize,
    /// A read of several keys groups them by owning replica and asks for up
    /// to this many keys per `IN` query (1 = one query per key).
    pub keys_per_query: usize,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "featurestore".into(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".into(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_in_flight: 256,
            keys_per_query: 32,
        }
    }
}
