//! Ingestion errors; [`ServiceError`] maps them to gRPC codes.

use featurestore_domain::DomainError;
use featurestore_eventlog::EventLogError;
use featurestore_proto::{ErrorCode, ServiceError, error::FieldViolation, v1::BadRows};

#[derive(Debug, thiserror::Error)]
pub enum IngestionError {
    #[error("{0} not found")]
    UnknownGroup(String),
    /// Rows failed validation; nothing of the request was written.
    #[error("{summary}")]
    BadRows { summary: String, details: BadRows },
    /// Another attempt with the same idempotency key is running.
    #[error("{0}")]
    InProgress(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
}

impl IngestionError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        IngestionError::Domain(DomainError::invalid(field, reason))
    }
}

impl ServiceError for IngestionError {
    fn error_code(&self) -> ErrorCode {
        match self {
            IngestionError::UnknownGroup(_) => ErrorCode::NotFound,
            IngestionError::BadRows { .. } => ErrorCode::InvalidArgument,
            IngestionError::InProgress(_) => ErrorCode::Aborted,
            IngestionError::Unavailable(_) => ErrorCode::Unavailable,
            IngestionError::Internal(_) => ErrorCode::Internal,
            IngestionError::Domain(e) => e.error_code(),
            IngestionError::EventLog(e) => e.error_code(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            IngestionError::Domain(e) => e.field_violations(),
            IngestionError::BadRows { details, .. } => {
                featurestore_proto::error::row_violations(details)
            }
            _ => Vec::new(),
        }
    }

    fn details(&self) -> Option<BadRows> {
        match self {
            IngestionError::BadRows { details, .. } => Some(details.clone()),
            _ => None,
        }
    }
}

impl From<IngestionError> for tonic::Status {
    fn from(e: IngestionError) -> Self {
        if matches!(e.error_code(), ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(code = ?e.error_code(), error = %e, "ingest failed");
        }
        e.to_status()
    }
}
