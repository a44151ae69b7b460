//! Requests → plans → tickets → result streams. A ticket is a signed
//! [`FlightTicket`] ([`crate::tickets`]): either a [`QueryTicket`] (the query resolved against the
//! catalog and pinned to the Delta versions it reads, so any replica runs it
//! and the same ticket always returns the same rows) or a training dataset's
//! name and version (its stored rows).

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    caller::Caller,
    datasets::{self, Datasets},
    entity_roots::EntityRoots,
    error::OfflineError,
    tickets::Tickets,
};
use featurestore_catalog::{
    Catalog, CatalogCache, ConsistencySettings, ProgressCache, Selected, Sink,
};
use featurestore_domain::{FeatureGroupId, validate_name};
use featurestore_proto::v1::{
    self as pb, CreateTrainingDatasetRequest, GetHistoricalFeaturesRequest, GroupFreshness,
    PinnedGroup, QueryTicket, ReadFeatureGroupRequest, TrainingDataset, TrainingDatasetRef,
    entity_source::Source, flight_ticket::Kind, get_historical_features_request::Features,
    read_feature_group_request::AsOf as ProtoAsOf,
};
use featurestore_query_engine::{
    AsOf, DEFAULT_TIMESTAMP_COLUMN, EntitySource, GroupRead, OfflineQuery, Plan,
    SendableRecordBatchStream,
};

pub struct Server {
    catalog: Arc<CatalogCache>,
    progress: Arc<ProgressCache>,
    consistency: ConsistencySettings,
    engine: OfflineQuery,
    datasets: Datasets,
    roots: EntityRoots,
    tickets: Tickets,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// A planned query: the ticket to read it with and what it returns.
#[derive(Debug)]
pub struct Planned {
    pub ticket: Vec<u8>,
    pub plan: Plan,
    /// Per group read: the offline watermark and committed offsets the read
    /// is pinned at.
    pub freshness: Vec<GroupFreshness>,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What a ticket names, resolved.
enum Resolved {
    Query(QueryTicket, Vec<GroupRead>),
    Dataset(TrainingDataset),
}

/// The entity rows a request names; a location is read only under the
/// configured roots.
fn entity_source(
    roots: &EntityRoots,
    entities: Option<&pb::EntitySource>,
) -> Result<(EntitySource, String), OfflineError> {
    let entities =
        entities.ok_or_else(|| OfflineError::invalid("entities", "give the entity rows"))?;
    let source = match &entities.source {
        None => return Err(OfflineError::invalid("entities", "give the entity rows")),
        Some(Source::ArrowIpcStream(bytes)) => EntitySource::ArrowIpc(bytes.clone()),
        Some(Source::ParquetPath(path)) => {
            EntitySource::Parquet(PathBuf::from(roots.confine("entities.parquet_path", path)?))
        }
        Some(Source::DeltaPath(path)) => EntitySource::Delta {
            location: roots.confine("entities.delta_path", path)?,
            version: entities.delta_version,
        },
    };
    let column = if entities.timestamp_column.is_empty() {
        DEFAULT_TIMESTAMP_COLUMN.to_string()
    } else {
        entities.timestamp_column.clone()
    };
    Ok((source, column))
}

fn pinned_group(
    catalog: &Catalog,
    project: &str,
    pinned: &PinnedGroup,
) -> Result<GroupRead, OfflineError> {
    let group = catalog
        .feature_group(project, &pinned.group, pinned.group_version)
        .filter(|g| g.version == pinned.group_version)
        .ok_or_else(|| {
            OfflineError::NotFound(format!(
                "feature group {}@{} (deleted since the query was planned?)",
                pinned.group, pinned.group_version
            ))
        })?;
    Ok(GroupRead {
        group: (**group).clone(),
        features: pinned.features.clone(),
        as_of: AsOf::Version(pinned.delta_version),
    })
}

impl Server {
    /// Bytes the queries' spill files take on disk now.
    pub fn spill_bytes(&self) -> u64 {
        self.engine.spill_bytes()
    }

    pub fn new(
        catalog: Arc<CatalogCache>,
        progress: Arc<ProgressCache>,
        consistency: ConsistencySettings,
        engine: OfflineQuery,
        datasets: Datasets,
        roots: EntityRoots,
        tickets: Tickets,
    ) -> Self {
        Self {
            catalog,
            progress,
            consistency,
            engine,
            datasets,
            roots,
            tickets,
        }
    }

