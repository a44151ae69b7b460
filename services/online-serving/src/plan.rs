//! Serving plans: what to read and how to assemble it, compiled once per
//! feature selection and kept while the groups it reads are unchanged (a
//! feature added to a group is served after the catalog change, without
//! restart; see `plans`).

use std::collections::HashMap;

use std::sync::Arc;

use featurestore_catalog::{Catalog, Selected, Selection};
use featurestore_domain::DomainError;
use featurestore_domain::aggregation::Aggregations;
use featurestore_domain::{EntityKeyEncoder, FeatureGroupId};
use featurestore_onlinestore::{OnlineTable, TileTable};
use featurestore_proto::v1::{FeatureSelector, KeyColumn, Value, feature_selector::Selector};

use crate::{
    aggregates::{AggregateOutput, Readings},
    error::ServingError,
};

/// One group's part of a plan.
#[derive(Debug)]
pub struct GroupPlan {
    pub id: FeatureGroupId,
    pub table: OnlineTable,
    pub encoder: EntityKeyEncoder,
    /// For each of the group's key columns, its position in the plan's keys.
    pub key_positions: Vec<usize>,
    /// (column in the online table, position in the vector, default).
    pub outputs: Vec<(usize, usize, Option<Value>)>,
    /// Values older than this (µs) are OUTSIDE_MAX_AGE; 0 = no limit.
    pub ttl_micros: i64,
    /// The selected aggregated features, read from `tiles`.
    pub aggregates: Vec<AggregateOutput>,
    pub tiles: TileTable,
    /// What reading `aggregates` asked the store for last.
    pub readings: Readings,
}

impl GroupPlan {
    /// Whether the plan reads the group's latest-values table.
    pub fn reads_rows(&self) -> bool {
        !self.outputs.is_empty()
    }
}

#[derive(Debug)]
pub struct Plan {
    /// `group__feature` per vector position.
    pub feature_names: Vec<String>,
    /// The entity key a request must give.
    pub join_keys: Vec<KeyColumn>,
    pub groups: Vec<GroupPlan>,
    /// The group versions and features the plan was compiled from.
    selection: Selection,
    /// Per group, the aggregations being bootstrapped when it was
    /// compiled (a claim renewed changes the record, not these).
    backfilling: Vec<Vec<String>>,
    /// The view's metric series (when metrics are recorded).
    metrics: crate::metrics::ViewMetrics,
}

/// The aggregations of each selected group whose bootstrap runs.
fn backfilling(selection: &Selection, catalog: &Catalog) -> Vec<Vec<String>> {
    selection
        .iter()
        .map(|(g, _)| {
            catalog
                .backfilling(g)
                .map(|b| b.aggregations.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// The groups and features `selector` names in `catalog`.
fn resolve(
    project: &str,
    selector: &FeatureSelector,
    catalog: &Catalog,
) -> Result<Selection, ServingError> {
    let selected = match selector.selector.as_ref() {
        None => {
            return Err(ServingError::invalid(
                "selector",
                "name a feature view or a list of features",
            ));
        }
        Some(Selector::View(view)) => Selected::View(view),
        Some(Selector::Features(list)) => Selected::Features(&list.features),
    };
    catalog
        .resolve_selection(project, selected)
        .map_err(|e| match e {
            DomainError::InvalidArgument { field, reason } => {
                ServingError::invalid(format!("selector.{field}"), reason)
            }
            other => other.into(),
        })
}

impl Plan {
    /// Whether `selector` still resolves, in `catalog`, to the very groups
    /// and features this plan was compiled from.
    pub fn still_valid(
        &self,
        project: &str,
        selector: &FeatureSelector,
        catalog: &Catalog,
    ) -> bool {
        let Ok(now) = resolve(project, selector, catalog) else {
            return false;
        };
        now.len() == self.selection.len()
            && now
                .iter()
                .zip(&self.selection)
                .all(|((g, f), (was, was_f))| (Arc::ptr_eq(g, was) || g == was) && f == was_f)
            && backfilling(&now, catalog) == self.backfilling
    }

    /// Builds the plan of a selector against a catalog snapshot.
    pub fn compile(
        project: &str,
        selector: &FeatureSelector,
        catalog: &Catalog,
    ) -> Result<Plan, ServingError> {
        let selections = resolve(project, selector, catalog)?;
        let mut join_keys: Vec<KeyColumn> = Vec::new();
        let mut feature_names = Vec::new();
        let mut groups = Vec::with_capacity(selections.len());
        for (group, features) in &selections {
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
            let table = OnlineTable::for_group(group);
            let index: HashMap<&str, usize> = group
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.as_str(), i))
                .collect();
            let aggregations = Aggregations::of(group);
            let bootstrap = catalog.backfilling(group);
            let mut aggregates = Vec::new();
            let mut outputs = Vec::with_capacity(features.len());
            for feature in features {
                if let Some(a) = aggregations.as_ref().and_then(|a| a.get(feature)) {
                    aggregates.push(AggregateOutput {
                        feature: a.clone(),
                        position: feature_names.len(),
                        backfilling: bootstrap.is_some_and(|b| b.aggregations.contains(feature)),
                    });
                    feature_names.push(featurestore_domain::feature_column(&group.name, feature));
                    continue;
                }
                let column = *index.get(feature.as_str()).ok_or_else(|| {
                    ServingError::not_found(format!(
                        "feature {feature:?} in group {}@{}",
                        group.name, group.version
                    ))
                })?;
                outputs.push((
                    column,
                    feature_names.len(),
                    group.features[column].default_value.clone(),
                ));
                feature_names.push(featurestore_domain::feature_column(&group.name, feature));
            }
            groups.push(GroupPlan {
                id: FeatureGroupId {
                    project: group.project.clone(),
                    name: group.name.clone(),
                    version: group.version,
                },
                encoder: EntityKeyEncoder::new(&group.primary_key),
                key_positions,
                outputs,
                ttl_micros: group.ttl_seconds.saturating_mul(1_000_000),
                table,
                aggregates,
                tiles: TileTable::for_group(group),
                readings: Readings::default(),
            });
        }
        Ok(Plan {
            feature_names,
            join_keys,
            groups,
            backfilling: backfilling(&selections, catalog),
            selection: selections,
            metrics: crate::metrics::ViewMetrics::new(crate::metrics::view_label(
                project, selector,
            )),
        })
    }

    /// The series its requests are recorded in.
    pub fn metrics(&self) -> &crate::metrics::ViewMetrics {
        &self.metrics
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
