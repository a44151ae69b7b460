//! A request's `Consistency`, resolved and waited for — the one home of the
//! rules both serving and the offline query apply:
//! - `EVENTUAL` (default): no wait; write tokens with it are refused;
//! - `AFTER_WRITE`: the tokens must open (checksum), name only group
//!   versions the request reads, and name offsets the log has (checked
//!   against the log's end when a wait lasts longer than 100 ms);
//! - `AT_LEAST(t)`: each partition of each group read has applied a row at
//!   or after `t`, or everything before the log's end at the request (an
//!   idle or caught-up partition never blocks);
//! - every wait lasts at most `max_wait_millis` (default and cap from
//!   [`ConsistencySettings`]);
//! - when the wait runs out: `DEADLINE_EXCEEDED` naming each group behind
//!   with its offsets and lag, or, with `serve_stale`, the groups behind
//!   for the caller to mark.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use featurestore_domain::{
    DomainError, FeatureGroupId,
    token::{self, Written},
};
use featurestore_eventlog::EventLogError;
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

/// Where serving and the offline query ask the event log (Kafka) where
/// partitions end — only for waits that need it (`AT_LEAST`, and checking
/// `AFTER_WRITE` tokens that are not reached at once). The `[kafka]`
/// section of their configuration in distributed mode.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub bootstrap_servers: String,
    /// Longest a look-up of partition ends waits.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Extra librdkafka properties (TLS, SASL…).
    pub properties: BTreeMap<String, String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            request_timeout: Duration::from_secs(1),
            properties: BTreeMap::new(),
        }
    }
}

impl LogSettings {
    pub fn validate(&self, request_timeout: Duration) -> Result<(), String> {
        if self.bootstrap_servers.is_empty() {
            return Err("kafka.bootstrap_servers is required".into());
        }
        if self.request_timeout >= request_timeout {
            return Err("kafka.request_timeout must be below server.request_timeout".into());
        }
        Ok(())
    }

