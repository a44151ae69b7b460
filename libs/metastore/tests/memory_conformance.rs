//! The conformance suite against the in-memory store.

use featurestore_metastore::MemoryStore;

async fn make_store() -> Box<MemoryStore> {
    Box::new(MemoryStore::new())
}

featurestore_metastore::metastore_conformance_tests!(make_store);
