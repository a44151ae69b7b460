//! `fsctl status`: per feature group version, how far materialisation has
//! come (watermarks, lag in offsets and seconds, online and offline; for a
//! group with aggregations, the events folded into its tiles and the tile
//! writes), from the materialization service's `GetMaterializationStatus`.

use anyhow::Result;
use featurestore_proto::v1::{
    FeatureGroupRef, GetMaterializationStatusRequest, ListFeatureGroupsRequest,
    MaterializationStatus, materialization_admin_service_client::MaterializationAdminServiceClient,
};
use serde::Serialize;
use tonic::transport::Channel;

use crate::{Client, Output, status_error};

#[derive(Debug, Serialize)]
struct GroupStatus {
    group: String,
    version: u32,
    online_watermark_micros: i64,
    offline_watermark_micros: i64,
    online_lag_offsets: i64,
    offline_lag_offsets: i64,
    online_lag_seconds: i64,
    offline_lag_seconds: i64,
    last_event_time_micros: i64,
    /// Groups with aggregations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    tiles: Option<TileStatus>,
}

#[derive(Debug, Serialize)]
struct TileStatus {
    events_folded: u64,
    tile_writes: u64,
}

impl GroupStatus {
    fn new(s: MaterializationStatus, aggregated: bool) -> Self {
        let tiles = aggregated.then_some(TileStatus {
            events_folded: s.events_folded,
            tile_writes: s.tile_writes,
        });
        let group = s.group.unwrap_or_default();
        GroupStatus {
            group: group.name,
            version: group.version,
            online_watermark_micros: s.online_watermark_micros,
            offline_watermark_micros: s.offline_watermark_micros,
            online_lag_offsets: s.online_lag_records,
            offline_lag_offsets: s.offline_lag_records,
            online_lag_seconds: s.online_lag_seconds,
            offline_lag_seconds: s.offline_lag_seconds,
            last_event_time_micros: s.last_event_time_micros,
            tiles,
        }
    }
}

/// µs since epoch as RFC 3339 (UTC, seconds), "-" for none.
fn time(micros: i64) -> String {
    if micros <= 0 {
        return "-".into();
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

pub async fn run(
    registry: &mut Client,
    materialization: Channel,
    project: String,
    group: Option<String>,
    output: Output,
) -> Result<()> {
    let groups = registry
        .list_feature_groups(ListFeatureGroupsRequest {
            project: project.clone(),
            latest_only: true,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .feature_groups;
    let mut admin =
        MaterializationAdminServiceClient::new(crate::credentials::authorized(materialization));
    let mut statuses = Vec::new();
    for g in groups
        .into_iter()
        .filter(|g| group.as_ref().is_none_or(|name| &g.name == name))
    {
        let status = admin
            .get_materialization_status(GetMaterializationStatusRequest {
                group: Some(FeatureGroupRef {
                    project: project.clone(),
                    name: g.name.clone(),
                    version: g.version,
                }),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        statuses.push(GroupStatus::new(status, !g.aggregations.is_empty()));
    }
    if let Some(name) = &group
        && statuses.is_empty()
    {
        anyhow::bail!("no feature group {name:?} in project {project:?}");
    }
    match output {
        Output::Table => {
            let rows = statuses
                .iter()
                .map(|s| {
                    vec![
                        format!("{}@{}", s.group, s.version),
                        time(s.online_watermark_micros),
                        format!("{} / {}s", s.online_lag_offsets, s.online_lag_seconds),
                        time(s.offline_watermark_micros),
                        format!("{} / {}s", s.offline_lag_offsets, s.offline_lag_seconds),
                        s.tiles.as_ref().map_or("-".into(), |t| {
                            format!("{} / {}", t.events_folded, t.tile_writes)
                        }),
                    ]
                })
                .collect();
            crate::table(
                &[
                    "GROUP",
                    "ONLINE WATERMARK",
                    "ONLINE LAG (offsets / time)",
                    "OFFLINE WATERMARK",
                    "OFFLINE LAG (offsets / time)",
                    "TILES (events folded / writes)",
                ],
                rows,
            );
        }
        other => crate::print(other, &statuses)?,
    }
    Ok(())
}
