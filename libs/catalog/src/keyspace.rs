//! The layout of catalog objects in the metadata store. Values are the
//! protobuf encoding of the object.
//!
//! ```text
//! <root>/_projects/<project>                               Project
//! <root>/<project>/entities/<name>                         Entity
//! <root>/<project>/feature_groups/<name>/<version:010>      FeatureGroup
//! <root>/<project>/feature_views/<name>/<version:010>      FeatureView
//! <root>/<project>/training_datasets/<name>/<version:010>  TrainingDataset
//! <root>/<project>/aggregation_bootstraps/<group>/<version:010>
//!                                                     AggregationBootstrap
//! ```
//!
//! Training datasets are written by the offline query service, not the
//! registry; they are not catalog objects ([`Keyspace::parse`] does not name
//! them and the catalog cache and watch skip them), but they live in the
//! project, so a project holding datasets can't be deleted.
//!
//! Aggregation bootstraps are written by the registry (with the group that
//! gains aggregations, in one transaction) and by the materialization
//! replica that runs them. They are not catalog objects either (the watch
//! skips them), but the catalog snapshot keeps them, so a reader sees a
//! new aggregation and its BACKFILLING state at the same revision.
//!
//! Names are validated (`^[a-z][a-z0-9_]{0,47}$`), so they never contain `/`
//! and never start with `_`; versions are zero-padded so keys sort by version.

use featurestore_proto::v1::{Entity, FeatureGroup, FeatureView, Project};
use prost::Message;

/// Key builder and parser for one root prefix (default `/featurestore/v1`;
/// tests use their own roots to run side by side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    root: String,
}

/// What a key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogKey {
    Project {
        name: String,
    },
    Entity {
        project: String,
        name: String,
    },
    FeatureGroup {
        project: String,
        name: String,
        version: u32,
    },
    FeatureView {
        project: String,
        name: String,
        version: u32,
    },
}

/// A decoded catalog object.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogObject {
    Project(Project),
    Entity(Entity),
    FeatureGroup(FeatureGroup),
    FeatureView(FeatureView),
}

pub const DEFAULT_ROOT: &str = "/featurestore/v1";

impl Default for Keyspace {
    fn default() -> Self {
        Self::new(DEFAULT_ROOT)
    }
}

impl Keyspace {
    pub fn new(root: &str) -> Self {
        Self {
            root: root.trim_end_matches('/').to_string(),
        }
    }

    /// Everything of the catalog.
    pub fn root_prefix(&self) -> String {
        format!("{}/", self.root)
    }

    /// Materialisation progress (outside the catalog: catalog watchers
    /// never see it): `<root>.progress/<project>/<group>/<version>/<partition>`.
    pub fn progress_prefix(&self) -> String {
        format!("{}.progress/", self.root)
    }

    pub fn progress(&self, project: &str, group: &str, version: u32, partition: i32) -> String {
        format!(
            "{}.progress/{project}/{group}/{version}/{partition}",
            self.root
        )
    }

    /// The progress of every partition of a group version.
    pub fn progress_group_prefix(&self, project: &str, group: &str, version: u32) -> String {
        format!("{}.progress/{project}/{group}/{version}/", self.root)
    }

    /// The reports of a group version's tile corrections (outside the
    /// catalog, like progress): `<root>.corrections/<project>/<group>/
    /// <version>/<finished µs, 20 digits>`, so they list oldest first.
    pub fn corrections_group_prefix(&self, project: &str, group: &str, version: u32) -> String {
        format!("{}.corrections/{project}/{group}/{version}/", self.root)
    }

    /// The scheduled corrections of every group version, shared by the
    /// materialization replicas in parts (`CorrectionRun`).
    pub fn correction_runs(&self) -> String {
        format!("{}.correction-runs/", self.root)
    }

    /// The scheduled corrections of a group version, one per range end:
    /// `<root>.correction-runs/<project>/<group>/<version>/<range end µs,
    /// 20 digits>`.
    pub fn correction_runs_prefix(&self, project: &str, group: &str, version: u32) -> String {
        format!("{}{project}/{group}/{version}/", self.correction_runs())
    }

