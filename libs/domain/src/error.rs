//! The error vocabulary every service shares: what was wrong with a request
//! (naming the field), what was not found, what the state forbids. Messages
//! say a thing once: the gRPC code names the kind of failure, so no message
//! repeats it ("project: must not be empty", not "invalid argument:
//! project: ..."); a service wraps a `DomainError` as is, never re-formats it.

use featurestore_proto::{ErrorCode, ServiceError, error::FieldViolation};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed; `field` is a path such as
    /// `feature_group.features[2].name`.
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{field}: {reason}")]
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

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            DomainError::InvalidArgument { field, reason } => vec![FieldViolation {
                field: field.clone(),
                description: reason.clone(),
            }],
            _ => Vec::new(),
        }
    }
}
