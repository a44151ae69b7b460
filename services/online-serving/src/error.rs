use featurestore_catalog::ConsistencyError;
use featurestore_domain::DomainError;
use featurestore_onlinestore::OnlineStoreError;
use featurestore_proto::{ErrorCode, ServiceError, error::FieldViolation};

#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] OnlineStoreError),
    #[error(transparent)]
    Consistency(#[from] ConsistencyError),
}

impl ServingError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServingError::Domain(DomainError::invalid(field, reason))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ServingError::Domain(DomainError::not_found(what))
    }
}

impl ServiceError for ServingError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ServingError::Domain(e) => e.error_code(),
            // A table that does not exist yet has no rows: callers see UNAVAILABLE
            // only for real outages.
            ServingError::Store(OnlineStoreError::UnknownTable(_)) => ErrorCode::NotFound,
            ServingError::Store(e) => e.error_code(),
            ServingError::Consistency(e) => e.error_code(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            ServingError::Domain(e) => e.field_violations(),
            ServingError::Store(_) => Vec::new(),
            ServingError::Consistency(e) => e.field_violations(),
        }
    }
}

impl From<ServingError> for tonic::Status {
    fn from(e: ServingError) -> Self {
        if matches!(e.error_code(), ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(code = ?e.error_code(), error = %e, "serving failed");
        }
        e.to_status()
    }
}
