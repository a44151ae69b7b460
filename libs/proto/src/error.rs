//! Error codes shared by every crate, mapped to gRPC codes in exactly one
//! place ([`ErrorCode::grpc_code`]).

use prost::Message;

/// What kind of failure an error is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request was wrong; retrying it unchanged will fail again.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// The system is not in a state that allows the request (for example a
    /// delete of a group still used by a view, or a breaking change in place).
    FailedPrecondition,
    /// A concurrent change won (optimistic concurrency): re-read and retry.
    Aborted,
    /// A transient fault (a backend is down): retry later.
    Unavailable,
    DeadlineExceeded,
    ResourceExhausted,
    OutOfRange,
    /// A bug or an unexpected state.
    Internal,
}

impl ErrorCode {
    /// The gRPC code a client sees for this error.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::Aborted => tonic::Code::Aborted,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            ErrorCode::ResourceExhausted => tonic::Code::ResourceExhausted,
            ErrorCode::OutOfRange => tonic::Code::OutOfRange,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }

    /// The inverse mapping, for clients turning a status back into a code.
    pub fn from_grpc_code(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument => ErrorCode::InvalidArgument,
            tonic::Code::NotFound => ErrorCode::NotFound,
            tonic::Code::AlreadyExists => ErrorCode::AlreadyExists,
            tonic::Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            tonic::Code::Aborted => ErrorCode::Aborted,
            tonic::Code::Unavailable => ErrorCode::Unavailable,
            tonic::Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            tonic::Code::ResourceExhausted => ErrorCode::ResourceExhausted,
            tonic::Code::OutOfRange => ErrorCode::OutOfRange,
            _ => ErrorCode::Internal,
        }
    }
}

/// Implemented by every crate's error type so that services can turn any
/// error into a [`tonic::Status`] the same way.
pub trait ServiceError: std::error::Error {
    fn error_code(&self) -> ErrorCode;

    /// Structured details (for example [`crate::v1::BadRows`]) to attach.
    fn details(&self) -> Option<crate::v1::BadRows> {
        None
    }

    /// The status a gRPC client receives.
    fn to_status(&self) -> tonic::Status {
        let code = self.error_code().grpc_code();
        let message = self.to_string();
        match self.details() {
            Some(details) => {
                tonic::Status::with_details(code, message, details.encode_to_vec().into())
            }
            None => tonic::Status::new(code, message),
        }
    }
}

/// Decodes the [`crate::v1::BadRows`] attached to a status, if any.
pub fn bad_rows(status: &tonic::Status) -> Option<crate::v1::BadRows> {
    if status.details().is_empty() {
        return None;
    }
    crate::v1::BadRows::decode(status.details()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_grpc() {
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::FailedPrecondition,
            ErrorCode::Aborted,
            ErrorCode::Unavailable,
            ErrorCode::DeadlineExceeded,
            ErrorCode::ResourceExhausted,
            ErrorCode::OutOfRange,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from_grpc_code(code.grpc_code()), code);
        }
    }
}
