//! The `IngestionService` gRPC surface.

use std::sync::Arc;

use featurestore_proto::v1::{
    IngestArrowRequest, IngestRequest, IngestResponse, ingestion_service_server::IngestionService,
};
use featurestore_runtime::authz;
use tonic::{Request, Response, Status, Streaming};

use prost::Message as _;

use crate::{
    error::IngestionError,
    ingest::{Ingestor, RequestKey},
    validate::Violations,
};

#[derive(Debug, Clone)]
pub struct IngestionGrpc {
    ingestor: Arc<Ingestor>,
}

impl IngestionGrpc {
    pub fn new(ingestor: Arc<Ingestor>) -> Self {
        Self { ingestor }
    }

    async fn ingest_stream(
        &self,
        first: Option<IngestRequest>,
        mut stream: Streaming<IngestRequest>,
    ) -> Result<IngestResponse, IngestionError> {
        let headers = featurestore_runtime::telemetry::trace_headers();
        let limits = self.ingestor.limits().clone();
        let mut violations = Violations::new(limits.max_violations_reported);
        let mut records = Vec::new();
        let mut schema = None;
        let mut group = None;
        let mut columns = Vec::new();
        let mut rows = 0u64;
        // The first message's idempotency key covers the stream; the
        // fingerprint covers every message.
        let mut key = String::new();
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut next = first;
        while let Some(mut message) = next {
            // The first message names the group and columns; later ones may
            // repeat them or leave them out.
            let message_key = std::mem::take(&mut message.idempotency_key);
            if group.is_none() {
                key = message_key;
            } else if !message_key.is_empty() && message_key != key {
                return Err(IngestionError::invalid(
                    "idempotency_key",
                    "later messages of a stream may only repeat the first message's key",
                ));
            }
            if !key.is_empty() {
                parts.push(message.encode_to_vec());
            }
            match (&group, &message.group) {
                (None, Some(g)) => group = Some(g.clone()),
                (None, None) => {
                    return Err(IngestionError::invalid(
                        "group",
                        "the first message must name the group",
                    ));
                }
                (Some(first), Some(g)) if first != g => {
                    return Err(IngestionError::invalid(
                        "group",
                        "every message of a stream must name the same group",
                    ));
                }
                _ => {}
            }
            if message.columns.is_empty() {
                message.columns = columns.clone();
            } else if columns.is_empty() {
                columns = message.columns.clone();
            } else if message.columns != columns {
                return Err(IngestionError::invalid(
                    "columns",
                    "every message of a stream must use the same columns",
                ));
            }
            if schema.is_none() {
                schema = Some(self.ingestor.schema(group.as_ref()).await?);
            }
            let count = message.rows.len() as u64;
            if (rows + count) as usize > limits.max_rows_per_stream {
                return Err(IngestionError::invalid(
                    "rows",
                    format!(
                        "the stream exceeds the limit of {} rows; split it",
                        limits.max_rows_per_stream
                    ),
                ));
            }
            if let Some(schema) = &schema {
                self.ingestor.validate(
                    schema,
                    message,
                    rows,
                    &headers,
                    &mut violations,
                    &mut records,
                )?;
            }
            rows += count;
            next = stream
                .message()
                .await
                .map_err(|s| IngestionError::invalid("stream", s.message().to_string()))?;
        }
        let Some(schema) = schema else {
            return Ok(IngestResponse::default());
        };
        if !violations.is_empty() {
            crate::metrics::rejected(&schema, rows);
            return Err(violations.into_error(rows));
        }
        let key = RequestKey::new("idempotency_key", key, || parts)?;
        self.ingestor.append(&schema, records, key).await
    }
}

#[tonic::async_trait]
impl IngestionService for IngestionGrpc {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        authz::check(
            &request,
            authz::group_project(request.get_ref().group.as_ref()),
        )?;
        let headers = featurestore_runtime::telemetry::trace_headers();
        Ok(Response::new(
            self.ingestor.ingest(request.into_inner(), &headers).await?,
        ))
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<IngestResponse>, Status> {
        // The first message names the group (and so the project) of the
        // whole stream.
        let access = authz::access_of(&request);
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await
            .map_err(|s| IngestionError::invalid("stream", s.message().to_string()))?;
        if let Some(access) = access {
            access.check(authz::group_project(
                first.as_ref().and_then(|m| m.group.as_ref()),
            ))?;
        }
        Ok(Response::new(self.ingest_stream(first, stream).await?))
    }

    async fn ingest_arrow(
        &self,
        request: Request<IngestArrowRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        authz::check(
            &request,
            authz::group_project(request.get_ref().group.as_ref()),
        )?;
        let headers = featurestore_runtime::telemetry::trace_headers();
        Ok(Response::new(
            self.ingestor
                .ingest_arrow(request.into_inner(), &headers)
                .await?,
        ))
    }
}
