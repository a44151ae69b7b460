//! `fsctl status`: per feature group version, how far materialisation has
//! come (watermarks, lag in offsets and seconds, online and offline; for a
//! group with aggregations, the events folded into its tiles and the tile
//! writes, and what its last tile correction changed), from the
//! materialization service's `GetMaterializationStatus`.
//! With `--watch SECONDS` it refreshes the table (or prints one JSON/YAML
//! document per refresh), adding each group's freshness (now − online
//! watermark) and the rows per second applied online since the last
//! refresh. With `--partitions`, each group's partitions too (offsets, lag
//! and watermarks of each), so a stuck or skewed partition shows.

use anyhow::Result;
use featurestore_proto::v1::{
    FeatureGroupRef, GetMaterializationStatusRequest, ListFeatureGroupsRequest,
    MaterializationStatus, ResourceState,
    materialization_admin_service_client::MaterializationAdminServiceClient,
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
    /// Rows applied online since the previous refresh, per second
    /// (`--watch`, from the second refresh on).
    #[serde(skip_serializing_if = "Option::is_none")]
    rows_per_second: Option<f64>,
    /// The records applied online: the sum of the partitions' offsets.
    #[serde(skip)]
    applied: i64,
    /// Groups with aggregations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    tiles: Option<TileStatus>,
    /// With `--partitions` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    partitions: Option<Vec<PartitionRow>>,
}

#[derive(Debug, Serialize)]
struct PartitionRow {
    partition: i32,
    /// The log's next offset.
    high_watermark: i64,
    /// The offset after the last record applied online, and what remains.
    online_offset: i64,
    online_lag_offsets: i64,
    /// The offline table's committed offset, and what remains.
    offline_offset: i64,
    offline_lag_offsets: i64,
    online_watermark_micros: i64,
    offline_watermark_micros: i64,
}

#[derive(Debug, Serialize)]
struct TileStatus {
    events_folded: u64,
    tile_writes: u64,
    /// The newest correction's drift report.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_correction: Option<Correction>,
    /// Aggregations added in place whose history is still being computed
    /// (served as BACKFILLING until then).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    backfilling: Vec<String>,
    /// How far its parts are (none until a replica takes it up).
    #[serde(skip_serializing_if = "Option::is_none")]
    backfilling_parts: Option<PartsDone>,
}

#[derive(Debug, Serialize)]
struct PartsDone {
    done: usize,
    of: usize,
}

#[derive(Debug, Serialize)]
struct Correction {
    finished: String,
    tiles_compared: u64,
    tiles_changed: u64,
    tiles_deferred: u64,
    max_abs_diff: f64,
    max_rel_diff: f64,
}

