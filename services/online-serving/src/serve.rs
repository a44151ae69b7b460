//! Serving feature vectors: plan lookup, key encoding, one concurrent read
//! per group, assembly in the plan's order with per-feature statuses.

use std::{collections::BTreeSet, sync::Arc};

use featurestore_catalog::{CatalogCache, ConsistencySettings, ProgressCache, Sink};
use featurestore_domain::validate_name;
use featurestore_onlinestore::{OnlineStore, OnlineStoreError, StoredRow};
use featurestore_proto::v1::{
    Consistency, FeatureSelector, FeatureStatus, FeatureVector, GroupFreshness, Row, Value,
    consistency::Level, value::Kind,
};

use crate::{
    aggregates,
    error::ServingError,
    plan::{GroupPlan, Plan},
    plans::Plans,
};

pub struct Server {
    catalog: Arc<CatalogCache>,
    progress: Arc<ProgressCache>,
    online: Arc<dyn OnlineStore>,
    max_keys: usize,
    consistency: ConsistencySettings,
    plans: Plans,
}

/// What a read asks besides the keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions<'r> {
    pub include_event_times: bool,
    pub include_freshness: bool,
    pub consistency: Option<&'r Consistency>,
}

/// An answer: names, vectors, and per group the progress read at (when
/// asked).
#[derive(Debug, Default)]
pub struct Answer {
    pub feature_names: Vec<String>,
    pub vectors: Vec<FeatureVector>,
    pub freshness: Vec<GroupFreshness>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

impl Server {
    pub fn new(
        catalog: Arc<CatalogCache>,
        progress: Arc<ProgressCache>,
        online: Arc<dyn OnlineStore>,
        max_keys: usize,
        consistency: ConsistencySettings,
    ) -> Self {
        Self {
            catalog,
            progress,
            online,
            max_keys,
            consistency,
            plans: Plans::new(crate::plans::DEFAULT_CAPACITY),
        }
    }

    pub fn catalog(&self) -> &Arc<CatalogCache> {
        &self.catalog
    }

    fn plan(&self, project: &str, selector: &FeatureSelector) -> Result<Arc<Plan>, ServingError> {
        self.plans.get(project, selector, &self.catalog.snapshot())
    }

    /// The aggregated features of `group` for each key, read at `at`
    /// (`None`: the key never had an event); empty when the plan selects
    /// none of the group's aggregations.
    async fn aggregated(
        &self,
        group: &GroupPlan,
        keys: &[Vec<u8>],
        at: i64,
    ) -> Result<Vec<aggregates::KeyValues>, ServingError> {
        if group.aggregates.is_empty() {
            return Ok(Vec::new());
        }
        let reading = group.readings.at(&group.aggregates, at);
        let stored = match self
            .online
            .scan_tiles(&group.tiles, keys, &reading.ranges)
            .await
        {
            // Nothing materialized yet: no key had an event.
            Err(OnlineStoreError::UnknownTable(_)) => return Ok(vec![None; keys.len()]),
            other => other?,
        };
        stored
            .iter()
            .map(|tiles| {
                aggregates::values(
                    &group.aggregates,
                    &reading.readers,
                    tiles,
                    &group.tiles.label,
                )
            })
            .collect()
    }

    /// Vectors for `rows` (values in the order of `join_keys`), in order;
    /// traced as a span naming the view, the batch size and the
    /// consistency level.
    pub async fn vectors(
        &self,
        project: &str,
        selector: Option<&FeatureSelector>,
        join_keys: &[String],
        rows: &[Row],
        options: ReadOptions<'_>,
    ) -> Result<Answer, ServingError> {
        use tracing::Instrument;
        // Traced when the request is (its span is the parent).
        let traced = featurestore_runtime::telemetry::is_traced(&tracing::Span::current());
        if !traced {
            return self.read(project, selector, join_keys, rows, options).await;
        }
        let view = selector.map(|s| crate::metrics::view_label(project, s));
        let level = options.consistency.map_or("NONE", |c| {
            Level::try_from(c.level).map_or("UNSPECIFIED", |l| {
                l.as_str_name().trim_start_matches("LEVEL_")
            })
        });
        let span = tracing::info_span!(
            "serve vectors",
            featurestore.view = view.as_deref().unwrap_or_default(),
            featurestore.batch_size = rows.len(),
            featurestore.consistency = level,
        );
        self.read(project, selector, join_keys, rows, options)
            .instrument(span)
            .await
    }