    /// `(project, group, version, partition)` of a progress key.
    pub fn parse_progress<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str, u32, i32)> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix(".progress/")?;
        let mut parts = rest.split('/');
        let (project, group) = (parts.next()?, parts.next()?);
        let version = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        parts
            .next()
            .is_none()
            .then_some((project, group, version, partition))
    }

    pub fn projects_prefix(&self) -> String {
        format!("{}/_projects/", self.root)
    }

    pub fn project(&self, name: &str) -> String {
        format!("{}/_projects/{name}", self.root)
    }

    /// Every object inside a project (not the project itself).
    pub fn project_prefix(&self, project: &str) -> String {
        format!("{}/{project}/", self.root)
    }

    pub fn entities_prefix(&self, project: &str) -> String {
        format!("{}/{project}/entities/", self.root)
    }

    pub fn entity(&self, project: &str, name: &str) -> String {
        format!("{}/{project}/entities/{name}", self.root)
    }

    pub fn groups_prefix(&self, project: &str) -> String {
        format!("{}/{project}/feature_groups/", self.root)
    }

    pub fn group_versions_prefix(&self, project: &str, name: &str) -> String {
        format!("{}/{project}/feature_groups/{name}/", self.root)
    }

    pub fn group(&self, project: &str, name: &str, version: u32) -> String {
        format!(
            "{}/{project}/feature_groups/{name}/{version:010}",
            self.root
        )
    }

    pub fn views_prefix(&self, project: &str) -> String {
        format!("{}/{project}/feature_views/", self.root)
    }

    pub fn view_versions_prefix(&self, project: &str, name: &str) -> String {
        format!("{}/{project}/feature_views/{name}/", self.root)
    }

    pub fn view(&self, project: &str, name: &str, version: u32) -> String {
        format!("{}/{project}/feature_views/{name}/{version:010}", self.root)
    }

    pub fn datasets_prefix(&self, project: &str) -> String {
        format!("{}/{project}/training_datasets/", self.root)
    }

    pub fn dataset_versions_prefix(&self, project: &str, name: &str) -> String {
        format!("{}/{project}/training_datasets/{name}/", self.root)
    }

    pub fn dataset(&self, project: &str, name: &str, version: u32) -> String {
        format!(
            "{}/{project}/training_datasets/{name}/{version:010}",
            self.root
        )
    }

    /// Whether `key` holds a training dataset (which the catalog skips).
    pub fn is_dataset(&self, key: &str) -> bool {
        key.strip_prefix(&self.root)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split('/').nth(1))
            == Some("training_datasets")
    }

    pub fn bootstraps_prefix(&self, project: &str) -> String {
        format!("{}/{project}/aggregation_bootstraps/", self.root)
    }

    pub fn bootstrap(&self, project: &str, group: &str, version: u32) -> String {
        format!(
            "{}/{project}/aggregation_bootstraps/{group}/{version:010}",
            self.root
        )
    }

    /// The group version whose aggregation bootstrap `key` holds.
    pub fn parse_bootstrap(&self, key: &str) -> Option<(String, String, u32)> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix('/')?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [project, "aggregation_bootstraps", group, version] => {
                Some(((*project).into(), (*group).into(), version.parse().ok()?))
            }
            _ => None,
        }
    }

    /// Whether `key` holds a record kept beside the catalog objects (a
    /// training dataset, an aggregation bootstrap), not one of them.
    pub fn is_side_record(&self, key: &str) -> bool {
        self.is_dataset(key) || self.parse_bootstrap(key).is_some()
    }

    /// What `key` names, or `None` when it is outside this keyspace or
    /// malformed.
    pub fn parse(&self, key: &str) -> Option<CatalogKey> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        let version = |v: &str| v.parse::<u32>().ok();
        Some(match parts.as_slice() {
            ["_projects", name] => CatalogKey::Project {
                name: (*name).into(),
            },
            [project, "entities", name] => CatalogKey::Entity {
                project: (*project).into(),
                name: (*name).into(),
            },
            [project, "feature_groups", name, v] => CatalogKey::FeatureGroup {
                project: (*project).into(),
                name: (*name).into(),
                version: version(v)?,
            },
            [project, "feature_views", name, v] => CatalogKey::FeatureView {
                project: (*project).into(),
                name: (*name).into(),
                version: version(v)?,
            },
            _ => return None,
        })
    }

    /// Decodes the object stored under `key`.
    pub fn decode(&self, key: &str, value: &[u8]) -> Result<CatalogObject, String> {
        let parsed = self
            .parse(key)
            .ok_or_else(|| format!("unexpected catalog key {key:?}"))?;
        let err = |e: prost::DecodeError| format!("cannot decode {key:?}: {e}");
        Ok(match parsed {
            CatalogKey::Project { .. } => {
                CatalogObject::Project(Project::decode(value).map_err(err)?)
            }
            CatalogKey::Entity { .. } => CatalogObject::Entity(Entity::decode(value).map_err(err)?),
            CatalogKey::FeatureGroup { .. } => {
                CatalogObject::FeatureGroup(FeatureGroup::decode(value).map_err(err)?)
            }
            CatalogKey::FeatureView { .. } => {
                CatalogObject::FeatureView(FeatureView::decode(value).map_err(err)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let ks = Keyspace::new("/fs/");
        let cases = [
            (
                ks.project("shop"),
                CatalogKey::Project {
                    name: "shop".into(),
                },
            ),
            (
                ks.entity("shop", "customer"),
                CatalogKey::Entity {
                    project: "shop".into(),
                    name: "customer".into(),
                },
            ),
            (
                ks.group("shop", "orders", 12),
                CatalogKey::FeatureGroup {
                    project: "shop".into(),
                    name: "orders".into(),
                    version: 12,
                },
            ),
            (
                ks.view("shop", "fraud", 1),
                CatalogKey::FeatureView {
                    project: "shop".into(),
                    name: "fraud".into(),
                    version: 1,
                },
            ),
        ];
        for (key, parsed) in cases {
            assert_eq!(ks.parse(&key), Some(parsed), "{key}");
        }
        assert_eq!(ks.group("p", "g", 2), "/fs/p/feature_groups/g/0000000002");
        assert_eq!(ks.parse("/other/_projects/x"), None);
        let dataset = ks.dataset("p", "churn", 3);
        assert_eq!(dataset, "/fs/p/training_datasets/churn/0000000003");
        assert!(ks.is_dataset(&dataset));
        assert_eq!(ks.parse(&dataset), None);
        assert!(!ks.is_dataset(&ks.group("p", "g", 2)));
        let bootstrap = ks.bootstrap("p", "payments", 2);
        assert_eq!(
            bootstrap,
            "/fs/p/aggregation_bootstraps/payments/0000000002"
        );
        assert_eq!(
            ks.parse_bootstrap(&bootstrap),
            Some(("p".into(), "payments".into(), 2))
        );
        assert!(ks.is_side_record(&bootstrap) && ks.is_side_record(&dataset));
        assert_eq!(ks.parse(&bootstrap), None);
        assert!(!ks.is_side_record(&ks.group("p", "g", 2)));
        assert_eq!(ks.parse("/fs/p/feature_groups/g/notanumber"), None);
    }
}
