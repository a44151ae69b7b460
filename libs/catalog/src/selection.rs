//! Which features of which group versions a request selects: a feature view
//! (name + version, 0 = latest) or an explicit `group:feature` list, resolved
//! against one catalog snapshot. Online serving and offline query share it.

use std::sync::Arc;

use featurestore_proto::v1::{FeatureGroup, FeatureRef, FeatureViewRef};

use crate::Catalog;

/// What a request names.
#[derive(Debug, Clone, Copy)]
pub enum Selected<'a> {
    View(&'a FeatureViewRef),
    Features(&'a [FeatureRef]),
}

/// The groups selected, in order (a group once), each with its features in
/// the requested order.
pub type Selection = Vec<(Arc<FeatureGroup>, Vec<String>)>;

/// What can be wrong with a selection: a name that does not resolve
/// (`NotFound`) or a malformed request (`InvalidArgument`).
pub type SelectionError = featurestore_domain::DomainError;

impl Catalog {
    /// Resolves `selected` in `project`; every named feature must exist.
    pub fn resolve_selection(
        &self,
        project: &str,
        selected: Selected<'_>,
    ) -> Result<Selection, SelectionError> {
        let mut selection: Selection = Vec::new();
        match selected {
            Selected::View(view) => {
                let found = self
                    .feature_view(project, &view.name, view.version)
                    .ok_or_else(|| {
                        SelectionError::not_found(format!(
                            "feature view {:?} in project {project:?}",
                            view.name
                        ))
                    })?;
                for s in &found.selections {
                    let group = self
                        .feature_group(project, &s.group, s.group_version)
                        .ok_or_else(|| {
                            SelectionError::not_found(format!(
                                "feature group {}@{} of view {:?}",
                                s.group, s.group_version, view.name
                            ))
                        })?;
                    selection.push((group.clone(), s.features.clone()));
                }
            }
            Selected::Features(list) => {
                if list.is_empty() {
                    return Err(SelectionError::invalid(
                        "features",
                        "name at least one feature",
                    ));
                }
                for (i, r) in list.iter().enumerate() {
                    let found = self
                        .feature_group(project, &r.group, r.group_version)
                        .ok_or_else(|| {
                            SelectionError::not_found(format!(
                                "features[{i}]: feature group {}@{} in project {project:?}",
                                r.group, r.group_version
                            ))
                        })?;
                    match selection
                        .iter_mut()
                        .find(|(g, _)| g.name == found.name && g.version == found.version)
                    {
                        Some((_, features)) => features.push(r.feature.clone()),
                        None => selection.push((found.clone(), vec![r.feature.clone()])),
                    }
                }
            }
        }
        for (group, features) in &selection {
            if let Some(missing) = features.iter().find(|f| {
                !group.features.iter().any(|g| &g.name == *f)
                    && !group.aggregations.iter().any(|a| &a.name == *f)
            }) {
                return Err(SelectionError::not_found(format!(
                    "feature {missing:?} in group {}@{}",
                    group.name, group.version
                )));
            }
        }
        Ok(selection)
    }
}
