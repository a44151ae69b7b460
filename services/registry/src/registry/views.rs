use featurestore_domain::{schema::resolve_feature_view, validate_name};
use featurestore_metastore::{Condition, Op};
use featurestore_proto::v1::{FeatureGroup, FeatureView};
use prost::Message;

use super::{HasMeta, Registry, page_of_versions};
use crate::{
    error::{RegistryError, Result},
    store::{Stored, VersionedKind, check_expected, retry_on_conflict},
};

const VIEW: VersionedKind = VersionedKind {
    label: "feature view",
    field: "feature_view.version",
    on_exists: "views are immutable: create the next version",
};

impl Registry {
    async fn view_versions(&self, project: &str, name: &str) -> Result<Vec<Stored<FeatureView>>> {
        self.catalog
            .list(&self.catalog.keys.view_versions_prefix(project, name))
            .await
    }

    async fn view(&self, project: &str, name: &str, version: u32) -> Result<Stored<FeatureView>> {
        let keys = &self.catalog.keys;
        self.catalog
            .versioned(
                &keys.view_versions_prefix(project, name),
                &keys.view(project, name, version),
                version,
            )
            .await?
            .ok_or_else(|| VIEW.not_found(project, name, version))
    }

    /// Creates version 1 of a new view or version N+1 of an existing one.
    /// Every referenced group, feature and key must exist and join.
    pub async fn create_feature_view(&self, view: FeatureView) -> Result<FeatureView> {
        validate_name("feature_view.project", &view.project)?;
        validate_name("feature_view.name", &view.name)?;
        for (i, selection) in view.selections.iter().enumerate() {
            validate_name(
                &format!("feature_view.selections[{i}].group"),
                &selection.group,
            )?;
        }
        retry_on_conflict("create feature view", || async {
            let mut view = view.clone();
            let project = self.project(&view.project).await?;
            let mut groups: Vec<Stored<FeatureGroup>> = Vec::with_capacity(view.selections.len());
            for (i, selection) in view.selections.iter().enumerate() {
                let group = self
                    .group(&view.project, &selection.group, selection.group_version)
                    .await
                    .map_err(|e| match e {
                        RegistryError::NotFound(what) => RegistryError::NotFound(format!(
                            "feature_view.selections[{i}].group: {what}"
                        )),
                        other => other,
                    })?;
                groups.push(group);
            }
            let resolved: Vec<FeatureGroup> = groups.iter().map(|g| g.object.clone()).collect();
            resolve_feature_view(&mut view, &resolved)?;
            let latest = self
                .view_versions(&view.project, &view.name)
                .await?
                .last()
                .map(|v| v.object.version)
                .unwrap_or(0);
            view.version = VIEW.next_version(&view.name, view.version, latest)?;
            view.stamp_created();
            let key = self
                .catalog
                .keys
                .view(&view.project, &view.name, view.version);
            let mut conditions = vec![
                Condition::at(self.catalog.keys.project(&view.project), project.revision),
                Condition::absent(&key),
            ];
            for g in &groups {
                conditions.push(Condition::at(
                    self.catalog
                        .keys
                        .group(&view.project, &g.object.name, g.object.version),
                    g.revision,
                ));
            }
            let revision = self
                .catalog
                .commit(conditions, vec![Op::put(&key, view.encode_to_vec())])
                .await?;
            Ok(view.at_revision(revision))
        })
        .await
    }

    pub async fn get_feature_view(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Result<FeatureView> {
        validate_name("project", project)?;
        validate_name("name", name)?;
        Ok(self.view(project, name, version).await?.into_response())
    }

    pub async fn list_feature_views(
        &self,
        project: &str,
        name_prefix: &str,
        group: &str,
        latest_only: bool,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<FeatureView>, String)> {
        validate_name("project", project)?;
        self.project(project).await?;
        let all = self
            .catalog
            .list::<FeatureView>(&self.catalog.keys.views_prefix(project))
            .await?;
        let keep = |v: &FeatureView| {
            v.name.starts_with(name_prefix)
                && (group.is_empty() || v.selections.iter().any(|s| s.group == group))
        };
        Ok(page_of_versions(all, latest_only, keep, page_size, token))
    }

    pub async fn delete_feature_view(
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
                "name the version to delete",
            ));
        }
        let view = self.view(project, name, version).await?;
        check_expected(
            &format!("feature view {name}@{version}"),
            expected_revision,
            view.revision,
        )?;
        let key = self.catalog.keys.view(project, name, version);
        match self
            .catalog
            .commit(
                vec![Condition::at(&key, view.revision)],
                vec![Op::delete(key)],
            )
            .await
        {
            Err(e) if e.is_conflict() => Err(RegistryError::Aborted(format!(
                "feature view {name}@{version} changed concurrently"
            ))),
            other => other,
        }
    }
}