    /// A ticket for `kind` issued to `caller` (`Principal::id`).
    fn ticket(&self, kind: Kind, caller: &str) -> Vec<u8> {
        self.tickets.sign(kind, caller, now_micros())
    }

    /// The Flight ticket that reads a stored dataset, for `caller`.
    pub fn dataset_ticket(&self, dataset: &TrainingDataset, caller: &str) -> Vec<u8> {
        self.ticket(
            Kind::Dataset(TrainingDatasetRef {
                project: dataset.project.clone(),
                name: dataset.name.clone(),
                version: dataset.version,
            }),
            caller,
        )
    }

    /// Waits as `consistency` asks for `groups`' rows to be in Delta; the
    /// read is planned after it, so it pins versions that have them.
    async fn settle(
        &self,
        consistency: Option<&pb::Consistency>,
        groups: BTreeSet<FeatureGroupId>,
    ) -> Result<Vec<GroupFreshness>, OfflineError> {
        let settled = self
            .progress
            .settle(
                "consistency",
                consistency,
                &groups,
                Sink::Offline,
                &self.consistency,
            )
            .await?;
        Ok(groups
            .iter()
            .map(|id| settled.progress.freshness(id, Sink::Offline))
            .collect())
    }

    /// `AT_LEAST` without a time waits for the latest entity-row time
    /// (nothing to wait for without entity rows).
    async fn entity_time_default(
        &self,
        consistency: Option<&pb::Consistency>,
        source: &EntitySource,
        column: &str,
    ) -> Result<Option<pb::Consistency>, OfflineError> {
        let Some(c) = consistency else {
            return Ok(None);
        };
        if c.level != pb::consistency::Level::AtLeast as i32 || c.at_least_micros != 0 {
            return Ok(Some(c.clone()));
        }
        let latest = self.engine.latest_entity_time(source, column).await?;
        Ok(latest.map(|t| pb::Consistency {
            at_least_micros: t,
            ..c.clone()
        }))
    }

    pub fn datasets(&self) -> &Datasets {
        &self.datasets
    }

    pub fn catalog(&self) -> &Arc<CatalogCache> {
        &self.catalog
    }

    pub async fn plan_historical(
        &self,
        request: &GetHistoricalFeaturesRequest,
        caller: &str,
    ) -> Result<Planned, OfflineError> {
        let (ticket, plan, _, freshness) = self.plan_query(request).await?;
        Ok(Planned {
            ticket: self.ticket(Kind::Query(ticket), caller),
            plan,
            freshness,
        })
    }

    /// The ticket, the plan, and the group reads pinned to the Delta versions
    /// the plan saw (what running the ticket reads).
    async fn plan_query(
        &self,
        request: &GetHistoricalFeaturesRequest,
    ) -> Result<(QueryTicket, Plan, Vec<GroupRead>, Vec<GroupFreshness>), OfflineError> {
        let project = &request.project;
        validate_name("project", project)?;
        let selected = match &request.features {
            None => {
                return Err(OfflineError::invalid(
                    "features",
                    "name a feature view or a list of features",
                ));
            }
            Some(Features::View(view)) => Selected::View(view),
            Some(Features::FeatureRefs(refs)) => Selected::Features(&refs.features),
        };
        let selection = self
            .catalog
            .snapshot()
            .resolve_selection(project, selected)?;
        let reads: Vec<GroupRead> = selection
            .into_iter()
            .map(|(group, features)| GroupRead {
                group: (*group).clone(),
                features,
                as_of: AsOf::Latest,
            })
            .collect();
        let (source, column) = entity_source(&self.roots, request.entities.as_ref())?;
        let consistency = self
            .entity_time_default(request.consistency.as_ref(), &source, &column)
            .await?;
        let freshness = self
            .settle(
                consistency.as_ref(),
                reads.iter().map(|r| group_id(&r.group)).collect(),
            )
            .await?;
        let plan = self.engine.plan(&source, &column, &reads).await?;
        let mut entities = request.entities.clone();
        if let Some(entities) = entities.as_mut() {
            entities.delta_version = entities.delta_version.or(plan.entity_version);
        }
        let ticket = QueryTicket {
            project: project.clone(),
            groups: reads
                .iter()
                .zip(&plan.table_versions)
                .map(|(read, (_, version))| PinnedGroup {
                    group: read.group.name.clone(),
                    group_version: read.group.version,
                    features: read.features.clone(),
                    delta_version: *version,
                })
                .collect(),
            entities,
        };
        let pinned = reads
            .into_iter()
            .zip(&plan.table_versions)
            .map(|(read, (_, version))| GroupRead {
                as_of: AsOf::Version(*version),
                ..read
            })
            .collect();
        Ok((ticket, plan, pinned, freshness))
    }

