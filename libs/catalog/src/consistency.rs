//! A request's `Consistency`, resolved and waited for — the one home of the
//! rules both serving and the offline query apply:
//! - `EVENTUAL` (default): no wait; write tokens with it are refused;
//! - `AFTER_WRITE`: the tokens must open (checksum), name only group
//!   versions the request reads, and the wait lasts at most
//!   `max_wait_millis` (default and cap from [`ConsistencySettings`]);
//! - when the wait runs out: `DEADLINE_EXCEEDED` naming each group behind
//!   with its offsets and lag, or, with `serve_stale`, the groups behind
//!   for the caller to mark.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use featurestore_domain::{DomainError, FeatureGroupId, token};
use featurestore_proto::{
    ErrorCode, ServiceError,
    error::FieldViolation,
    v1::{Consistency, consistency::Level},
};
use serde::{Deserialize, Serialize};

use crate::progress::{Behind, Progress, ProgressCache, Sink};

/// How long reads may wait for a consistency level (the `[consistency]`
/// section of serving's and the offline query's configuration).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsistencySettings {
    /// The wait when a request gives none (`max_wait_millis` = 0).
    #[serde(with = "humantime_serde")]
    pub default_max_wait: Duration,
    /// The longest wait a request may ask for; keep it below
    /// `server.request_timeout`.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for ConsistencySettings {
    fn default() -> Self {
        Self {
            default_max_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(25),
        }
    }
}

impl ConsistencySettings {
    /// Waits must end before the server's own request timeout.
    pub fn validate(&self, request_timeout: Duration) -> Result<(), String> {
        if self.default_max_wait > self.max_wait {
            return Err("consistency.default_max_wait must not exceed consistency.max_wait".into());
        }
        if self.max_wait >= request_timeout {
            return Err("consistency.max_wait must be below server.request_timeout".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsistencyError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The wait ran out; the message names every group behind.
    #[error("consistency not reached within {waited:?}: {}", behind_list(.behind))]
    Deadline {
        waited: Duration,
        behind: Vec<Behind>,
    },
}

fn behind_list(behind: &[Behind]) -> String {
    behind
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError for ConsistencyError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ConsistencyError::Invalid(e) => e.error_code(),
            ConsistencyError::Deadline { .. } => ErrorCode::DeadlineExceeded,
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            ConsistencyError::Invalid(e) => e.field_violations(),
            ConsistencyError::Deadline { .. } => Vec::new(),
        }
    }
}

/// What a request may read once its consistency is settled.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The progress the answer reads at.
    pub progress: Arc<Progress>,
    /// Groups behind when the caller chose `serve_stale` (empty otherwise).
    pub stale: Vec<Behind>,
}

impl Settled {
    pub fn is_stale(&self, id: &FeatureGroupId) -> bool {
        self.stale.iter().any(|b| &b.group == id)
    }
}

impl ProgressCache {
    /// Settles `consistency` (field `field` of the request) for a read of
    /// `groups` in `sink`: waits as the level asks.
    pub async fn settle(
        &self,
        field: &str,
        consistency: Option<&Consistency>,
        groups: &BTreeSet<FeatureGroupId>,
        sink: Sink,
        settings: &ConsistencySettings,
    ) -> Result<Settled, ConsistencyError> {
        let eventual = || Settled {
            progress: self.snapshot(),
            stale: Vec::new(),
        };
        let Some(c) = consistency else {
            return Ok(eventual());
        };
        let level = Level::try_from(c.level)
            .map_err(|_| DomainError::invalid(format!("{field}.level"), "unknown level"))?;
        match level {
            Level::Eventual => {
                if !c.write_tokens.is_empty() {
                    return Err(DomainError::invalid(
                        format!("{field}.write_tokens"),
                        "write tokens are read with the AFTER_WRITE level only",
                    )
                    .into());
                }
                Ok(eventual())
            }
            Level::AfterWrite => {
                let tokens_field = format!("{field}.write_tokens");
                if c.write_tokens.is_empty() {
                    return Err(DomainError::invalid(
                        tokens_field,
                        "AFTER_WRITE needs at least one write token",
                    )
                    .into());
                }
                let written = token::combine(&tokens_field, &c.write_tokens)?;
                if let Some(foreign) = written.keys().find(|id| !groups.contains(id)) {
                    return Err(DomainError::invalid(
                        tokens_field,
                        format!("a token names group {foreign}, which this request does not read"),
                    )
                    .into());
                }
                let wait = match c.max_wait_millis {
                    0 => settings.default_max_wait,
                    ms => Duration::from_millis(ms.into()),
                }
                .min(settings.max_wait);
                match self.wait(&written, sink, wait).await {
                    Ok(progress) => Ok(Settled {
                        progress,
                        stale: Vec::new(),
                    }),
                    Err((progress, stale)) if c.serve_stale => Ok(Settled { progress, stale }),
                    Err((_, behind)) => Err(ConsistencyError::Deadline {
                        waited: wait,
                        behind,
                    }),
                }
            }
        }
    }
}
