use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum OnlineStoreError {
    #[error("online table {0} does not exist")]
    UnknownTable(String),
    /// The store cannot be reached or did not answer in time.
    #[error("online store unavailable: {0}")]
    Unavailable(String),
    /// A value does not fit its column.
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("online store error: {0}")]
    Internal(String),
    /// Writes not sent by their deadline (`OnlineStore::put_tiles_by`):
    /// those not sent are not written.
    #[error("online store write past its deadline: {0}")]
    Late(String),
}

impl ServiceError for OnlineStoreError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OnlineStoreError::UnknownTable(_) => ErrorCode::NotFound,
            OnlineStoreError::Unavailable(_) => ErrorCode::Unavailable,
            OnlineStoreError::Invalid(_) => ErrorCode::InvalidArgument,
            OnlineStoreError::Internal(_) => ErrorCode::Internal,
            OnlineStoreError::Late(_) => ErrorCode::Unavailable,
        }
    }
}
