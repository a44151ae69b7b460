use featurestore_catalog::SelectionError;
use featurestore_metastore::MetastoreError;
use featurestore_offlinequery::QueryError;
use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("aborted: {0}")]
    Aborted(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("metadata store: {0}")]
    Metadata(#[from] MetastoreError),
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
            OfflineError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            OfflineError::Aborted(_) => ErrorCode::Aborted,
            OfflineError::Unavailable(_) => ErrorCode::Unavailable,
            OfflineError::Internal(_) => ErrorCode::Internal,
            OfflineError::Query(e) => e.error_code(),
            OfflineError::Metadata(e) => e.error_code(),
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
