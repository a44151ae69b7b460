//! The registry's operations over the metadata store. Each write is one
//! etcd transaction guarded by `mod_revision` conditions, so a concurrent
//! change never gets overwritten silently and nothing is half-written.
//!
//! Creations compare the objects they reference at the revisions they read
//! (a view's groups, a group's entity, the project), so a concurrent delete
//! makes them fail. Deletions that check "not in use" compare that nothing
//! under the referencing prefix (a project's views, groups or objects) was
//! written since they listed it, so a concurrent creation makes them fail.
//! Either way exactly one side wins; the loser re-reads and retries, then
//! answers with the right error.

use std::sync::Arc;

use featurestore_catalog::Keyspace;
use featurestore_metastore::{MetadataStore, Revision};
use featurestore_proto::v1::{Entity, FeatureGroup, FeatureView, ObjectMeta, Project};

use crate::store::{CatalogStore, Stored, now_micros};

mod entities;
mod groups;
pub use groups::GroupFilter;
pub use search::FeatureQuery;
mod projects;
mod search;
mod views;

/// The catalog's writer.
#[derive(Clone)]
pub struct Registry {
    pub(crate) catalog: CatalogStore,
    pub(crate) default_partitions: u32,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(store: Arc<dyn MetadataStore>, keys: Keyspace, default_partitions: u32) -> Self {
        Self {
            catalog: CatalogStore::new(store, keys),
            default_partitions,
        }
    }

    pub fn keyspace(&self) -> &Keyspace {
        &self.catalog.keys
    }

    pub fn metadata_store(&self) -> Arc<dyn MetadataStore> {
        self.catalog.store.clone()
    }
}

/// Catalog objects carry an [`ObjectMeta`].
pub(crate) trait HasMeta {
    fn meta_mut(&mut self) -> &mut Option<ObjectMeta>;

    /// Sets creation and update times for a new object.
    fn stamp_created(&mut self) {
        let now = now_micros();
        *self.meta_mut() = Some(ObjectMeta {
            create_time_micros: now,
            update_time_micros: now,
            revision: 0,
        });
    }

    /// Keeps the creation time of `previous`, sets the update time.
    fn stamp_updated(&mut self, previous: Option<&ObjectMeta>) {
        let now = now_micros();
        *self.meta_mut() = Some(ObjectMeta {
            create_time_micros: previous.map(|m| m.create_time_micros).unwrap_or(now),
            update_time_micros: now,
            revision: 0,
        });
    }

    /// The object as returned to clients: with the revision it is stored at
    /// (stored bytes cannot know their own revision).
    fn at_revision(mut self, revision: Revision) -> Self
    where
        Self: Sized,
    {
        self.meta_mut()
            .get_or_insert_with(ObjectMeta::default)
            .revision = revision;
        self
    }
}

macro_rules! has_meta {
    ($($t:ty),*) => {
        $(impl HasMeta for $t {
            fn meta_mut(&mut self) -> &mut Option<ObjectMeta> {
                &mut self.meta
            }
        })*
    };
}
has_meta!(Project, Entity, FeatureGroup, FeatureView);

impl<T: HasMeta> Stored<T> {
    pub(crate) fn into_response(self) -> T {
        self.object.at_revision(self.revision)
    }
}

/// Objects stored as `<name>/<version>`.
pub(crate) trait Versioned {
    fn name(&self) -> &str;
    fn version(&self) -> u32;
}

impl Versioned for FeatureGroup {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for FeatureView {
    fn name(&self) -> &str {
        &self.name
    }
    fn version(&self) -> u32 {
        self.version
    }
}

/// Keeps the latest version of each name of a listing sorted by key.
pub(crate) fn latest_versions<T: Versioned>(items: Vec<Stored<T>>) -> Vec<Stored<T>> {
    let mut latest: Vec<Stored<T>> = Vec::with_capacity(items.len());
    for item in items {
        if latest
            .last()
            .is_some_and(|prev| prev.object.name() == item.object.name())
        {
            latest.pop();
        }
        latest.push(item);
    }
    latest
}

/// One page of a listing of versioned objects, optionally only the latest
/// version of each, filtered by `keep`.
pub(crate) fn page_of_versions<T: Versioned + HasMeta>(
    items: Vec<Stored<T>>,
    latest_only: bool,
    keep: impl Fn(&T) -> bool,
    page_size: u32,
    token: &str,
) -> (Vec<T>, String) {
    let items = if latest_only {
        latest_versions(items)
    } else {
        items
    };
    let (page, next) = featurestore_catalog::pagination::paginate(
        items.into_iter().filter(|item| keep(&item.object)),
        |item| format!("{}/{:010}", item.object.name(), item.object.version()),
        page_size,
        token,
    );
    (page.into_iter().map(Stored::into_response).collect(), next)
}