    async fn read(
        &self,
        project: &str,
        selector: Option<&FeatureSelector>,
        join_keys: &[String],
        rows: &[Row],
        options: ReadOptions<'_>,
    ) -> Result<Answer, ServingError> {
        let include_event_times = options.include_event_times;
        validate_name("project", project)?;
        if rows.len() > self.max_keys {
            return Err(ServingError::invalid(
                "entity_rows",
                format!(
                    "{} keys exceed the limit of {} per call",
                    rows.len(),
                    self.max_keys
                ),
            ));
        }
        let selector = selector.ok_or_else(|| ServingError::invalid("selector", "is required"))?;
        let plan = self.plan(project, selector)?;
        let order = plan.key_order(join_keys)?;
        for (r, row) in rows.iter().enumerate() {
            if row.values.len() != join_keys.len() {
                return Err(ServingError::invalid(
                    format!("entity_rows[{r}]"),
                    format!(
                        "expected {} key values, got {}",
                        join_keys.len(),
                        row.values.len()
                    ),
                ));
            }
        }
        // Encode every group's keys first: bad keys fail before any read.
        let mut per_group: Vec<Vec<Vec<u8>>> = Vec::with_capacity(plan.groups.len());
        for group in &plan.groups {
            let mut keys = Vec::with_capacity(rows.len());
            for (r, row) in rows.iter().enumerate() {
                let values = group
                    .key_positions
                    .iter()
                    .map(|p| row.values[order[*p]].kind.as_ref());
                let key = group.encoder.encode(values).map_err(|e| match e {
                    featurestore_domain::DomainError::InvalidArgument { field, reason } => {
                        ServingError::invalid(format!("entity_rows[{r}].{field}"), reason)
                    }
                    other => other.into(),
                })?;
                keys.push(key);
            }
            per_group.push(keys);
        }
        // Bad input is refused before any wait.
        let settled = match options.consistency {
            None => None,
            Some(c) => {
                let groups: BTreeSet<_> = plan.groups.iter().map(|g| g.id.clone()).collect();
                Some(
                    self.progress
                        .settle(
                            "consistency",
                            Some(c),
                            &groups,
                            Sink::Online,
                            &self.consistency,
                        )
                        .await?,
                )
            }
        };
        // A group whose online table does not exist yet (nothing materialized)
        // has no rows: NOT_FOUND statuses, not an error.
        let now = now_micros();
        let read_started = std::time::Instant::now();
        let reads = plan
            .groups
            .iter()
            .zip(&per_group)
            .map(|(group, keys)| async move {
                let rows = async {
                    if !group.reads_rows() {
                        return Ok(Vec::new());
                    }
                    match self.online.get(&group.table, keys).await {
                        Err(OnlineStoreError::UnknownTable(_)) => Ok(vec![None; keys.len()]),
                        other => other.map_err(ServingError::from),
                    }
                };
                let (rows, aggregated) =
                    futures::future::try_join(rows, self.aggregated(group, keys, now)).await?;
                Ok::<_, ServingError>((rows, aggregated))
            });
        let results: Vec<(Vec<Option<StoredRow>>, Vec<aggregates::KeyValues>)> =
            futures::future::try_join_all(reads).await?;
        let store_read = read_started.elapsed();

        let n = plan.feature_names.len();
        let mut vectors: Vec<FeatureVector> = (0..rows.len())
            .map(|_| FeatureVector {
                values: Vec::with_capacity(n),
                statuses: vec![FeatureStatus::NotFound as i32; n],
                event_times_micros: if include_event_times {
                    vec![0; n]
                } else {
                    Vec::new()
                },
            })
            .collect();
        for vector in &mut vectors {
            vector.values.resize_with(n, || Value {
                kind: Some(Kind::NullValue(0)),
            });
        }
        for (group, (stored, aggregated)) in plan.groups.iter().zip(results) {
            let stale = settled.as_ref().is_some_and(|s| s.is_stale(&group.id));
            for (vector, values) in vectors.iter_mut().zip(aggregated) {
                for (i, output) in group.aggregates.iter().enumerate() {
                    if output.backfilling {
                        vector.statuses[output.position] = FeatureStatus::Backfilling as i32;
                        continue;
                    }
                    let value = values.as_ref().map(|v| v[i].clone());
                    let status = match &value {
                        None => FeatureStatus::NotFound,
                        Some(None) => FeatureStatus::Null,
                        Some(Some(_)) => FeatureStatus::Present,
                    };
                    let status = if stale { FeatureStatus::Stale } else { status };
                    vector.statuses[output.position] = status as i32;
                    if let Some(Some(value)) = value {
                        vector.values[output.position] = value;
                    }
                    if include_event_times && values.is_some() {
                        // The time the window was read at.
                        vector.event_times_micros[output.position] = now;
                    }
                }
            }
            for (vector, row) in vectors.iter_mut().zip(stored) {
                for (column, position, default) in &group.outputs {
                    let (status, value) = match &row {
                        None => (FeatureStatus::NotFound, None),
                        Some(row)
                            if group.ttl_micros > 0
                                && now - row.event_time_micros > group.ttl_micros =>
                        {
                            (FeatureStatus::OutsideMaxAge, None)
                        }
                        Some(row) => match row.values.get(*column) {
                            Some(v) if !matches!(v.kind, None | Some(Kind::NullValue(_))) => {
                                (FeatureStatus::Present, Some(v.clone()))
                            }
                            _ => (FeatureStatus::Null, None),
                        },
                    };
                    let status = if stale { FeatureStatus::Stale } else { status };
                    vector.statuses[*position] = status as i32;
                    if let Some(value) = value.or_else(|| default.clone()) {
                        vector.values[*position] = value;
                    }
                    if include_event_times && let Some(row) = &row {
                        vector.event_times_micros[*position] = row.event_time_micros;
                    }
                }
            }
        }
        let freshness = if options.include_freshness {
            let progress = settled
                .map(|s| s.progress)
                .unwrap_or_else(|| self.progress.snapshot());
            plan.groups
                .iter()
                .map(|g| progress.freshness(&g.id, Sink::Online))
                .collect()
        } else {
            Vec::new()
        };
        if featurestore_runtime::metrics::enabled() {
            plan.metrics().record(&vectors, store_read);
        }
        Ok(Answer {
            feature_names: plan.feature_names.clone(),
            vectors,
            freshness,
        })
    }
}
