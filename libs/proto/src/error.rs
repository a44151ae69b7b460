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
    /// The caller may not do this (for example read a location outside
    /// what the service is configured to read).
    PermissionDenied,
    /// The caller's credentials (or a ticket standing for them) are
    /// missing, forged or expired.
    Unauthenticated,
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
            ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
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
            tonic::Code::PermissionDenied => ErrorCode::PermissionDenied,
            tonic::Code::Unauthenticated => ErrorCode::Unauthenticated,
            _ => ErrorCode::Internal,
        }
    }
}

/// Type URL of the [`crate::v1::BadRows`] detail.
const BAD_ROWS_TYPE_URL: &str = "type.googleapis.com/featurestore.v1.BadRows";
/// Type URL of the standard `google.rpc.BadRequest` detail.
const BAD_REQUEST_TYPE_URL: &str = "type.googleapis.com/google.rpc.BadRequest";

/// One wrong field of a request: its path (`entity_rows[3].customer_id`,
/// `rows[7].amount`) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Implemented by every crate's error type so that services can turn any
/// error into a [`tonic::Status`] the same way.
///
/// A status with field violations carries them the standard way: its
/// details are a `google.rpc.Status` whose `details` hold a
/// `google.rpc.BadRequest` (what grpcurl, Python's `grpcio-status` and
/// tonic-types decode without our protos) and, for rejected rows, our
/// [`crate::v1::BadRows`] with the row indices as numbers.
pub trait ServiceError: std::error::Error {
    fn error_code(&self) -> ErrorCode;

    /// The fields that were wrong (INVALID_ARGUMENT errors); by default
    /// those of the rejected rows.
    fn field_violations(&self) -> Vec<FieldViolation> {
        self.details()
            .map(|rows| row_violations(&rows))
            .unwrap_or_default()
    }

    /// Rejected rows (ingestion), attached beside the standard detail.
    fn details(&self) -> Option<crate::v1::BadRows> {
        None
    }

    /// The status a gRPC client receives.
    fn to_status(&self) -> tonic::Status {
        let code = self.error_code().grpc_code();
        let message = self.to_string();
        let violations = self.field_violations();
        let rows = self.details();
        if violations.is_empty() && rows.is_none() {
            return tonic::Status::new(code, message);
        }
        let mut details = Vec::with_capacity(2);
        if !violations.is_empty() {
            let bad_request = tonic_types::pb::BadRequest {
                field_violations: violations
                    .into_iter()
                    .map(|v| tonic_types::pb::bad_request::FieldViolation {
                        field: v.field,
                        description: v.description,
                        ..Default::default()
                    })
                    .collect(),
            };
            details.push(prost_types::Any {
                type_url: BAD_REQUEST_TYPE_URL.into(),
                value: bad_request.encode_to_vec(),
            });
        }
        if let Some(rows) = rows {
            details.push(prost_types::Any {
                type_url: BAD_ROWS_TYPE_URL.into(),
                value: rows.encode_to_vec(),
            });
        }
        let status = tonic_types::pb::Status {
            code: code as i32,
            message: message.clone(),
            details,
        };
        tonic::Status::with_details(code, message, status.encode_to_vec().into())
    }
}

/// Rejected rows as field violations: `rows[<index>].<column>`.
pub fn row_violations(rows: &crate::v1::BadRows) -> Vec<FieldViolation> {
    rows.violations
        .iter()
        .map(|v| FieldViolation {
            field: if v.field.is_empty() {
                format!("rows[{}]", v.row)
            } else {
                format!("rows[{}].{}", v.row, v.field)
            },
            description: v.reason.clone(),
        })
        .collect()
}

/// Decodes the [`crate::v1::BadRows`] attached to a status, if any.
pub fn bad_rows(status: &tonic::Status) -> Option<crate::v1::BadRows> {
    detail(status, BAD_ROWS_TYPE_URL)
}

/// Decodes the standard `google.rpc.BadRequest` violations of a status:
/// (field path, description) pairs.
pub fn field_violations(status: &tonic::Status) -> Vec<FieldViolation> {
    detail::<tonic_types::pb::BadRequest>(status, BAD_REQUEST_TYPE_URL)
        .map(|request| {
            request
                .field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn detail<M: Message + Default>(status: &tonic::Status, type_url: &str) -> Option<M> {
    if status.details().is_empty() {
        return None;
    }
    let rpc_status = tonic_types::pb::Status::decode(status.details()).ok()?;
    rpc_status
        .details
        .iter()
        .find(|any| any.type_url == type_url)
        .and_then(|any| M::decode(any.value.as_slice()).ok())
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
            ErrorCode::PermissionDenied,
            ErrorCode::Unauthenticated,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from_grpc_code(code.grpc_code()), code);
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("2 rows rejected")]
    struct Rejected;

    impl ServiceError for Rejected {
        fn error_code(&self) -> ErrorCode {
            ErrorCode::InvalidArgument
        }

        fn details(&self) -> Option<crate::v1::BadRows> {
            Some(crate::v1::BadRows {
                violations: vec![
                    crate::v1::FieldViolation {
                        row: 3,
                        field: "amount".into(),
                        reason: "expected float64, got string".into(),
                    },
                    crate::v1::FieldViolation {
                        row: 9,
                        field: String::new(),
                        reason: "12 values for 11 columns".into(),
                    },
                ],
                truncated: false,
            })
        }
    }

    /// Any gRPC client decodes the violations with the standard types
    /// alone (tonic-types here; grpcio-status and grpcurl alike), and ours
    /// still carry the row numbers.
    #[test]
    fn rejected_rows_travel_as_the_standard_bad_request() {
        use tonic_types::StatusExt;
        let status = Rejected.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "2 rows rejected");
        let standard = status
            .get_details_bad_request()
            .expect("google.rpc.BadRequest");
        let fields: Vec<(&str, &str)> = standard
            .field_violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("rows[3].amount", "expected float64, got string"),
                ("rows[9]", "12 values for 11 columns"),
            ]
        );
        assert_eq!(field_violations(&status).len(), 2);
        let rows = bad_rows(&status).expect("BadRows");
        assert_eq!(rows.violations[0].row, 3);
        assert_eq!(rows.violations[1].row, 9);
    }

    #[test]
    fn a_status_without_violations_has_no_details() {
        #[derive(Debug, thiserror::Error)]
        #[error("down")]
        struct Down;
        impl ServiceError for Down {
            fn error_code(&self) -> ErrorCode {
                ErrorCode::Unavailable
            }
        }
        let status = Down.to_status();
        assert!(status.details().is_empty());
        assert!(bad_rows(&status).is_none());
    }
}
