//! Who is reading a ticket, and whether they still may: a ticket names
//! its project inside, so `DoGet`, `GetFlightInfo` and `GetSchema` check
//! the caller's role once the ticket is open.

use featurestore_runtime::{Principal, authz::Access};

use crate::error::OfflineError;

/// The caller of a Flight request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// [`Principal::id`]; empty when anonymous (tickets are bound to it).
    pub id: String,
    access: Option<Access>,
}

impl Caller {
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        Self {
            id: Principal::id_of(request),
            access: featurestore_runtime::authz::access_of(request),
        }
    }

    /// A caller no layer checked (in-process use and tests).
    pub fn unchecked(id: &str) -> Self {
        Self {
            id: id.to_string(),
            access: None,
        }
    }

    /// Whether the caller may read from `project` now.
    pub fn check(&self, project: &str) -> Result<(), OfflineError> {
        let Some(access) = &self.access else {
            return Ok(());
        };
        access.check(project).map_err(|status| {
            let message = status.message().to_string();
            if status.code() == tonic::Code::Unauthenticated {
                OfflineError::Unauthenticated(message)
            } else {
                OfflineError::PermissionDenied(message)
            }
        })
    }
}
