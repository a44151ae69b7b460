use featurestore_proto::{ErrorCode, ServiceError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum EventLogError {
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// The log cannot be reached or did not acknowledge in time.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The log became unreachable while committing: the append may or may
    /// not be in the log (a retry must not assume either).
    #[error("event log unavailable while committing, the append may or may not be written: {0}")]
    OutcomeUnknown(String),
    #[error("event log refused the request: {0}")]
    Invalid(String),
    #[error("event log error: {0}")]
    Internal(String),
}

impl ServiceError for EventLogError {
    fn error_code(&self) -> ErrorCode {
        match self {
            EventLogError::UnknownTopic(_) => ErrorCode::NotFound,
            EventLogError::Unavailable(_) | EventLogError::OutcomeUnknown(_) => {
                ErrorCode::Unavailable
            }
            EventLogError::Invalid(_) => ErrorCode::InvalidArgument,
            EventLogError::Internal(_) => ErrorCode::Internal,
        }
    }
}
