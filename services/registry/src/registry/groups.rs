use std::collections::HashMap;

use featurestore_domain::{
    schema::{check_in_place_update, normalize_feature_group},
    validate_name,
};
use featurestore_metastore::{Condition, Op};
use featurestore_proto::v1::{
    AggregationBootstrap, FeatureGroup, FeatureGroupRef, FeatureView, ResourceState,
};
use prost::Message;

use super::{HasMeta, Registry, page_of_versions};
use crate::{
    error::{RegistryError, Result},
    store::{Stored, VersionedKind, check_expected, retry_on_conflict},
};

/// Filters of [`Registry::list_feature_groups`].
#[derive(Debug, Default, Clone)]
pub struct GroupFilter {
    pub name_prefix: String,
    pub entity: String,
    pub owner: String,
    pub tags: HashMap<String, String>,
    pub latest_only: bool,
}

impl GroupFilter {
    fn matches(&self, g: &FeatureGroup) -> bool {
        g.name.starts_with(&self.name_prefix)
            && (self.entity.is_empty() || g.entity == self.entity)
            && (self.owner.is_empty() || g.owner == self.owner)
            && self.tags.iter().all(|(k, v)| g.tags.get(k) == Some(v))
    }
}

const GROUP: VersionedKind = VersionedKind {
    label: "feature group",
    field: "feature_group.version",
    on_exists: "update it in place, or create the next version for a breaking change",
};

fn group_label(g: &FeatureGroup) -> String {
    format!("{}@{}", g.name, g.version)
}

