use featurestore_onlinestore::OnlineStoreError;
use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Store(#[from] OnlineStoreError),
}

impl ServingError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServingError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ServiceError for ServingError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ServingError::NotFound(_) => ErrorCode::NotFound,
            ServingError::Invalid { .. } => ErrorCode::InvalidArgument,
            // A table that does not exist yet has no rows: callers see UNAVAILABLE
            // only for real outages.
            ServingError::Store(OnlineStoreError::UnknownTable(_)) => ErrorCode::NotFound,
            ServingError::Store(e) => e.error_code(),
        }
    }
}

impl From<ServingError> for tonic::Status {
    fn from(e: ServingError) -> Self {
        if matches!(e.error_code(), ErrorCode::Internal | ErrorCode::Unavailable) {
            tracing::warn!(error = %e, "serving failed");
        }
        e.to_status()
    }
}
