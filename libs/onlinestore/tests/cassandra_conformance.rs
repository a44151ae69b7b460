//! The online-store conformance suite against real Cassandra (`make infra-up`).

use std::sync::Arc;

use featurestore_onlinestore::{CassandraConfig, CassandraStore};

/// A session per test: a session's connections live on the runtime that
/// created it, and every test has its own runtime.
async fn make_store() -> Arc<CassandraStore> {
    let node = featurestore_test_servers::cassandra_node();
    Arc::new(
        CassandraStore::connect(CassandraConfig {
            nodes: vec![node],
            keyspace: "fs_conformance".into(),
            ..CassandraConfig::default()
        })
        .await
        .expect("cassandra is not reachable: run `make infra-up`"),
    )
}

featurestore_onlinestore::onlinestore_conformance_tests!(make_store);
