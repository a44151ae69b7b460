//! The `OfflineQueryService` gRPC surface: plans queries and hands out
//! Flight tickets.

use std::sync::Arc;
use tracing::Instrument;

use arrow_flight::{IpcMessage, SchemaAsIpc};
use arrow_ipc::writer::IpcWriteOptions;
use featurestore_proto::v1::{
    CreateTrainingDatasetRequest, DeleteTrainingDatasetRequest, DeleteTrainingDatasetResponse,
    GetHistoricalFeaturesRequest, GetTrainingDatasetRequest, ListTrainingDatasetsRequest,
    ListTrainingDatasetsResponse, QueryHandle, ReadFeatureGroupRequest, TrainingDataset,
    offline_query_service_server::OfflineQueryService,
    training_dataset_service_server::TrainingDatasetService,
};
use featurestore_runtime::{Principal, authz};
use tonic::{Request, Response, Status};

use crate::{
    error::OfflineError,
    query::{Planned, Server, versions},
};

#[derive(Debug, Clone)]
pub struct OfflineGrpc {
    server: Arc<Server>,
}

impl OfflineGrpc {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

/// The schema as an encapsulated Arrow IPC message (what Flight uses).
pub fn schema_bytes(schema: &arrow_schema::Schema) -> Result<Vec<u8>, OfflineError> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow_schema::ArrowError| OfflineError::Internal(e.to_string()))?;
    Ok(message.0.to_vec())
}

fn handle(planned: Planned) -> Result<Response<QueryHandle>, Status> {
    Ok(Response::new(QueryHandle {
        arrow_schema: schema_bytes(&planned.plan.schema)?,
        table_versions: versions(&planned.plan),
        flight_ticket: planned.ticket,
        freshness: planned.freshness,
    }))
}

#[tonic::async_trait]
impl OfflineQueryService for OfflineGrpc {
    async fn get_historical_features(
        &self,
        request: Request<GetHistoricalFeaturesRequest>,
    ) -> Result<Response<QueryHandle>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let caller = Principal::id_of(&request);
        let span = crate::metrics::historical_span(request.get_ref());
        handle(
            self.server
                .plan_historical(request.get_ref(), &caller)
                .instrument(span)
                .await?,
        )
    }

    async fn read_feature_group(
        &self,
        request: Request<ReadFeatureGroupRequest>,
    ) -> Result<Response<QueryHandle>, Status> {
        authz::check(
            &request,
            request
                .get_ref()
                .group
                .as_ref()
                .map_or("", |g| g.project.as_str()),
        )?;
        let caller = Principal::id_of(&request);
        handle(
            self.server
                .plan_group_read(request.get_ref(), &caller)
                .await?,
        )
    }
}

impl OfflineGrpc {
    /// A stored dataset as the API returns it: with the ticket that reads it.
    fn readable(&self, mut dataset: TrainingDataset, caller: &str) -> TrainingDataset {
        dataset.flight_ticket = self.server.dataset_ticket(&dataset, caller);
        dataset
    }
}

#[tonic::async_trait]
impl TrainingDatasetService for OfflineGrpc {
    async fn create_training_dataset(
        &self,
        request: Request<CreateTrainingDatasetRequest>,
    ) -> Result<Response<TrainingDataset>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let caller = Principal::id_of(&request);
        let dataset = self.server.create_dataset(request.get_ref()).await?;
        Ok(Response::new(self.readable(dataset, &caller)))
    }

    async fn get_training_dataset(
        &self,
        request: Request<GetTrainingDatasetRequest>,
    ) -> Result<Response<TrainingDataset>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.get_ref();
        let dataset = self
            .server
            .datasets()
            .get(&r.project, &r.name, r.version)
            .await?;
        Ok(Response::new(
            self.readable(dataset, &Principal::id_of(&request)),
        ))
    }

    async fn list_training_datasets(
        &self,
        request: Request<ListTrainingDatasetsRequest>,
    ) -> Result<Response<ListTrainingDatasetsResponse>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let caller = Principal::id_of(&request);
        let r = request.get_ref();
        let (datasets, next_page_token) = self
            .server
            .datasets()
            .list(&r.project, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(ListTrainingDatasetsResponse {
            datasets: datasets
                .into_iter()
                .map(|d| self.readable(d, &caller))
                .collect(),
            next_page_token,
        }))
    }

    async fn delete_training_dataset(
        &self,
        request: Request<DeleteTrainingDatasetRequest>,
    ) -> Result<Response<DeleteTrainingDatasetResponse>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.get_ref();
        self.server
            .datasets()
            .delete(&r.project, &r.name, r.version)
            .await?;
        Ok(Response::new(DeleteTrainingDatasetResponse {}))
    }
}