impl GroupStatus {
    fn new(s: MaterializationStatus, aggregated: bool, partitions: bool) -> Self {
        let rows = partitions.then(|| {
            s.partitions
                .iter()
                .map(|p| PartitionRow {
                    partition: p.partition,
                    high_watermark: p.high_watermark,
                    online_offset: p.online_offset,
                    online_lag_offsets: p.online_lag,
                    offline_offset: p.committed_offset,
                    offline_lag_offsets: p.lag,
                    online_watermark_micros: p.online_watermark_micros,
                    offline_watermark_micros: p.offline_watermark_micros,
                })
                .collect()
        });
        let tiles = aggregated.then(|| TileStatus {
            events_folded: s.events_folded,
            tile_writes: s.tile_writes,
            last_correction: s.corrections.first().map(|c| Correction {
                finished: time(c.finished_micros),
                tiles_compared: c.tiles_compared,
                tiles_changed: c.tiles_changed,
                tiles_deferred: c.tiles_deferred,
                max_abs_diff: c.max_abs_diff,
                max_rel_diff: c.max_rel_diff,
            }),
            backfilling: s
                .bootstrap
                .as_ref()
                .filter(|b| b.state() == ResourceState::Backfilling)
                .map(|b| b.aggregations.clone())
                .unwrap_or_default(),
            backfilling_parts: s
                .bootstrap
                .as_ref()
                .filter(|b| b.state() == ResourceState::Backfilling && !b.parts.is_empty())
                .map(|b| PartsDone {
                    done: b.parts.iter().filter(|p| p.done).count(),
                    of: b.parts.len(),
                }),
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
            rows_per_second: None,
            applied: s.partitions.iter().map(|p| p.online_offset).sum(),
            tiles,
            partitions: rows,
        }
    }
}

/// µs since epoch as RFC 3339 (UTC, seconds), "-" for none.
pub(crate) fn time(micros: i64) -> String {
    if micros <= 0 {
        return "-".into();
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// What `fsctl status` asks for.
pub struct Asked {
    pub project: String,
    /// Only this group.
    pub group: Option<String>,
    /// Each group's partitions too.
    pub partitions: bool,
}

/// What `fsctl status` shows, once or every `watch` (`refreshes` times;
/// until interrupted when `None`).
pub async fn run(
    registry: &mut Client,
    materialization: Channel,
    asked: Asked,
    output: Output,
    watch: Option<std::time::Duration>,
    refreshes: Option<u64>,
) -> Result<()> {
    let Some(every) = watch else {
        let statuses = fetch(registry, materialization, &asked).await?;
        return show(&statuses, output, false);
    };
    let mut tick = tokio::time::interval(every);
    let mut previous: Option<(std::time::Instant, Vec<GroupStatus>)> = None;
    let mut shown = 0;
    while refreshes.is_none_or(|n| shown < n) {
        tick.tick().await;
        let mut statuses = fetch(registry, materialization.clone(), &asked).await?;
        let now = std::time::Instant::now();
        if let Some((then, before)) = &previous {
            let seconds = now.duration_since(*then).as_secs_f64();
            for s in &mut statuses {
                if let Some(b) = before
                    .iter()
                    .find(|b| b.group == s.group && b.version == s.version)
                {
                    s.rows_per_second = Some((s.applied - b.applied).max(0) as f64 / seconds);
                }
            }
        }
        if matches!(output, Output::Table) && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // Clear the screen and go home: the table refreshes in place.
            print!("\x1b[2J\x1b[H");
        }
        if matches!(output, Output::Table) {
            println!(
                "{}  (every {}s, Ctrl-C to stop)",
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
                every.as_secs_f64()
            );
        }
        show(&statuses, output, true)?;
        previous = Some((now, statuses));
        shown += 1;
    }
    Ok(())
}

/// The status of each group (the latest versions; only `group` if given).
async fn fetch(
    registry: &mut Client,
    materialization: Channel,
    asked: &Asked,
) -> Result<Vec<GroupStatus>> {
    let (project, group) = (asked.project.clone(), &asked.group);
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
        statuses.push(GroupStatus::new(
            status,
            !g.aggregations.is_empty(),
            asked.partitions,
        ));
    }
    if let Some(name) = &group
        && statuses.is_empty()
    {
        anyhow::bail!("no feature group {name:?} in project {project:?}");
    }
    Ok(statuses)
}

/// Freshness: how old the newest event applied online is.
fn freshness(watermark_micros: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    if watermark_micros <= 0 {
        return "-".into();
    }
    let seconds = ((now - watermark_micros) / 1_000_000).max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}

fn show(statuses: &[GroupStatus], output: Output, live: bool) -> Result<()> {
    match output {
        Output::Table => {
            let rows = statuses
                .iter()
                .map(|s| {
                    let mut row = vec![
                        format!("{}@{}", s.group, s.version),
                        time(s.online_watermark_micros),
                        format!("{} / {}s", s.online_lag_offsets, s.online_lag_seconds),
                        time(s.offline_watermark_micros),
                        format!("{} / {}s", s.offline_lag_offsets, s.offline_lag_seconds),
                        s.tiles.as_ref().map_or("-".into(), |t| {
                            let counts = format!("{} / {}", t.events_folded, t.tile_writes);
                            if t.backfilling.is_empty() {
                                counts
                            } else {
                                let parts =
                                    t.backfilling_parts.as_ref().map_or(String::new(), |p| {
                                        format!(" ({}/{} parts done)", p.done, p.of)
                                    });
                                format!("{counts}, BACKFILLING {}{parts}", t.backfilling.join(" "))
                            }
                        }),
                        s.tiles
                            .as_ref()
                            .and_then(|t| t.last_correction.as_ref())
                            .map_or("-".into(), |c| {
                                format!(
                                    "{} / {} tiles, {:.2} %",
                                    c.tiles_changed,
                                    c.tiles_compared,
                                    c.max_rel_diff * 100.0
                                )
                            }),
                    ];
                    if live {
                        row.push(freshness(s.online_watermark_micros));
                        row.push(s.rows_per_second.map_or("-".into(), |r| format!("{r:.0}")));
                    }
                    row
                })
                .collect();
            let mut header = vec![
                "GROUP",
                "ONLINE WATERMARK",
                "ONLINE LAG (offsets / time)",
                "OFFLINE WATERMARK",
                "OFFLINE LAG (offsets / time)",
                "TILES (events folded / writes)",
                "LAST CORRECTION (changed / compared, drift)",
            ];
            if live {
                header.extend(["FRESHNESS", "ROWS/S"]);
            }
            crate::table(&header, rows);
            show_partitions(statuses);
        }
        // One document per line, so a reader can follow the refreshes.
        Output::Json if live => println!("{}", serde_json::to_string(statuses)?),
        other => crate::print(other, &statuses)?,
    }
    Ok(())
}

/// The partitions table (`--partitions`), after the groups'.
fn show_partitions(statuses: &[GroupStatus]) {
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .flat_map(|s| {
            s.partitions.iter().flatten().map(move |p| {
                vec![
                    format!("{}@{}", s.group, s.version),
                    p.partition.to_string(),
                    p.high_watermark.to_string(),
                    format!("{} / {}", p.online_offset, p.online_lag_offsets),
                    format!("{} / {}", p.offline_offset, p.offline_lag_offsets),
                    time(p.online_watermark_micros),
                    time(p.offline_watermark_micros),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!();
    crate::table(
        &[
            "GROUP",
            "PARTITION",
            "LOG END",
            "ONLINE (offset / lag)",
            "OFFLINE (offset / lag)",
            "ONLINE WATERMARK",
            "OFFLINE WATERMARK",
        ],
        rows,
    );
}

#[cfg(test)]
mod tests {
    use featurestore_proto::v1::AggregationBootstrap;

    use super::*;

    fn with_bootstrap(state: ResourceState) -> MaterializationStatus {
        use featurestore_proto::v1::CorrectionPart;
        let part = |done| CorrectionPart {
            done,
            ..Default::default()
        };
        MaterializationStatus {
            bootstrap: Some(AggregationBootstrap {
                aggregations: vec!["n_life".into()],
                state: state as i32,
                parts: vec![part(true), part(false), part(false)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn aggregations_being_bootstrapped_are_listed_until_ready() {
        let running = GroupStatus::new(with_bootstrap(ResourceState::Backfilling), true, false);
        let json = serde_json::to_value(&running).unwrap();
        assert_eq!(json["tiles"]["backfilling"], serde_json::json!(["n_life"]));
        assert_eq!(
            json["tiles"]["backfilling_parts"],
            serde_json::json!({"done": 1, "of": 3})
        );
        let ready = GroupStatus::new(with_bootstrap(ResourceState::Ready), true, false);
        let json = serde_json::to_value(&ready).unwrap();
        assert!(json["tiles"].get("backfilling").is_none(), "{json}");
        assert!(json["tiles"].get("backfilling_parts").is_none(), "{json}");
    }
}
