//! Registry errors; [`ServiceError`] maps them to gRPC codes.

use featurestore_domain::DomainError;
use featurestore_metastore::MetastoreError;
use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] MetastoreError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// An explicit `expected_revision` no longer matches.
    #[error("aborted: {0}")]
    Aborted(String),
    #[error("invalid argument: {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl RegistryError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, RegistryError::Store(MetastoreError::Conflict))
    }
}

impl ServiceError for RegistryError {
    fn error_code(&self) -> ErrorCode {
        match self {
            RegistryError::Domain(e) => e.error_code(),
            RegistryError::Store(e) => e.error_code(),
            RegistryError::NotFound(_) => ErrorCode::NotFound,
            RegistryError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            RegistryError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            RegistryError::Aborted(_) => ErrorCode::Aborted,
            RegistryError::Invalid { .. } => ErrorCode::InvalidArgument,
        }
    }
}

impl From<RegistryError> for tonic::Status {
    fn from(e: RegistryError) -> Self {
        e.to_status()
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
