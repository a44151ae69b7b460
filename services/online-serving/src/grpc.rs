//! The `OnlineServingService` gRPC surface.

use std::sync::Arc;

use featurestore_proto::v1::{
    GetFeatureVectorRequest, GetFeatureVectorResponse, GetFeatureVectorsRequest,
    GetFeatureVectorsResponse, Row, online_serving_service_server::OnlineServingService,
};
use tonic::{Request, Response, Status};

use crate::{error::ServingError, serve::Server};

#[derive(Debug, Clone)]
pub struct ServingGrpc {
    server: Arc<Server>,
}

impl ServingGrpc {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl OnlineServingService for ServingGrpc {
    async fn get_feature_vector(
        &self,
        request: Request<GetFeatureVectorRequest>,
    ) -> Result<Response<GetFeatureVectorResponse>, Status> {
        let r = request.into_inner();
        let key = r
            .entity_key
            .ok_or_else(|| ServingError::invalid("entity_key", "is required"))?;
        let rows = [Row { values: key.values }];
        let (feature_names, mut vectors) = self
            .server
            .vectors(
                &r.project,
                r.selector.as_ref(),
                &key.join_keys,
                &rows,
                r.include_event_times,
            )
            .await?;
        Ok(Response::new(GetFeatureVectorResponse {
            feature_names,
            vector: vectors.pop(),
        }))
    }

    async fn get_feature_vectors(
        &self,
        request: Request<GetFeatureVectorsRequest>,
    ) -> Result<Response<GetFeatureVectorsResponse>, Status> {
        let r = request.into_inner();
        let (feature_names, vectors) = self
            .server
            .vectors(
                &r.project,
                r.selector.as_ref(),
                &r.join_keys,
                &r.entity_rows,
                r.include_event_times,
            )
            .await?;
        Ok(Response::new(GetFeatureVectorsResponse {
            feature_names,
            vectors,
        }))
    }
}
