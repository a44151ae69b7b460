use featurestore_catalog::SelectionError;
use featurestore_offlinequery::QueryError;
use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl OfflineError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OfflineError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<SelectionError> for OfflineError {
    fn from(e: SelectionError) -> Self {
        match e {
            SelectionError::NotFound(what) => OfflineError::NotFound(what),
            SelectionError::Invalid { field, reason } => OfflineError::Invalid { field, reason },
        }
    }
}

impl ServiceError for OfflineError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OfflineError::Invalid { .. } => ErrorCode::InvalidArgument,
            OfflineError::NotFound(_) => ErrorCode::NotFound,
            OfflineError::Query(e) => e.error_code(),
        }
    }
}

impl From<OfflineError> for tonic::Status {
    fn from(e: OfflineError) -> Self {
        if matches!(e.error_code(), ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(error = %e, "offline query failed");
        }
        e.to_status()
    }
}