impl Registry {
    /// Every stored version of a group, oldest first.
    pub(crate) async fn group_versions(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Vec<Stored<FeatureGroup>>> {
        self.catalog
            .list(&self.catalog.keys.group_versions_prefix(project, name))
            .await
    }

    /// A group version; 0 = the latest.
    pub(crate) async fn group(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Result<Stored<FeatureGroup>> {
        let keys = &self.catalog.keys;
        self.catalog
            .versioned(
                &keys.group_versions_prefix(project, name),
                &keys.group(project, name, version),
                version,
            )
            .await?
            .ok_or_else(|| GROUP.not_found(project, name, version))
    }

    /// Creates version 1 of a new group, or version N+1 of an existing one
    /// (the way to make a breaking change).
    pub async fn create_feature_group(&self, group: FeatureGroup) -> Result<FeatureGroup> {
        validate_name("feature_group.project", &group.project)?;
        validate_name("feature_group.name", &group.name)?;
        validate_name("feature_group.entity", &group.entity)?;
        retry_on_conflict("create feature group", || async {
            let mut group = group.clone();
            let project = self.project(&group.project).await?;
            let entity = self
                .catalog
                .get(&self.catalog.keys.entity(&group.project, &group.entity))
                .await?
                .ok_or_else(|| {
                    RegistryError::NotFound(format!(
                        "feature_group.entity: entity {:?} in project {:?}",
                        group.entity, group.project
                    ))
                })?;
            let latest = self
                .group_versions(&group.project, &group.name)
                .await?
                .last()
                .map(|g| g.object.version)
                .unwrap_or(0);
            group.version = GROUP.next_version(&group.name, group.version, latest)?;
            normalize_feature_group(&mut group, &entity.object, self.default_partitions)?;
            group.stamp_created();
            let key = self
                .catalog
                .keys
                .group(&group.project, &group.name, group.version);
            let revision = self
                .catalog
                .commit(
                    vec![
                        Condition::at(self.catalog.keys.project(&group.project), project.revision),
                        Condition::at(
                            self.catalog.keys.entity(&group.project, &group.entity),
                            entity.revision,
                        ),
                        Condition::absent(&key),
                    ],
                    vec![Op::put(&key, group.encode_to_vec())],
                )
                .await?;
            Ok(group.at_revision(revision))
        })
        .await
    }

    pub async fn get_feature_group(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Result<FeatureGroup> {
        validate_name("project", project)?;
        validate_name("name", name)?;
        Ok(self.group(project, name, version).await?.into_response())
    }

    pub async fn list_feature_groups(
        &self,
        project: &str,
        filter: &GroupFilter,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<FeatureGroup>, String)> {
        validate_name("project", project)?;
        self.project(project).await?;
        let all = self
            .catalog
            .list::<FeatureGroup>(&self.catalog.keys.groups_prefix(project))
            .await?;
        Ok(page_of_versions(
            all,
            filter.latest_only,
            |g| filter.matches(g),
            page_size,
            token,
        ))
    }

    /// Applies compatible changes to an existing version in place; a
    /// breaking change is FAILED_PRECONDITION (it needs a new version).
    pub async fn update_feature_group(
        &self,
        desired: FeatureGroup,
        expected_revision: i64,
    ) -> Result<FeatureGroup> {
        validate_name("feature_group.project", &desired.project)?;
        validate_name("feature_group.name", &desired.name)?;
        let stored = self
            .group(&desired.project, &desired.name, desired.version)
            .await?;
        let label = group_label(&stored.object);
        check_expected(
            &format!("feature group {label}"),
            expected_revision,
            stored.revision,
        )?;
        let old = &stored.object;
        let mut new = desired;
        new.version = old.version;
        if new.entity.is_empty() {
            new.entity = old.entity.clone();
        }
        if new.primary_key.is_empty() {
            new.primary_key = old.primary_key.clone();
        }
        if new.event_time_column.is_empty() {
            new.event_time_column = old.event_time_column.clone();
        }
        if new.partitions == 0 {
            new.partitions = old.partitions;
        }
        check_in_place_update(old, &new)?;
        let entity = self.entity(&new.project, &new.entity).await?;
        normalize_feature_group(&mut new, &entity.object, self.default_partitions)?;
        new.meta = old.meta;
        if new == *old {
            return Ok(stored.into_response());
        }
        new.stamp_updated(old.meta.as_ref());
        let key = self
            .catalog
            .keys
            .group(&new.project, &new.name, new.version);
        let mut conditions = vec![Condition::at(&key, stored.revision)];
        let mut ops = vec![Op::put(&key, new.encode_to_vec())];
        if let Some((condition, op)) = self.bootstrap_of_added(old, &new).await? {
            conditions.push(condition);
            ops.push(op);
        }
        match self.catalog.commit(conditions, ops).await {
            Ok(revision) => Ok(new.at_revision(revision)),
            Err(e) if e.is_conflict() => Err(RegistryError::Aborted(format!(
                "feature group {label} was changed concurrently; re-read and retry"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Aggregations added in place to a group that keeps both tables get
    /// their history from the offline table: the (re)started bootstrap
    /// record to write with the group, guarded by the one read. A
    /// bootstrap still running takes the new ones on and starts over.
    async fn bootstrap_of_added(
        &self,
        old: &FeatureGroup,
        new: &FeatureGroup,
    ) -> Result<Option<(Condition, Op)>> {
        let added: Vec<String> = new
            .aggregations
            .iter()
            .filter(|a| !old.aggregations.iter().any(|o| o.name == a.name))
            .map(|a| a.name.clone())
            .collect();
        if added.is_empty() || !(new.online_enabled && new.offline_enabled) {
            return Ok(None);
        }
        let key = self
            .catalog
            .keys
            .bootstrap(&new.project, &new.name, new.version);
        let stored = self.catalog.get::<AggregationBootstrap>(&key).await?;
        let mut aggregations = match &stored {
            Some(b) if b.object.state() == ResourceState::Backfilling => b
                .object
                .aggregations
                .iter()
                .filter(|name| new.aggregations.iter().any(|a| &&a.name == name))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        aggregations.extend(added);
        let record = AggregationBootstrap {
            group: Some(FeatureGroupRef {
                project: new.project.clone(),
                name: new.name.clone(),
                version: new.version,
            }),
            aggregations,
            state: ResourceState::Backfilling as i32,
            requested_micros: crate::store::now_micros(),
            attempts: stored.as_ref().map_or(0, |b| b.object.attempts),
            ..Default::default()
        };
        let revision = stored.map_or(0, |b| b.revision);
        Ok(Some((
            Condition::at(&key, revision),
            Op::put(key, record.encode_to_vec()),
        )))
    }

    /// Refused while a feature view uses this version.
    pub async fn delete_feature_group(
        &self,
        project: &str,
        name: &str,
        version: u32,
        expected_revision: i64,
    ) -> Result<i64> {
        validate_name("project", project)?;
        validate_name("name", name)?;
        if version == 0 {
            return Err(RegistryError::invalid(
                "version",
                "name the version to delete (versions are deleted one at a time)",
            ));
        }
        retry_on_conflict("delete feature group", || async {
            let group = self.group(project, name, version).await?;
            check_expected(&format!("feature group {name}@{version}"), expected_revision, group.revision)?;
            let views_prefix = self.catalog.keys.views_prefix(project);
            let (views, listed_at) = self.catalog.list_at::<FeatureView>(&views_prefix).await?;
            let users: Vec<String> = views
                .into_iter()
                .filter(|v| {
                    v.object
                        .selections
                        .iter()
                        .any(|s| s.group == name && s.group_version == version)
                })
                .map(|v| format!("{}@{}", v.object.name, v.object.version))
                .collect();
            if !users.is_empty() {
                return Err(RegistryError::FailedPrecondition(format!(
                    "feature group {name}@{version} is used by feature view(s) {}; delete them first",
                    users.join(", ")
                )));
            }
            let key = self.catalog.keys.group(project, name, version);
            let bootstrap = self.catalog.keys.bootstrap(project, name, version);
            self.catalog
                .commit(
                    vec![
                        Condition::at(&key, group.revision),
                        Condition::prefix_unchanged_since(views_prefix, listed_at),
                    ],
                    vec![Op::delete(key), Op::delete(bootstrap)],
                )
                .await
        })
        .await
    }
}
