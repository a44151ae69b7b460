//! The feature store's domain model: validated names, value types, schemas of
//! entities, feature groups and views, typed references, and the stable
//! entity-key encoding that decides Kafka partitions and online-store keys.
//!
//! Catalog objects are the protobuf messages of `featurestore-proto` (they
//! are what etcd stores); this crate holds the rules about them.

pub mod aggregation;
#[cfg(feature = "arrow")]
pub mod arrow;
pub mod build_info;
pub mod error;
pub mod fixtures;
pub mod key;
pub mod names;
pub mod refs;
pub mod schema;
pub mod token;
pub mod types;

pub use error::DomainError;
pub use key::{EntityKeyEncoder, KEY_ENCODING_VERSION, key_hash, partition_for};
pub use names::{feature_column, validate_name};
pub use refs::{FeatureGroupId, FeatureRefName, FeatureViewId};
