//! `fsctl backfill`: re-materialises an event-time range of a group's
//! offline table into the online store (`StartBackfill`); for a group with
//! aggregations that is a correction of its tiles, whose drift report is
//! printed. With `--wait` it follows the job (`GetBackfillJob`, on the same
//! materialization instance) until it ends.

use anyhow::{Context, Result, bail};
use featurestore_proto::v1::{
    BackfillJob, FeatureGroupRef, GetBackfillJobRequest, GetFeatureGroupRequest, ResourceState,
    StartBackfillRequest, materialization_admin_service_client::MaterializationAdminServiceClient,
};
use serde::Serialize;
use tonic::transport::Channel;

use crate::{Client, Output, status_error};

/// What `fsctl backfill` asks for.
pub struct Asked {
    pub project: String,
    /// `name` or `name@version`.
    pub group: String,
    /// RFC 3339 times: `[from, to)`.
    pub from: String,
    pub to: String,
    pub wait: Option<std::time::Duration>,
}

#[derive(Debug, Serialize)]
struct JobView {
    id: String,
    group: String,
    state: String,
    rows_written: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<DriftView>,
}

#[derive(Debug, Serialize)]
struct DriftView {
    start: String,
    end: String,
    events_read: u64,
    tiles_compared: u64,
    tiles_changed: u64,
    tiles_deferred: u64,
    max_abs_diff: f64,
    max_rel_diff: f64,
    lifetime_compared: bool,
}

fn micros(flag: &str, text: &str) -> Result<i64> {
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| anyhow::anyhow!("{flag} {text:?}: not an RFC 3339 time: {e}"))?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default())
}

fn view(job: &BackfillJob) -> JobView {
    let group = job.group.clone().unwrap_or_default();
    JobView {
        id: job.id.clone(),
        group: format!("{}@{}", group.name, group.version),
        state: job
            .state()
            .as_str_name()
            .trim_start_matches("RESOURCE_STATE_")
            .to_string(),
        rows_written: job.rows_written,
        message: job.message.clone(),
        drift: job.drift.as_ref().map(|d| DriftView {
            start: crate::status::time(d.start_time_micros),
            end: crate::status::time(d.end_time_micros),
            events_read: d.events_read,
            tiles_compared: d.tiles_compared,
            tiles_changed: d.tiles_changed,
            tiles_deferred: d.tiles_deferred,
            max_abs_diff: d.max_abs_diff,
            max_rel_diff: d.max_rel_diff,
            lifetime_compared: d.lifetime_compared,
        }),
    }
}

fn show(job: &JobView, output: Output) -> Result<()> {
    if !matches!(output, Output::Table) {
        return crate::print(output, job);
    }
    println!("job {} of {}: {}", job.id, job.group, job.state);
    println!("  rows written online: {}", job.rows_written);
    if let Some(d) = &job.drift {
        println!(
            "  tiles of [{}, {}): {} compared, {} changed, {} deferred ({} events read; lifetime tiles {})",
            d.start,
            d.end,
            d.tiles_compared,
            d.tiles_changed,
            d.tiles_deferred,
            d.events_read,
            if d.lifetime_compared {
                "compared"
            } else {
                "not compared"
            },
        );
        println!(
            "  largest difference: {} absolute, {:.2} % relative",
            d.max_abs_diff,
            d.max_rel_diff * 100.0
        );
    }
    if !job.message.is_empty() {
        println!("  {}", job.message);
    }
    Ok(())
}

/// Starts the backfill, and follows it with `--wait`.
pub async fn run(
    registry: &mut Client,
    materialization: Channel,
    asked: Asked,
    output: Output,
) -> Result<()> {
    let (from, to) = (micros("--from", &asked.from)?, micros("--to", &asked.to)?);
    let (name, version) = match asked.group.split_once('@') {
        Some((name, v)) => (name, v.parse().context("--group name@version")?),
        None => (asked.group.as_str(), 0),
    };
    let group = registry
        .get_feature_group(GetFeatureGroupRequest {
            project: asked.project.clone(),
            name: name.to_string(),
            version,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut admin =
        MaterializationAdminServiceClient::new(crate::credentials::authorized(materialization));
    let mut job = admin
        .start_backfill(StartBackfillRequest {
            group: Some(FeatureGroupRef {
                project: asked.project,
                name: group.name.clone(),
                version: group.version,
            }),
            start_time_micros: from,
            end_time_micros: to,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if let Some(limit) = asked.wait {
        let started = std::time::Instant::now();
        while matches!(job.state(), ResourceState::Pending) {
            if started.elapsed() > limit {
                show(&view(&job), output)?;
                bail!("job {} still running after {}s", job.id, limit.as_secs());
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            job = admin
                .get_backfill_job(GetBackfillJobRequest { id: job.id.clone() })
                .await
                .map_err(status_error)?
                .into_inner();
        }
    }
    show(&view(&job), output)?;
    if matches!(job.state(), ResourceState::Failed) {
        bail!("job {} failed", job.id);
    }
    Ok(())
}
