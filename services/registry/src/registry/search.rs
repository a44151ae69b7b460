use std::collections::HashMap;

use featurestore_proto::v1::{FeatureGroup, FeatureHit, Project};

use super::{Registry, latest_versions};
use featurestore_catalog::pagination::paginate;

use crate::error::Result;

/// What [`Registry::search_features`] looks for.
#[derive(Debug, Default, Clone)]
pub struct FeatureQuery {
    /// Empty = every project.
    pub project: String,
    /// Case-insensitive substring of the feature's or group's name or
    /// description.
    pub text: String,
    /// Tags on the feature or its group; an empty value matches any value.
    pub tags: HashMap<String, String>,
    pub owner: String,
}

impl FeatureQuery {
    fn matches(&self, group: &FeatureGroup, feature: &featurestore_proto::v1::Feature) -> bool {
        let text = self.text.to_lowercase();
        let text_ok = text.is_empty()
            || [
                &feature.name,
                &feature.description,
                &group.name,
                &group.description,
            ]
            .iter()
            .any(|s| s.to_lowercase().contains(&text));
        let tags_ok = self.tags.iter().all(|(k, v)| {
            [feature.tags.get(k), group.tags.get(k)]
                .into_iter()
                .flatten()
                .any(|found| v.is_empty() || found == v)
        });
        text_ok && tags_ok && (self.owner.is_empty() || group.owner == self.owner)
    }
}

impl Registry {
    /// Feature discovery over the latest version of every group.
    pub async fn search_features(
        &self,
        query: &FeatureQuery,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<FeatureHit>, String)> {
        let projects: Vec<String> = if query.project.is_empty() {
            self.catalog
                .list::<Project>(&self.catalog.keys.projects_prefix())
                .await?
                .into_iter()
                .map(|p| p.object.name)
                .collect()
        } else {
            featurestore_domain::validate_name("project", &query.project)?;
            vec![query.project.clone()]
        };
        let mut hits = Vec::new();
        for project in projects {
            let groups = self
                .catalog
                .list::<FeatureGroup>(&self.catalog.keys.groups_prefix(&project))
                .await?;
            for group in latest_versions(groups) {
                let g = &group.object;
                for feature in g.features.iter().filter(|f| query.matches(g, f)) {
                    hits.push(FeatureHit {
                        project: project.clone(),
                        group: g.name.clone(),
                        group_version: g.version,
                        feature: Some(feature.clone()),
                        group_owner: g.owner.clone(),
                        group_description: g.description.clone(),
                    });
                }
            }
        }
        let key = |h: &FeatureHit| {
            format!(
                "{}/{}/{}",
                h.project,
                h.group,
                h.feature
                    .as_ref()
                    .map(|f| f.name.as_str())
                    .unwrap_or_default()
            )
        };
        hits.sort_by_key(key);
        Ok(paginate(hits, key, page_size, token))
    }
}
