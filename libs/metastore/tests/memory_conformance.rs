//! The conformance suite against the in-memory store, and against the same
//! store journaled to a redb file (standalone mode).

use featurestore_metastore::MemoryStore;

async fn make_store() -> Box<MemoryStore> {
    Box::new(MemoryStore::new())
}

featurestore_metastore::metastore_conformance_tests!(make_store);

mod journaled {
    use std::ops::Deref;

    use featurestore_metastore::MemoryStore;

    /// A journaled store with its directory, removed when dropped.
    pub struct Journaled {
        store: MemoryStore,
        _dir: tempfile::TempDir,
    }

    impl Deref for Journaled {
        type Target = MemoryStore;
        fn deref(&self) -> &MemoryStore {
            &self.store
        }
    }

    async fn make_store() -> Journaled {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::open(&dir.path().join("metadata.redb")).unwrap();
        Journaled { store, _dir: dir }
    }

    featurestore_metastore::metastore_conformance_tests!(make_store);
}
