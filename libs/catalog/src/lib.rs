//! The catalog as the services see it.
//!
//! - [`Keyspace`]: where each catalog object lives in the metadata store
//!   (`<root>/<project>/feature_groups/<name>/<version>`, ...).
//! - [`Catalog`]: an immutable snapshot of every object at one revision.
//! - [`CatalogCache`]: keeps a current [`Catalog`] fed by a watch (list at a
//!   revision, watch from the next, re-list after compaction or a store
//!   outage), so hot paths never call the registry or etcd.

mod cache;
mod config;
pub mod consistency;
mod follow;
mod keyspace;
pub mod pagination;
pub mod progress;
mod selection;
mod snapshot;

pub use cache::{CatalogCache, CatalogCacheError};
pub use config::EtcdSettings;
pub use consistency::{ConsistencyError, ConsistencySettings, LogSettings, Settled};
pub use keyspace::{CatalogKey, CatalogObject, DEFAULT_ROOT, Keyspace};
pub use progress::{Behind, Progress, ProgressCache, Sink};
pub use selection::{Selected, Selection, SelectionError};
pub use snapshot::Catalog;
