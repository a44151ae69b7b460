//! The `OfflineQueryService` gRPC surface: plans queries and hands out
//! Flight tickets.

use std::sync::Arc;

use arrow_flight::{IpcMessage, SchemaAsIpc};
use arrow_ipc::writer::IpcWriteOptions;
use featurestore_proto::v1::{
    GetHistoricalFeaturesRequest, QueryHandle, ReadFeatureGroupRequest,
    offline_query_service_server::OfflineQueryService,
};
use tonic::{Request, Response, Status};

use crate::query::{Planned, Server, versions};

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
pub fn schema_bytes(schema: &arrow_schema::Schema) -> Result<Vec<u8>, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow_schema::ArrowError| Status::internal(e.to_string()))?;
    Ok(message.0.to_vec())
}

fn handle(planned: Planned) -> Result<Response<QueryHandle>, Status> {
    Ok(Response::new(QueryHandle {
        arrow_schema: schema_bytes(&planned.plan.schema)?,
        table_versions: versions(&planned.plan),
        flight_ticket: planned.ticket,
    }))
}

#[tonic::async_trait]
impl OfflineQueryService for OfflineGrpc {
    async fn get_historical_features(
        &self,
        request: Request<GetHistoricalFeaturesRequest>,
    ) -> Result<Response<QueryHandle>, Status> {
        handle(self.server.plan_historical(request.get_ref()).await?)
    }

    async fn read_feature_group(
        &self,
        request: Request<ReadFeatureGroupRequest>,
    ) -> Result<Response<QueryHandle>, Status> {
        handle(self.server.plan_group_read(request.get_ref()).await?)
    }
}
