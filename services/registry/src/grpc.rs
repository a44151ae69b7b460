//! The `RegistryService` gRPC surface: request parsing and response shaping
//! around [`Registry`]; errors become statuses through `ServiceError`.

use featurestore_proto::v1::{
    CreateEntityRequest, CreateFeatureGroupRequest, CreateFeatureViewRequest, CreateProjectRequest,
    DeleteEntityRequest, DeleteFeatureGroupRequest, DeleteFeatureViewRequest, DeleteProjectRequest,
    DeleteResponse, Entity, FeatureGroup, FeatureView, GetEntityRequest, GetFeatureGroupRequest,
    GetFeatureViewRequest, GetProjectRequest, ListEntitiesRequest, ListEntitiesResponse,
    ListFeatureGroupsRequest, ListFeatureGroupsResponse, ListFeatureViewsRequest,
    ListFeatureViewsResponse, ListProjectsRequest, ListProjectsResponse, Project,
    SearchFeaturesRequest, SearchFeaturesResponse, SetProjectRolesRequest, WatchCatalogRequest,
    registry_service_server::RegistryService,
};
use featurestore_proto::{ErrorCode, ServiceError};
use featurestore_runtime::authz;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{
    error::RegistryError,
    registry::{FeatureQuery, GroupFilter, Registry},
    watch::{EventStream, watch_catalog},
};

/// The gRPC service over a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryGrpc {
    registry: Registry,
    shutdown: CancellationToken,
}

impl RegistryGrpc {
    pub fn new(registry: Registry, shutdown: CancellationToken) -> Self {
        Self { registry, shutdown }
    }
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, RegistryError> {
    value.ok_or_else(|| RegistryError::invalid(field, "is required"))
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, RegistryError>) -> Reply<T> {
    result.map(Response::new).map_err(|error| {
        // Callers' mistakes are theirs to see; faults are ours to log.
        if matches!(
            error.error_code(),
            ErrorCode::Internal | ErrorCode::Unavailable
        ) {
            tracing::warn!(%error, "registry request failed");
        }
        Status::from(error)
    })
}

fn deleted(result: Result<i64, RegistryError>) -> Reply<DeleteResponse> {
    reply(result.map(|revision| DeleteResponse { revision }))
}

#[tonic::async_trait]
impl RegistryService for RegistryGrpc {
    async fn create_project(&self, request: Request<CreateProjectRequest>) -> Reply<Project> {
        let name = request.get_ref().project.as_ref().map(|p| p.name.clone());
        authz::check(&request, name.as_deref().unwrap_or_default())?;
        let project = required("project", request.into_inner().project);
        reply(match project {
            Ok(p) => self.registry.create_project(p).await,
            Err(e) => Err(e),
        })
    }

    async fn get_project(&self, request: Request<GetProjectRequest>) -> Reply<Project> {
        authz::check(&request, &request.get_ref().name)?;
        reply(self.registry.get_project(&request.into_inner().name).await)
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Reply<ListProjectsResponse> {
        authz::check_listing(&request)?;
        let r = request.get_ref();
        // A page keeps the projects the caller may describe, so it can be
        // shorter than the page size; the token still goes on.
        reply(
            self.registry
                .list_projects(r.page_size, &r.page_token)
                .await
                .map(|(projects, next_page_token)| ListProjectsResponse {
                    projects: projects
                        .into_iter()
                        .filter(|p| authz::allows(&request, &p.name))
                        .collect(),
                    next_page_token,
                }),
        )
    }

    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Reply<DeleteResponse> {
        authz::check(&request, &request.get_ref().name)?;
        let r = request.into_inner();
        deleted(
            self.registry
                .delete_project(&r.name, r.expected_revision)
                .await,
        )
    }

    async fn set_project_roles(&self, request: Request<SetProjectRolesRequest>) -> Reply<Project> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(
            self.registry
                .set_project_roles(&r.project, r.roles, r.expected_revision)
                .await,
        )
    }

    async fn create_entity(&self, request: Request<CreateEntityRequest>) -> Reply<Entity> {
        let project = request.get_ref().entity.as_ref().map(|e| e.project.clone());
        authz::check(&request, project.as_deref().unwrap_or_default())?;
        reply(match required("entity", request.into_inner().entity) {
            Ok(e) => self.registry.create_entity(e).await,
            Err(e) => Err(e),
        })
    }

    async fn get_entity(&self, request: Request<GetEntityRequest>) -> Reply<Entity> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(self.registry.get_entity(&r.project, &r.name).await)
    }

