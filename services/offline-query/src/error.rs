use featurestore_catalog::ConsistencyError;
use featurestore_domain::DomainError;
use featurestore_metastore::MetastoreError;
use featurestore_proto::{ErrorCode, ServiceError, error::FieldViolation};
use featurestore_query_engine::QueryError;

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("metadata store: {0}")]
    Metadata(#[from] MetastoreError),
    #[error(transparent)]
    Consistency(#[from] ConsistencyError),
}

impl OfflineError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OfflineError::Domain(DomainError::invalid(field, reason))
    }
}

impl ServiceError for OfflineError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OfflineError::Domain(e) => e.error_code(),
            OfflineError::NotFound(_) => ErrorCode::NotFound,
            OfflineError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            OfflineError::Aborted(_) => ErrorCode::Aborted,
            OfflineError::Unavailable(_) => ErrorCode::Unavailable,
            OfflineError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            OfflineError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            OfflineError::Internal(_) => ErrorCode::Internal,
            OfflineError::Query(e) => e.error_code(),
            OfflineError::Metadata(e) => e.error_code(),
            OfflineError::Consistency(e) => e.error_code(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            OfflineError::Domain(e) => e.field_violations(),
            OfflineError::Query(e) => e.field_violations(),
            OfflineError::Consistency(e) => e.field_violations(),
            _ => Vec::new(),
        }
    }
}

impl From<OfflineError> for tonic::Status {
    fn from(e: OfflineError) -> Self {
        if matches!(e.error_code(), ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(code = ?e.error_code(), error = %e, "offline query failed");
        }
        e.to_status()
    }
}
