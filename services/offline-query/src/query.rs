//! Requests → plans → tickets → result streams. A ticket is a
//! [`QueryTicket`]: the query resolved against the catalog and pinned to the
//! Delta versions it reads, so any replica runs it and the same ticket always
//! returns the same rows.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use featurestore_catalog::{Catalog, CatalogCache, Selected};
use featurestore_domain::validate_name;
use featurestore_offlinequery::{
    AsOf, DEFAULT_TIMESTAMP_COLUMN, EntitySource, GroupRead, OfflineQuery, Plan,
    SendableRecordBatchStream,
};
use featurestore_proto::v1::{
    self as pb, GetHistoricalFeaturesRequest, PinnedGroup, QueryTicket, ReadFeatureGroupRequest,
    entity_source::Source, get_historical_features_request::Features,
    read_feature_group_request::AsOf as ProtoAsOf,
};
use prost::Message;

use crate::error::OfflineError;

pub struct Server {
    catalog: Arc<CatalogCache>,
    engine: OfflineQuery,
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
}

fn entity_source(
    entities: Option<&pb::EntitySource>,
) -> Result<(EntitySource, String), OfflineError> {
    let entities =
        entities.ok_or_else(|| OfflineError::invalid("entities", "give the entity rows"))?;
    let source = match &entities.source {
        None => return Err(OfflineError::invalid("entities", "give the entity rows")),
        Some(Source::ArrowIpcStream(bytes)) => EntitySource::ArrowIpc(bytes.clone()),
        Some(Source::ParquetPath(path)) => EntitySource::Parquet(PathBuf::from(path)),
        Some(Source::DeltaPath(path)) => EntitySource::Delta(path.clone()),
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
    pub fn new(catalog: Arc<CatalogCache>, engine: OfflineQuery) -> Self {
        Self { catalog, engine }
    }

    pub fn catalog(&self) -> &Arc<CatalogCache> {
        &self.catalog
    }

    pub async fn plan_historical(
        &self,
        request: &GetHistoricalFeaturesRequest,
    ) -> Result<Planned, OfflineError> {
        let project = &request.project;
        validate_name("project", project)
            .map_err(|e| OfflineError::invalid("project", e.to_string()))?;
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
        let (source, column) = entity_source(request.entities.as_ref())?;
        let plan = self.engine.plan(&source, &column, &reads).await?;
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
            entities: request.entities.clone(),
        };
        Ok(Planned {
            ticket: ticket.encode_to_vec(),
            plan,
        })
    }

    pub async fn plan_group_read(
        &self,
        request: &ReadFeatureGroupRequest,
    ) -> Result<Planned, OfflineError> {
        let reference = request
            .group
            .as_ref()
            .ok_or_else(|| OfflineError::invalid("group", "name the feature group"))?;
        validate_name("group.project", &reference.project)
            .map_err(|e| OfflineError::invalid("group.project", e.to_string()))?;
        let snapshot = self.catalog.snapshot();
        let group = snapshot
            .feature_group(&reference.project, &reference.name, reference.version)
            .ok_or_else(|| {
                OfflineError::NotFound(format!(
                    "feature group {}@{} in project {:?}",
                    reference.name, reference.version, reference.project
                ))
            })?;
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
            ticket: ticket.encode_to_vec(),
            plan,
        })
    }

    /// What a ticket returns, without running it.
    pub async fn plan_ticket(&self, ticket: &[u8]) -> Result<Plan, OfflineError> {
        let (ticket, reads) = self.decode(ticket)?;
        match &ticket.entities {
            Some(entities) => {
                let (source, column) = entity_source(Some(entities))?;
                Ok(self.engine.plan(&source, &column, &reads).await?)
            }
            None => Ok(self.engine.plan_group(first(&reads)?).await?),
        }
    }

    /// Runs what a ticket names.
    pub async fn run(&self, ticket: &[u8]) -> Result<SendableRecordBatchStream, OfflineError> {
        let (ticket, reads) = self.decode(ticket)?;
        match &ticket.entities {
            Some(entities) => {
                let (source, column) = entity_source(Some(entities))?;
                Ok(self
                    .engine
                    .historical_features(&source, &column, &reads)
                    .await?)
            }
            None => Ok(self.engine.read_group(first(&reads)?).await?.0),
        }
    }

    fn decode(&self, ticket: &[u8]) -> Result<(QueryTicket, Vec<GroupRead>), OfflineError> {
        let ticket = QueryTicket::decode(ticket)
            .map_err(|_| OfflineError::invalid("ticket", "not a ticket of this service"))?;
        let snapshot = self.catalog.snapshot();
        let reads = ticket
            .groups
            .iter()
            .map(|g| pinned_group(&snapshot, &ticket.project, g))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((ticket, reads))
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