    pub async fn plan_group_read(
        &self,
        request: &ReadFeatureGroupRequest,
        caller: &str,
    ) -> Result<Planned, OfflineError> {
        let reference = request
            .group
            .as_ref()
            .ok_or_else(|| OfflineError::invalid("group", "name the feature group"))?;
        validate_name("group.project", &reference.project)?;
        let snapshot = self.catalog.snapshot();
        let group = snapshot
            .feature_group(&reference.project, &reference.name, reference.version)
            .ok_or_else(|| {
                OfflineError::NotFound(format!(
                    "feature group {}@{} in project {:?}",
                    reference.name, reference.version, reference.project
                ))
            })?;
        if request.as_of.is_some()
            && request.consistency.as_ref().is_some_and(|c| {
                c.level != pb::consistency::Level::Eventual as i32 || !c.write_tokens.is_empty()
            })
        {
            return Err(OfflineError::invalid(
                "consistency",
                "a read as of a version or time is what it is: AFTER_WRITE reads the latest version",
            ));
        }
        let freshness = self
            .settle(
                request.consistency.as_ref(),
                BTreeSet::from([group_id(group)]),
            )
            .await?;
        let as_of = match request.as_of {
            None => AsOf::Latest,
            Some(ProtoAsOf::DeltaVersion(v)) => AsOf::Version(v),
            Some(ProtoAsOf::TimestampMicros(t)) => AsOf::Timestamp(t),
        };
        let read = GroupRead {
            group: (**group).clone(),
            features: Vec::new(),
            as_of,
        };
        let plan = self.engine.plan_group(&read).await?;
        let ticket = QueryTicket {
            project: reference.project.clone(),
            groups: vec![PinnedGroup {
                group: group.name.clone(),
                group_version: group.version,
                features: Vec::new(),
                delta_version: plan.table_versions[0].1,
            }],
            entities: None,
        };
        Ok(Planned {
            ticket: self.ticket(Kind::Query(ticket), caller),
            plan,
            freshness,
        })
    }

    /// What a ticket returns, without running it.
    pub async fn plan_ticket(&self, ticket: &[u8], caller: &Caller) -> Result<Plan, OfflineError> {
        match self.decode(ticket, caller).await? {
            Resolved::Query(ticket, reads) => match &ticket.entities {
                Some(entities) => {
                    let (source, column) = entity_source(&self.roots, Some(entities))?;
                    Ok(self.engine.plan(&source, &column, &reads).await?)
                }
                None => Ok(self.engine.plan_group(first(&reads)?).await?),
            },
            Resolved::Dataset(dataset) => Ok(Plan {
                schema: self
                    .engine
                    .dataset_schema(
                        dataset.location.as_ref(),
                        datasets::format_of(dataset.format)?,
                    )
                    .await?,
                table_versions: dataset.table_versions.into_iter().collect(),
                entity_version: None,
            }),
        }
    }

    /// Runs what a ticket names.
    pub async fn run(
        &self,
        ticket: &[u8],
        caller: &Caller,
    ) -> Result<SendableRecordBatchStream, OfflineError> {
        match self.decode(ticket, caller).await? {
            Resolved::Query(ticket, reads) => self.run_query(&ticket, &reads).await,
            Resolved::Dataset(dataset) => Ok(self
                .engine
                .read_dataset(
                    dataset.location.as_ref(),
                    datasets::format_of(dataset.format)?,
                )
                .await?),
        }
    }

    async fn run_query(
        &self,
        ticket: &QueryTicket,
        reads: &[GroupRead],
    ) -> Result<SendableRecordBatchStream, OfflineError> {
        match &ticket.entities {
            Some(entities) => {
                let (source, column) = entity_source(&self.roots, Some(entities))?;
                Ok(self
                    .engine
                    .historical_features(&source, &column, reads)
                    .await?)
            }
            None => Ok(self.engine.read_group(first(reads)?).await?.0),
        }
    }

