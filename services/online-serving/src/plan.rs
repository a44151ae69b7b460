//! Serving plans: what to read and how to assemble it, compiled once per
//! feature selection and catalog revision (a feature added to a group is
//! served after the next catalog change, without restart).

use std::{collections::HashMap, sync::Arc};

use featurestore_catalog::Catalog;
use featurestore_domain::{EntityKeyEncoder, FeatureRefName};
use featurestore_onlinestore::OnlineTable;
use featurestore_proto::v1::{
    FeatureGroup, FeatureRef, FeatureSelector, KeyColumn, Value, feature_selector::Selector,
};

use crate::error::ServingError;

/// One group's part of a plan.
#[derive(Debug)]
pub struct GroupPlan {
    pub table: OnlineTable,
    pub encoder: EntityKeyEncoder,
    /// For each of the group's key columns, its position in the plan's keys.
    pub key_positions: Vec<usize>,
    /// (column in the online table, position in the vector, default).
    pub outputs: Vec<(usize, usize, Option<Value>)>,
    /// Values older than this (µs) are OUTSIDE_MAX_AGE; 0 = no limit.
    pub ttl_micros: i64,
}

#[derive(Debug)]
pub struct Plan {
    /// `group:feature` per vector position.
    pub feature_names: Vec<String>,
    /// The entity key a request must give.
    pub join_keys: Vec<KeyColumn>,
    pub groups: Vec<GroupPlan>,
}

impl Plan {
    /// Builds the plan of a selector against a catalog snapshot.
    pub fn compile(
        project: &str,
        selector: &FeatureSelector,
        catalog: &Catalog,
    ) -> Result<Plan, ServingError> {
        let mut selections: Vec<(Arc<FeatureGroup>, Vec<String>)> = Vec::new();
        match selector.selector.as_ref() {
            None => {
                return Err(ServingError::invalid(
                    "selector",
                    "name a feature view or a list of features",
                ));
            }
            Some(Selector::View(view)) => {
                let found = catalog
                    .feature_view(project, &view.name, view.version)
                    .ok_or_else(|| {
                        ServingError::NotFound(format!(
                            "feature view {:?} in project {project:?}",
                            view.name
                        ))
                    })?;
                for s in &found.selections {
                    let group = catalog
                        .feature_group(project, &s.group, s.group_version)
                        .ok_or_else(|| {
                            ServingError::NotFound(format!(
                                "feature group {}@{} of view {:?}",
                                s.group, s.group_version, view.name
                            ))
                        })?;
                    selections.push((group.clone(), s.features.clone()));
                }
            }
            Some(Selector::Features(list)) => {
                if list.features.is_empty() {
                    return Err(ServingError::invalid(
                        "selector.features",
                        "name at least one feature",
                    ));
                }
                for (i, r) in list.features.iter().enumerate() {
                    let FeatureRef {
                        group,
                        group_version,
                        feature,
                    } = r;
                    let name = FeatureRefName {
                        group: group.clone(),
                        group_version: *group_version,
                        feature: feature.clone(),
                    };
                    let found = catalog
                        .feature_group(project, group, *group_version)
                        .ok_or_else(|| {
                            ServingError::NotFound(format!(
                                "selector.features[{i}]: feature group {name}"
                            ))
                        })?;
                    match selections
                        .iter_mut()
                        .find(|(g, _)| g.name == found.name && g.version == found.version)
                    {
                        Some((_, features)) => features.push(feature.clone()),
                        None => selections.push((found.clone(), vec![feature.clone()])),
                    }
                }
            }
        }
        let mut join_keys: Vec<KeyColumn> = Vec::new();
        let mut feature_names = Vec::new();
        let mut groups = Vec::with_capacity(selections.len());
        for (group, features) in selections {
            let mut key_positions = Vec::with_capacity(group.primary_key.len());
            for key in &group.primary_key {
                let position = match join_keys.iter().position(|k| k.name == key.name) {
                    Some(p) if join_keys[p].r#type != key.r#type => {
                        return Err(ServingError::invalid(
                            "selector",
                            format!(
                                "key {:?} has two types across the selected groups",
                                key.name
                            ),
                        ));
                    }
                    Some(p) => p,
                    None => {
                        join_keys.push(key.clone());
                        join_keys.len() - 1
                    }
                };
                key_positions.push(position);
            }
            let table = OnlineTable::for_group(&group);
            let index: HashMap<&str, usize> = group
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.as_str(), i))
                .collect();
            let mut outputs = Vec::with_capacity(features.len());
            for feature in &features {
                let column = *index.get(feature.as_str()).ok_or_else(|| {
                    ServingError::NotFound(format!(
                        "feature {feature:?} in group {}@{}",
                        group.name, group.version
                    ))
                })?;
                outputs.push((
                    column,
                    feature_names.len(),
                    group.features[column].default_value.clone(),
                ));
                feature_names.push(format!("{}:{feature}", group.name));
            }
            groups.push(GroupPlan {
                encoder: EntityKeyEncoder::new(&group.primary_key),
                key_positions,
                outputs,
                ttl_micros: group.ttl_seconds.saturating_mul(1_000_000),
                table,
            });
        }
        Ok(Plan {
            feature_names,
            join_keys,
            groups,
        })
    }

    /// Maps a request's key names onto the plan's keys (position in the
    /// request of each plan key).
    pub fn key_order(&self, names: &[String]) -> Result<Vec<usize>, ServingError> {
        for (i, name) in names.iter().enumerate() {
            if !self.join_keys.iter().any(|k| &k.name == name) {
                let expected: Vec<&str> = self.join_keys.iter().map(|k| k.name.as_str()).collect();
                return Err(ServingError::invalid(
                    format!("join_keys[{i}]"),
                    format!(
                        "{name:?} is not a key of this selection (keys: {})",
                        expected.join(", ")
                    ),
                ));
            }
        }
        self.join_keys
            .iter()
            .map(|k| {
                names.iter().position(|n| *n == k.name).ok_or_else(|| {
                    ServingError::invalid("join_keys", format!("the key {:?} is missing", k.name))
                })
            })
            .collect()
    }
}
