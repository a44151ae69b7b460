//! Errors of domain validation; each names the field that was wrong.

use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed; `field` is a path such as
    /// `feature_group.features[2].name`.
    #[error("invalid argument: {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("failed precondition: {field}: {reason}")]
    FailedPrecondition { field: String, reason: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound { what: what.into() }
    }

    pub fn precondition(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::FailedPrecondition {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ServiceError for DomainError {
    fn error_code(&self) -> ErrorCode {
        match self {
            DomainError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            DomainError::NotFound { .. } => ErrorCode::NotFound,
            DomainError::FailedPrecondition { .. } => ErrorCode::FailedPrecondition,
        }
    }
}
