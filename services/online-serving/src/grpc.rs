//! The `OnlineServingService` gRPC surface.

use std::sync::Arc;

use featurestore_proto::v1::{
    GetFeatureVectorRequest, GetFeatureVectorResponse, GetFeatureVectorsRequest,
    GetFeatureVectorsResponse, Row, online_serving_service_server::OnlineServingService,
};
use featurestore_runtime::authz;
use tonic::{Request, Response, Status};

use crate::{
    error::ServingError,
    serve::{ReadOptions, Server},
};

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
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        let key = r
            .entity_key
            .ok_or_else(|| ServingError::invalid("entity_key", "is required"))?;
        let rows = [Row { values: key.values }];
        let mut answer = self
            .server
            .vectors(
                &r.project,
                r.selector.as_ref(),
                &key.join_keys,
                &rows,
                ReadOptions {
                    include_event_times: r.include_event_times,
                    include_freshness: r.include_freshness,
                    consistency: r.consistency.as_ref(),
                },
            )
            .await?;
        Ok(Response::new(GetFeatureVectorResponse {
            vector: answer.vectors.pop(),
            feature_names: answer.feature_names,
            freshness: answer.freshness,
        }))
    }

    async fn get_feature_vectors(
        &self,
        request: Request<GetFeatureVectorsRequest>,
    ) -> Result<Response<GetFeatureVectorsResponse>, Status> {
        authz::check(&request, &request.get_ref().project)?;
        let r = request.into_inner();
        let answer = self
            .server
            .vectors(
                &r.project,
                r.selector.as_ref(),
                &r.join_keys,
                &r.entity_rows,
                ReadOptions {
                    include_event_times: r.include_event_times,
                    include_freshness: r.include_freshness,
                    consistency: r.consistency.as_ref(),
                },
            )
            .await?;
        Ok(Response::new(GetFeatureVectorsResponse {
            feature_names: answer.feature_names,
            vectors: answer.vectors,
            freshness: answer.freshness,
        }))
    }
}