    /// Opens a ticket (signed for `caller`, not expired) and checks that
    /// the caller may still read its project.
    async fn decode(&self, ticket: &[u8], caller: &Caller) -> Result<Resolved, OfflineError> {
        let kind = self.tickets.open(ticket, &caller.id, now_micros())?;
        caller.check(match &kind {
            Kind::Query(query) => &query.project,
            Kind::Dataset(d) => &d.project,
        })?;
        match kind {
            Kind::Query(query) => {
                let reads = self.pinned_reads(&query)?;
                Ok(Resolved::Query(query, reads))
            }
            Kind::Dataset(d) => Ok(Resolved::Dataset(
                self.datasets.get(&d.project, &d.name, d.version).await?,
            )),
        }
    }

    fn pinned_reads(&self, ticket: &QueryTicket) -> Result<Vec<GroupRead>, OfflineError> {
        let snapshot = self.catalog.snapshot();
        ticket
            .groups
            .iter()
            .map(|g| pinned_group(&snapshot, &ticket.project, g))
            .collect()
    }

    /// Runs the query and stores its result as a training dataset (see
    /// [`crate::datasets`] for how nothing partial is left behind).
    pub async fn create_dataset(
        &self,
        request: &CreateTrainingDatasetRequest,
    ) -> Result<TrainingDataset, OfflineError> {
        let (project, name) = (&request.project, &request.name);
        datasets::validate(project, name)?;
        let format = datasets::format_of(request.format)?;
        let mut query = request
            .query
            .clone()
            .ok_or_else(|| OfflineError::invalid("query", "give the query to materialise"))?;
        if query.project.is_empty() {
            query.project.clone_from(project);
        } else if &query.project != project {
            return Err(OfflineError::invalid(
                "query.project",
                format!(
                    "{:?} is not the dataset's project {project:?}",
                    query.project
                ),
            ));
        }
        let version = self
            .datasets
            .next_version(project, name, request.version)
            .await?;
        let view = match &query.features {
            Some(Features::View(v)) => self
                .catalog
                .snapshot()
                .feature_view(project, &v.name, v.version)
                .map(|v| (**v).clone()),
            _ => None,
        };
        let (ticket, plan, reads, freshness) = self.plan_query(&query).await?;
        let scratch = self.datasets.scratch(project, name)?;
        let rows = self.run_query(&ticket, &reads).await?;
        let written = self
            .engine
            .write_dataset(rows, scratch.path(), format, None)
            .await?;
        let feature_count: usize = ticket.groups.iter().map(|g| g.features.len()).sum();
        let fields = plan.schema.fields();
        let entity_columns = fields[..fields.len().saturating_sub(feature_count)]
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let dataset = TrainingDataset {
            project: project.clone(),
            name: name.clone(),
            version,
            query: Some(recorded_query(query, ticket.entities.clone())),
            format: match format {
                featurestore_query_engine::DatasetFormat::Parquet => pb::DatasetFormat::Parquet,
                featurestore_query_engine::DatasetFormat::Delta => pb::DatasetFormat::Delta,
            } as i32,
            location: String::new(),
            row_count: written.rows,
            table_versions: versions(&plan),
            create_time_micros: datasets::now_micros(),
            flight_ticket: Vec::new(),
            groups: ticket.groups,
            view,
            entity_columns,
            arrow_schema: crate::grpc::schema_bytes(&plan.schema)?,
            freshness,
        };
        self.datasets
            .commit(scratch, dataset, request.version == 0)
            .await
    }
}

/// The query as recorded with a dataset: inline entity rows are dropped (the
/// dataset's entity columns hold them), a Delta source keeps the version read.
fn recorded_query(
    mut query: GetHistoricalFeaturesRequest,
    pinned: Option<pb::EntitySource>,
) -> GetHistoricalFeaturesRequest {
    query.entities = pinned.map(|mut entities| {
        if matches!(entities.source, Some(Source::ArrowIpcStream(_))) {
            entities.source = None;
        }
        entities
    });
    query
}

fn group_id(group: &pb::FeatureGroup) -> FeatureGroupId {
    FeatureGroupId {
        project: group.project.clone(),
        name: group.name.clone(),
        version: group.version,
    }
}

fn first(reads: &[GroupRead]) -> Result<&GroupRead, OfflineError> {
    reads
        .first()
        .ok_or_else(|| OfflineError::invalid("ticket", "names no feature group"))
}

/// Delta versions by `group@version`, as the API returns them.
pub fn versions(plan: &Plan) -> HashMap<String, i64> {
    plan.table_versions.iter().cloned().collect()
}
