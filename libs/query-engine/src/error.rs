//! What can go wrong in a query, by whose fault.

use datafusion::error::DataFusionError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// The request is wrong (a missing or mistyped column, a bad path).
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// The message says what was not found and why.
    #[error("{0}")]
    NotFound(String),
    /// The memory limit was too small even with spilling to disk.
    #[error("{0}")]
    ResourcesExhausted(String),
    /// Storage could not be read.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::External(inner) if inner.downcast_ref::<QueryError>().is_some() => {
                inner
                    .downcast_ref::<QueryError>()
                    .cloned()
                    .unwrap_or_else(|| Self::Internal(e.to_string()))
            }
            DataFusionError::ResourcesExhausted(m) => Self::ResourcesExhausted(m.clone()),
            DataFusionError::IoError(io) => Self::Unavailable(io.to_string()),
            DataFusionError::ObjectStore(os) => Self::Unavailable(os.to_string()),
            _ => Self::Internal(e.to_string()),
        }
    }
}

/// A query error raised inside a stream, kept whole for the caller.
impl From<QueryError> for DataFusionError {
    fn from(e: QueryError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

impl From<arrow_schema::ArrowError> for QueryError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<deltalake::DeltaTableError> for QueryError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        match e {
            deltalake::DeltaTableError::NotATable(m) => Self::NotFound(m),
            deltalake::DeltaTableError::InvalidVersion(v) => {
                Self::NotFound(format!("table version {v} does not exist"))
            }
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl featurestore_proto::ServiceError for QueryError {
    fn error_code(&self) -> featurestore_proto::ErrorCode {
        use featurestore_proto::ErrorCode;
        match self {
            QueryError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            QueryError::NotFound(_) => ErrorCode::NotFound,
            QueryError::ResourcesExhausted(_) => ErrorCode::ResourceExhausted,
            QueryError::Unavailable(_) => ErrorCode::Unavailable,
            QueryError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field_violations(&self) -> Vec<featurestore_proto::error::FieldViolation> {
        match self {
            QueryError::InvalidArgument { field, reason } => {
                vec![featurestore_proto::error::FieldViolation {
                    field: field.clone(),
                    description: reason.clone(),
                }]
            }
            _ => Vec::new(),
        }
    }
}