    async fn list_entities(
        &self,
        request: Request<ListEntitiesRequest>,
    ) -> Reply<ListEntitiesResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(
            self.registry
                .list_entities(&r.project, r.page_size, &r.page_token)
                .await
                .map(|(entities, next_page_token)| ListEntitiesResponse {
                    entities,
                    next_page_token,
                }),
        )
    }

    async fn delete_entity(&self, request: Request<DeleteEntityRequest>) -> Reply<DeleteResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        deleted(
            self.registry
                .delete_entity(&r.project, &r.name, r.expected_revision)
                .await,
        )
    }

    async fn create_feature_group(
        &self,
        request: Request<CreateFeatureGroupRequest>,
    ) -> Reply<FeatureGroup> {
        reply(
            match required("feature_group", {
                let g = request.get_ref().feature_group.as_ref();
                authz::check(&request, g.map_or("", |g| g.project.as_str()))?;
                request.into_inner().feature_group
            }) {
                Ok(g) => self.registry.create_feature_group(g).await,
                Err(e) => Err(e),
            },
        )
    }

    async fn get_feature_group(
        &self,
        request: Request<GetFeatureGroupRequest>,
    ) -> Reply<FeatureGroup> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(
            self.registry
                .get_feature_group(&r.project, &r.name, r.version)
                .await,
        )
    }

    async fn list_feature_groups(
        &self,
        request: Request<ListFeatureGroupsRequest>,
    ) -> Reply<ListFeatureGroupsResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        let filter = GroupFilter {
            name_prefix: r.name_prefix,
            entity: r.entity,
            owner: r.owner,
            tags: r.tags,
            latest_only: r.latest_only,
        };
        reply(
            self.registry
                .list_feature_groups(&r.project, &filter, r.page_size, &r.page_token)
                .await
                .map(
                    |(feature_groups, next_page_token)| ListFeatureGroupsResponse {
                        feature_groups,
                        next_page_token,
                    },
                ),
        )
    }

    async fn update_feature_group(
        &self,
        request: Request<featurestore_proto::v1::UpdateFeatureGroupRequest>,
    ) -> Reply<FeatureGroup> {
        let g = request.get_ref().feature_group.as_ref();
        authz::check(&request, g.map_or("", |g| g.project.as_str()))?;
        let r = request.into_inner();
        reply(match required("feature_group", r.feature_group) {
            Ok(g) => {
                self.registry
                    .update_feature_group(g, r.expected_revision)
                    .await
            }
            Err(e) => Err(e),
        })
    }

    async fn delete_feature_group(
        &self,
        request: Request<DeleteFeatureGroupRequest>,
    ) -> Reply<DeleteResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        deleted(
            self.registry
                .delete_feature_group(&r.project, &r.name, r.version, r.expected_revision)
                .await,
        )
    }

    async fn create_feature_view(
        &self,
        request: Request<CreateFeatureViewRequest>,
    ) -> Reply<FeatureView> {
        reply(
            match required("feature_view", {
                let v = request.get_ref().feature_view.as_ref();
                authz::check(&request, v.map_or("", |v| v.project.as_str()))?;
                request.into_inner().feature_view
            }) {
                Ok(v) => self.registry.create_feature_view(v).await,
                Err(e) => Err(e),
            },
        )
    }

    async fn get_feature_view(
        &self,
        request: Request<GetFeatureViewRequest>,
    ) -> Reply<FeatureView> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(
            self.registry
                .get_feature_view(&r.project, &r.name, r.version)
                .await,
        )
    }

    async fn list_feature_views(
        &self,
        request: Request<ListFeatureViewsRequest>,
    ) -> Reply<ListFeatureViewsResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        reply(
            self.registry
                .list_feature_views(
                    &r.project,
                    &r.name_prefix,
                    &r.group,
                    r.latest_only,
                    r.page_size,
                    &r.page_token,
                )
                .await
                .map(
                    |(feature_views, next_page_token)| ListFeatureViewsResponse {
                        feature_views,
                        next_page_token,
                    },
                ),
        )
    }

    async fn delete_feature_view(
        &self,
        request: Request<DeleteFeatureViewRequest>,
    ) -> Reply<DeleteResponse> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        deleted(
            self.registry
                .delete_feature_view(&r.project, &r.name, r.version, r.expected_revision)
                .await,
        )
    }

    async fn search_features(
        &self,
        request: Request<SearchFeaturesRequest>,
    ) -> Reply<SearchFeaturesResponse> {
        if request.get_ref().project.is_empty() {
            authz::check_listing(&request)?;
        } else {
            authz::check(&request, &request.get_ref().project)?;
        }
        // Across projects, a page keeps the hits the caller may describe.
        let access = authz::access_of(&request);
        let r = request.into_inner();
        let query = FeatureQuery {
            project: r.project,
            text: r.query,
            tags: r.tags,
            owner: r.owner,
        };
        reply(
            self.registry
                .search_features(&query, r.page_size, &r.page_token)
                .await
                .map(|(hits, next_page_token)| SearchFeaturesResponse {
                    hits: hits
                        .into_iter()
                        .filter(|h| access.as_ref().is_none_or(|a| a.allows(&h.project)))
                        .collect(),
                    next_page_token,
                }),
        )
    }

    type WatchCatalogStream = EventStream;

    async fn watch_catalog(&self, request: Request<WatchCatalogRequest>) -> Reply<EventStream> {
        if request.get_ref().project.is_empty() {
            authz::check_listing(&request)?;
        } else {
            authz::check(&request, &request.get_ref().project)?;
        }
        let access = authz::access_of(&request);
        let stream = watch_catalog(
            self.registry.metadata_store(),
            self.registry.keyspace().clone(),
            request.into_inner(),
            access,
            self.shutdown.clone(),
        )
        .await?;
        Ok(Response::new(stream))
    }
}
