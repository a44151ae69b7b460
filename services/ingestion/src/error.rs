//! Ingestion errors; [`ServiceError`] maps them to gRPC codes.

use featurestore_domain::DomainError;
use featurestore_eventlog::EventLogError;
use featurestore_proto::{ErrorCode, ServiceError, v1::BadRows};

#[derive(Debug, thiserror::Error)]
pub enum IngestionError {
    #[error("not found: {0}")]
    UnknownGroup(String),
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Rows failed validation; nothing of the request was written.
    #[error("invalid argument: {summary}")]
    BadRows { summary: String, details: BadRows },
    /// Another attempt with the same idempotency key is running.
    #[error("aborted: {0}")]
    InProgress(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
}

impl IngestionError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        IngestionError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ServiceError for IngestionError {
    fn error_code(&self) -> ErrorCode {
        match self {
            IngestionError::UnknownGroup(_) => ErrorCode::NotFound,
            IngestionError::Invalid { .. } | IngestionError::BadRows { .. } => {
                ErrorCode::InvalidArgument
            }
            IngestionError::InProgress(_) => ErrorCode::Aborted,
            IngestionError::Unavailable(_) => ErrorCode::Unavailable,
            IngestionError::Internal(_) => ErrorCode::Internal,
            IngestionError::Domain(e) => e.error_code(),
            IngestionError::EventLog(e) => e.error_code(),
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
            tracing::warn!(error = %e, "ingest failed");
        }
        e.to_status()
    }
}
