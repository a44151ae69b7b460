//! Registry errors; [`ServiceError`] maps them to gRPC codes.

use featurestore_domain::DomainError;
use featurestore_metastore::MetastoreError;
use featurestore_proto::{ErrorCode, ServiceError, error::FieldViolation};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] MetastoreError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// An explicit `expected_revision` no longer matches.
    #[error("{0}")]
    Aborted(String),
}

impl RegistryError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Domain(DomainError::invalid(field, reason))
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
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            RegistryError::Domain(e) => e.field_violations(),
            _ => Vec::new(),
        }
    }
}

impl From<RegistryError> for tonic::Status {
    fn from(e: RegistryError) -> Self {
        e.to_status()
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
