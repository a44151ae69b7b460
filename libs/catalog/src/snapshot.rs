//! An immutable view of the whole catalog at one metadata revision.

use std::{collections::BTreeMap, sync::Arc};

use featurestore_metastore::{KeyValue, Revision, WatchEvent};
use featurestore_proto::v1::{
    AggregationBootstrap, Entity, FeatureGroup, FeatureView, Project, ResourceState,
};
use prost::Message as _;

use crate::keyspace::{CatalogKey, CatalogObject, Keyspace};

type Named = (String, String);
type Versioned = (String, String, u32);

/// Every catalog object at `revision`. Cheap to clone (objects are shared).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    revision: Revision,
    projects: BTreeMap<String, Arc<Project>>,
    entities: BTreeMap<Named, Arc<Entity>>,
    groups: BTreeMap<Versioned, Arc<FeatureGroup>>,
    views: BTreeMap<Versioned, Arc<FeatureView>>,
    bootstraps: BTreeMap<Versioned, Arc<AggregationBootstrap>>,
}

impl Catalog {
    /// Builds a catalog from a listing of the whole keyspace. Undecodable
    /// values are skipped with a warning (a newer writer's data, for example).
    pub fn from_listing(keyspace: &Keyspace, kvs: &[KeyValue], revision: Revision) -> Self {
        let mut catalog = Catalog {
            revision,
            ..Default::default()
        };
        for kv in kvs {
            catalog.put(keyspace, kv);
        }
        catalog
    }

    /// Applies one watched change.
    pub fn apply(&mut self, keyspace: &Keyspace, event: &WatchEvent) {
        match event {
            WatchEvent::Put(kv) => self.put(keyspace, kv),
            WatchEvent::Delete { key, .. } => self.delete(keyspace, key),
        }
        self.revision = self.revision.max(event.revision());
    }

    fn put(&mut self, keyspace: &Keyspace, kv: &KeyValue) {
        if let Some(id) = keyspace.parse_bootstrap(&kv.key) {
            match AggregationBootstrap::decode(kv.value.as_slice()) {
                Ok(b) => {
                    self.bootstraps.insert(id, Arc::new(b));
                }
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping aggregation bootstrap")
                }
            }
            return;
        }
        if keyspace.is_dataset(&kv.key) {
            return;
        }
        match keyspace.decode(&kv.key, &kv.value) {
            Ok(CatalogObject::Project(p)) => {
                self.projects.insert(p.name.clone(), Arc::new(p));
            }
            Ok(CatalogObject::Entity(e)) => {
                self.entities
                    .insert((e.project.clone(), e.name.clone()), Arc::new(e));
            }
            Ok(CatalogObject::FeatureGroup(g)) => {
                self.groups
                    .insert((g.project.clone(), g.name.clone(), g.version), Arc::new(g));
            }
            Ok(CatalogObject::FeatureView(v)) => {
                self.views
                    .insert((v.project.clone(), v.name.clone(), v.version), Arc::new(v));
            }
            Err(reason) => tracing::warn!(key = %kv.key, %reason, "skipping catalog entry"),
        }
    }

    fn delete(&mut self, keyspace: &Keyspace, key: &str) {
        if let Some(id) = keyspace.parse_bootstrap(key) {
            self.bootstraps.remove(&id);
            return;
        }
        match keyspace.parse(key) {
            Some(CatalogKey::Project { name }) => {
                self.projects.remove(&name);
            }
            Some(CatalogKey::Entity { project, name }) => {
                self.entities.remove(&(project, name));
            }
            Some(CatalogKey::FeatureGroup {
                project,
                name,
                version,
            }) => {
                self.groups.remove(&(project, name, version));
            }
            Some(CatalogKey::FeatureView {
                project,
                name,
                version,
            }) => {
                self.views.remove(&(project, name, version));
            }
            None => {}
        }
    }

    /// The metadata revision this snapshot reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn project(&self, name: &str) -> Option<&Arc<Project>> {
        self.projects.get(name)
    }

    pub fn projects(&self) -> impl Iterator<Item = &Arc<Project>> {
        self.projects.values()
    }

    pub fn entity(&self, project: &str, name: &str) -> Option<&Arc<Entity>> {
        self.entities.get(&(project.to_string(), name.to_string()))
    }

    pub fn entities(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.entities.values()
    }

    /// A group version; version 0 is the latest.
    pub fn feature_group(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Option<&Arc<FeatureGroup>> {
        if version == 0 {
            return latest(&self.groups, project, name);
        }
        self.groups
            .get(&(project.to_string(), name.to_string(), version))
    }

    /// The aggregation bootstrap of a group version, if it ever had one.
    pub fn bootstrap(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Option<&Arc<AggregationBootstrap>> {
        self.bootstraps
            .get(&(project.to_string(), name.to_string(), version))
    }

    /// Every aggregation bootstrap, ordered by project, group, version.
    pub fn bootstraps(&self) -> impl Iterator<Item = &Arc<AggregationBootstrap>> {
        self.bootstraps.values()
    }

    /// The bootstrap of `group` while it runs: its aggregations are not
    /// served until it is READY.
    pub fn backfilling(&self, group: &FeatureGroup) -> Option<&Arc<AggregationBootstrap>> {
        self.bootstrap(&group.project, &group.name, group.version)
            .filter(|b| b.state() == ResourceState::Backfilling)
    }

    /// Every group version, ordered by project, name, version.
    pub fn feature_groups(&self) -> impl Iterator<Item = &Arc<FeatureGroup>> {
        self.groups.values()
    }

    /// A view version; version 0 is the latest.
    pub fn feature_view(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Option<&Arc<FeatureView>> {
        if version == 0 {
            return latest(&self.views, project, name);
        }
        self.views
            .get(&(project.to_string(), name.to_string(), version))
    }

    pub fn feature_views(&self) -> impl Iterator<Item = &Arc<FeatureView>> {
        self.views.values()
    }
}

fn latest<'a, T>(
    map: &'a BTreeMap<Versioned, Arc<T>>,
    project: &str,
    name: &str,
) -> Option<&'a Arc<T>> {
    let from = (project.to_string(), name.to_string(), 0);
    let to = (project.to_string(), name.to_string(), u32::MAX);
    map.range(from..=to).next_back().map(|(_, v)| v)
}
