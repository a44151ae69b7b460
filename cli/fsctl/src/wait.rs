//! `fsctl ingest --wait`: until the ingested rows are served online and/or
//! committed offline, asked of the services themselves with the ingest's
//! write token (`Consistency` AFTER_WRITE): serving waits on the published
//! progress and answers at once when it is reached, the offline query plans
//! a read of the group pinned to a Delta version that has the rows.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::ValueEnum;
use featurestore_proto::v1::{
    Consistency, FeatureGroup, FeatureGroupRef, FeatureList, FeatureRef, FeatureSelector,
    GetFeatureVectorsRequest, GroupFreshness, ReadFeatureGroupRequest, consistency::Level,
    feature_selector::Selector, offline_query_service_client::OfflineQueryServiceClient,
    online_serving_service_client::OnlineServingServiceClient,
};
use tonic::Code;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Wait {
    Online,
    Offline,
    Both,
}

/// Each call waits at most this long on the server; repeated until
/// `timeout`.
const CALL_WAIT: Duration = Duration::from_secs(2);

fn consistency(token: &[u8]) -> Consistency {
    Consistency {
        level: Level::AfterWrite as i32,
        write_tokens: vec![token.to_vec()],
        max_wait_millis: CALL_WAIT.as_millis() as u32,
        serve_stale: false,
        at_least_micros: 0,
    }
}

fn describe(freshness: &[GroupFreshness]) -> String {
    freshness
        .iter()
        .map(|f| {
            let mut offsets: Vec<_> = f.applied_offsets.iter().collect();
            offsets.sort();
            format!("watermark {} µs, offsets {offsets:?}", f.watermark_micros)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until `token`'s rows of `group` are where `what` says.
pub async fn run(
    serving: &str,
    offline: &str,
    group: &FeatureGroup,
    token: &[u8],
    what: Wait,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    if matches!(what, Wait::Online | Wait::Both) {
        if !group.online_enabled {
            bail!("--wait online: group {} is not served online", group.name);
        }
        let channel = crate::connect(serving, "online serving service", timeout).await?;
        let client = OnlineServingServiceClient::new(crate::credentials::authorized(channel));
        let feature = group
            .features
            .first()
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let request = GetFeatureVectorsRequest {
            project: group.project.clone(),
            selector: Some(FeatureSelector {
                selector: Some(Selector::Features(FeatureList {
                    features: vec![FeatureRef {
                        group: group.name.clone(),
                        group_version: group.version,
                        feature,
                    }],
                })),
            }),
            join_keys: group.primary_key.iter().map(|k| k.name.clone()).collect(),
            // No entity: only the wait is asked for.
            entity_rows: Vec::new(),
            include_event_times: false,
            consistency: Some(consistency(token)),
            include_freshness: true,
        };
        let answer = until(started, timeout, "online", || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.get_feature_vectors(request).await }
        })
        .await?;
        println!(
            "online: every row served ({}) after {:.1?}",
            describe(&answer.freshness),
            started.elapsed()
        );
    }
    if matches!(what, Wait::Offline | Wait::Both) {
        if !group.offline_enabled {
            bail!("--wait offline: group {} has no offline table", group.name);
        }
        let channel = crate::connect(offline, "offline query service", timeout).await?;
        let client = OfflineQueryServiceClient::new(crate::credentials::authorized(channel));
        let request = ReadFeatureGroupRequest {
            group: Some(FeatureGroupRef {
                project: group.project.clone(),
                name: group.name.clone(),
                version: group.version,
            }),
            as_of: None,
            consistency: Some(consistency(token)),
        };
        let handle = until(started, timeout, "offline", || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.read_feature_group(request).await }
        })
        .await?;
        let mut versions: Vec<_> = handle.table_versions.iter().collect();
        versions.sort();
        println!(
            "offline: every row committed, Delta versions {versions:?} ({}) after {:.1?}",
            describe(&handle.freshness),
            started.elapsed()
        );
    }
    Ok(())
}

/// Repeats `call` while the server's wait runs out, until `timeout`.
async fn until<T, F, Fut>(started: Instant, timeout: Duration, what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if status.code() == Code::DeadlineExceeded && started.elapsed() < timeout =>
            {
                continue;
            }
            Err(status) => bail!("--wait {what}: {:?}: {}", status.code(), status.message()),
        }
    }
}

/// `--at-least`: an RFC 3339 time as µs since the epoch, or, where
/// `entities` is allowed (training sets), 0: the offline query then takes
/// the latest entity-row time.
pub fn at_least_micros(text: &str, entities: bool) -> Result<i64> {
    if entities && text == "entities" {
        return Ok(0);
    }
    let expected = if entities {
        "`entities` or an RFC 3339 time"
    } else {
        "an RFC 3339 time"
    };
    let at = humantime::parse_rfc3339_weak(text).map_err(|e| {
        anyhow::anyhow!("--at-least {text:?}: not {expected} (2026-11-30T12:00:00Z): {e}")
    })?;
    let micros = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default();
    if micros <= 0 {
        bail!("--at-least {text:?}: must be after 1970");
    }
    Ok(micros)
}

/// The `Consistency` of `--after-write` tokens or an `--at-least` time
/// (none: EVENTUAL).
pub fn requested(tokens: Vec<Vec<u8>>, at_least: Option<i64>) -> Option<Consistency> {
    match at_least {
        Some(t) => Some(Consistency {
            level: Level::AtLeast as i32,
            at_least_micros: t,
            ..Default::default()
        }),
        None => (!tokens.is_empty()).then(|| Consistency {
            level: Level::AfterWrite as i32,
            write_tokens: tokens,
            // The service's configured wait.
            ..Default::default()
        }),
    }
}
