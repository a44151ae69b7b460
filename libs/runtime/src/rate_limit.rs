//! Per-caller rate limits: `[server.rate_limit]` gives each caller (its
//! `Principal::id`, or its IP address when anonymous) `requests_per_second`
//! with bursts of `burst` (GCRA, `governor`); a call over it is
//! RESOURCE_EXHAUSTED with the time to wait, and is not run. Health and
//! reflection are not counted. One caller's burst never slows another.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use serde::{Deserialize, Serialize};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::{Principal, gate::Gate};

/// `[server.rate_limit]`: off unless `requests_per_second` is positive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second per caller; 0 = no limit.
    pub requests_per_second: f64,
    /// Requests a caller may send at once beyond the sustained rate.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 0.0,
            burst: 100,
        }
    }
}

impl RateLimitConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.requests_per_second.is_finite() || self.requests_per_second < 0.0 {
            return Err("server.rate_limit.requests_per_second must be 0 (off) or positive".into());
        }
        if self.requests_per_second > 0.0 && self.burst == 0 {
            return Err("server.rate_limit.burst must be at least 1".into());
        }
        Ok(())
    }

    fn quota(&self) -> Option<Quota> {
        if self.requests_per_second <= 0.0 {
            return None;
        }
        let period = Duration::from_secs_f64(1.0 / self.requests_per_second);
        Quota::with_period(period)
            .map(|q| q.allow_burst(NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN)))
    }
}

type Limiter = DefaultKeyedRateLimiter<String>;

/// Per-caller budgets (the gate of `[server.rate_limit]`).
#[derive(Debug, Clone)]
pub struct RateLimits {
    limiter: Arc<Limiter>,
}

impl RateLimits {
    /// `None` when no limit is configured.
    pub fn new(config: &RateLimitConfig) -> Option<Self> {
        let limiter = Arc::new(RateLimiter::keyed(config.quota()?));
        // Forget callers idle long enough to be back at a full burst.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                match weak.upgrade() {
                    Some(limiter) => limiter.retain_recent(),
                    None => break,
                }
            }
        });
        Some(Self { limiter })
    }
}

/// Who a request is counted against.
fn caller<B>(request: &http::Request<B>) -> String {
    if let Some(p) = request.extensions().get::<Principal>() {
        return p.id();
    }
    let ext = request.extensions();
    let addr = ext
        .get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        });
    addr.map_or_else(|| "anonymous".into(), |a| format!("ip:{}", a.ip()))
}

impl Gate for RateLimits {
    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<(), tonic::Status> {
        if crate::auth::open_path(request.uri().path()) {
            return Ok(());
        }
        let who = caller(request);
        self.limiter.check_key(&who).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            tonic::Status::resource_exhausted(format!(
                "rate limit: {who} is over its requests per second; retry in {} ms",
                wait.as_millis().max(1)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_refused_at_start() {
        let negative = RateLimitConfig {
            requests_per_second: -1.0,
            burst: 1,
        };
        assert!(negative.validate().is_err());
        let no_burst = RateLimitConfig {
            requests_per_second: 5.0,
            burst: 0,
        };
        assert!(no_burst.validate().is_err());
        assert!(RateLimitConfig::default().validate().is_ok());
        assert!(RateLimitConfig::default().quota().is_none());
    }
}
