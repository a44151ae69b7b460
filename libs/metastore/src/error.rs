use featurestore_proto::{ErrorCode, ServiceError};

use crate::Revision;

#[derive(Debug, Clone, thiserror::Error)]
pub enum MetastoreError {
    /// A transaction's condition did not hold: another writer changed the
    /// data since it was read.
    #[error("conflict: the data changed concurrently; re-read and retry")]
    Conflict,
    /// A watch asked for history that was compacted away.
    #[error("revision compacted: history before revision {compact_revision} is gone")]
    Compacted { compact_revision: Revision },
    /// The store cannot be reached or did not answer in time.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// Malformed data or a request the store refused.
    #[error("metadata store error: {0}")]
    Internal(String),
}

impl ServiceError for MetastoreError {
    fn error_code(&self) -> ErrorCode {
        match self {
            MetastoreError::Conflict => ErrorCode::Aborted,
            MetastoreError::Compacted { .. } => ErrorCode::OutOfRange,
            MetastoreError::Unavailable(_) => ErrorCode::Unavailable,
            MetastoreError::Internal(_) => ErrorCode::Internal,
        }
    }
}
