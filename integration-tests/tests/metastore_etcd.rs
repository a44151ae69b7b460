//! The metadata-store conformance suite against real etcd.

use std::sync::Arc;

use featurestore_metastore::EtcdStore;

async fn make_store() -> Arc<EtcdStore> {
    featurestore_integration_tests::etcd_store().await
}

featurestore_metastore::metastore_conformance_tests!(make_store);