    pub fn client_config(&self) -> featurestore_eventlog::KafkaConfig {
        featurestore_eventlog::KafkaConfig {
            bootstrap_servers: self.bootstrap_servers.clone(),
            admin_timeout: self.request_timeout,
            properties: self.properties.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsistencyError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The event log did not say where partitions end (`AT_LEAST`).
    #[error("the event log did not answer where partitions end: {0}")]
    Log(String),
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
            ConsistencyError::Log(_) => ErrorCode::Unavailable,
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            ConsistencyError::Invalid(e) => e.field_violations(),
            ConsistencyError::Deadline { .. } | ConsistencyError::Log(_) => Vec::new(),
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

/// How long an `AFTER_WRITE` wait goes on before the tokens' offsets are
/// checked against the log's end: a token the log has is nearly always
/// reached sooner (no round trip); one from the future is refused soon.
const FUTURE_CHECK_AFTER: Duration = Duration::from_millis(100);

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
        let tokens_field = format!("{field}.write_tokens");
        if level != Level::AfterWrite && !c.write_tokens.is_empty() {
            return Err(DomainError::invalid(
                tokens_field,
                "write tokens are read with the AFTER_WRITE level only",
            )
            .into());
        }
        if level != Level::AtLeast && c.at_least_micros != 0 {
            return Err(DomainError::invalid(
                format!("{field}.at_least_micros"),
                "an event time is waited for with the AT_LEAST level only",
            )
            .into());
        }
        let wait = match c.max_wait_millis {
            0 => settings.default_max_wait,
            ms => Duration::from_millis(ms.into()),
        }
        .min(settings.max_wait);
        let outcome = match level {
            Level::Eventual => return Ok(eventual()),
            Level::AfterWrite => {
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
                self.after_write(&tokens_field, &written, sink, wait)
                    .await?
            }
            Level::AtLeast => {
                if c.at_least_micros <= 0 {
                    return Err(DomainError::invalid(
                        format!("{field}.at_least_micros"),
                        "AT_LEAST needs the event time to wait for (µs since the epoch)",
                    )
                    .into());
                }
                self.at_least(groups, c.at_least_micros, sink, wait).await?
            }
        };
        match outcome {
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

    /// `AFTER_WRITE`: waits for `written`; offsets still unreached after
    /// [`FUTURE_CHECK_AFTER`] are checked against the log's end, and a token
    /// naming offsets the log never had is refused then.
    async fn after_write(
        &self,
        field: &str,
        written: &Written,
        sink: Sink,
        wait: Duration,
    ) -> Result<Waited, ConsistencyError> {
        let first = wait.min(FUTURE_CHECK_AFTER);
        match self.wait(written, sink, first).await {
            Ok(progress) => return Ok(Ok(progress)),
            Err(_) if first == wait => {}
            Err((_, behind)) => self.check_in_log(field, &behind).await?,
        }
        Ok(self.wait(written, sink, wait - first).await)
    }

    /// Refuses offsets beyond where the log ends (a forged token, or one
    /// from a log that was recreated). A log that does not answer refuses
    /// nothing: the wait goes on and its deadline says how far it came.
    async fn check_in_log(&self, field: &str, behind: &[Behind]) -> Result<(), ConsistencyError> {
        let asked = tokio::time::Instant::now();
        for b in behind {
            let within = |ends: &[i64]| {
                b.partitions
                    .iter()
                    .all(|(p, _, wanted)| ends.get(*p as usize).is_some_and(|end| wanted <= end))
            };
            // Ends already seen cover the token: no round trip.
            if self.known_ends(&b.group).is_some_and(|ends| within(&ends)) {
                continue;
            }
            let ends = match self.log_ends(&b.group, asked).await {
                Ok(ends) => ends,
                Err(EventLogError::UnknownTopic(_)) => Vec::new(),
                Err(e) => {
                    tracing::warn!(group = %b.group, error = %e, "log ends unknown; token offsets not checked");
                    continue;
                }
            };
            for (partition, _, wanted) in &b.partitions {
                let end = ends.get(*partition as usize).copied();
                if end.is_none_or(|end| *wanted > end) {
                    let ending = end.map_or_else(
                        || "which the log does not have".to_string(),
                        |end| format!("beyond the log's end {end}"),
                    );
                    return Err(DomainError::invalid(
                        field,
                        format!(
                            "a token names offset {wanted} in partition {partition} of group {}, {ending}: \
                             a forged token, or one from before the log was recreated",
                            b.group
                        ),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// `AT_LEAST(t)`: groups whose every partition is past `t` are settled
    /// at once; the others learn where their partitions end now (one round
    /// trip each) and wait until each partition is past `t` or has applied
    /// everything before that end.
    async fn at_least(
        &self,
        groups: &BTreeSet<FeatureGroupId>,
        t: i64,
        sink: Sink,
        wait: Duration,
    ) -> Result<Waited, ConsistencyError> {
        let now = self.snapshot();
        let asked = tokio::time::Instant::now();
        let mut ends = Vec::new();
        for id in groups {
            // Past `t` in every partition the log is known to have (a
            // partition without progress may hold rows not yet applied).
            let published = now.group(id).map_or(0, BTreeMap::len);
            let known = self.known_ends(id).map(|ends| ends.len());
            if now.past(id, sink, t) && known.is_some_and(|n| published >= n) {
                continue;
            }
            match self.log_ends(id, asked).await {
                Ok(at) => ends.push((id.clone(), at)),
                // Never written: nothing to wait for.
                Err(EventLogError::UnknownTopic(_)) => {}
                Err(e) => return Err(ConsistencyError::Log(e.to_string())),
            }
        }
        let behind = |p: &Progress| -> Vec<Behind> {
            ends.iter()
                .filter_map(|(id, at)| p.behind_at_least(id, sink, at, t))
                .collect()
        };
        Ok(self
            .wait_until(wait, |p| behind(p).is_empty())
            .await
            .map_err(|now| {
                let still = behind(&now);
                (now, still)
            }))
    }
}

/// A wait's outcome: the progress that satisfied it, or the last progress
/// and the groups still behind.
type Waited = Result<Arc<Progress>, (Arc<Progress>, Vec<Behind>)>;
