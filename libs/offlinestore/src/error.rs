use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum OfflineStoreError {
    #[error("offline table {0} does not exist")]
    UnknownTable(String),
    #[error("invalid value: {0}")]
    Invalid(String),
    /// Storage could not be reached or a concurrent writer won.
    #[error("offline store unavailable: {0}")]
    Unavailable(String),
    #[error("offline store error: {0}")]
    Internal(String),
}

impl From<deltalake::DeltaTableError> for OfflineStoreError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        use deltalake::DeltaTableError as E;
        match e {
            E::ObjectStore { .. }
            | E::Io { .. }
            | E::VersionAlreadyExists(_)
            | E::Transaction { .. } => OfflineStoreError::Unavailable(e.to_string()),
            E::NotATable(m) => OfflineStoreError::UnknownTable(m),
            other => OfflineStoreError::Internal(other.to_string()),
        }
    }
}

impl ServiceError for OfflineStoreError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OfflineStoreError::UnknownTable(_) => ErrorCode::NotFound,
            OfflineStoreError::Invalid(_) => ErrorCode::InvalidArgument,
            OfflineStoreError::Unavailable(_) => ErrorCode::Unavailable,
            OfflineStoreError::Internal(_) => ErrorCode::Internal,
        }
    }
}
