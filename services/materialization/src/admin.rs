//! `MaterializationAdminService`: pipeline status per group version, and
//! backfills that re-materialise an event-time range of the offline table
//! into the online store (safe at any time: online writes carry their event
//! time, so a backfill never overwrites newer values) and, for a group with
//! aggregations, correct its tiles of that range (`crate::correction`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use featurestore_domain::{EntityKeyEncoder, FeatureGroupId, aggregation::Aggregations};
use featurestore_eventlog::EventLog;
use featurestore_offlinestore::OfflineTable;
use featurestore_onlinestore::{OnlineRow, OnlineTable};
use featurestore_proto::v1::{
    BackfillJob, DriftReport, FeatureGroup, FeatureGroupRef, GetBackfillJobRequest,
    GetMaterializationStatusRequest, GetPipelineStatusRequest, MaterializationStatus,
    PartitionStatus, PipelineStatus, ResourceState, StartBackfillRequest,
    materialization_admin_service_server::MaterializationAdminService,
};
use featurestore_runtime::authz;
use tonic::{Request, Response, Status};

use featurestore_metastore::Op;
use featurestore_proto::v1::CorrectionRun;

use crate::{
    correction::{self, Bucket, Correction, Retries},
    drift_reports,
    parts::{Record, Shared},
    pipeline::{Materializer, group_id},
    runs,
};

/// Rows upserted per online call during a backfill.
const BACKFILL_CHUNK: usize = 5_000;

#[derive(Clone)]
pub struct AdminGrpc {
    materializer: Arc<Materializer>,
    log: Arc<dyn EventLog>,
    jobs: Arc<Mutex<HashMap<String, BackfillJob>>>,
    next_job: Arc<AtomicU64>,
    /// A correction's budget of events in memory (`[corrections]`).
    max_events: u64,
    /// Names this replica in the claims of shared corrections' parts.
    runner: Arc<str>,
    /// Woken when this replica wrote a shared correction (`crate::runs`).
    runs_written: Arc<tokio::sync::Notify>,
    /// Whether other replicas may share corrections (standalone: none).
    shared: bool,
}

impl std::fmt::Debug for AdminGrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGrpc").finish_non_exhaustive()
    }
}

impl AdminGrpc {
    pub fn new(materializer: Arc<Materializer>, log: Arc<dyn EventLog>) -> Self {
        let runner = format!(
            "{}/{}",
            materializer.consumer(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            materializer,
            log,
            jobs: Arc::new(Mutex::new(HashMap::new())),
            next_job: Arc::new(AtomicU64::new(1)),
            max_events: crate::config::CorrectionSettings::default().max_events_in_memory,
            runner: runner.into(),
            runs_written: Arc::default(),
            shared: true,
        }
    }

    /// How this replica is named in the claims of shared corrections.
    pub fn runner(&self) -> &str {
        &self.runner
    }

    /// Tells this replica's runner of shared corrections that one was
    /// written.
    pub fn wake_runs(&self) {
        self.runs_written.notify_one();
    }

    /// Returns once [`Self::wake_runs`] was called.
    pub async fn runs_woken(&self) {
        self.runs_written.notified().await;
    }

    /// Corrections hold at most `max_events` events of the table in memory.
    pub fn with_memory_budget(mut self, max_events: u64) -> Self {
        self.max_events = max_events;
        self
    }

    /// This replica is the only one (standalone): corrections are split
    /// into parts only as the memory budget needs, each part being a scan
    /// of the table.
    pub fn alone(mut self, alone: bool) -> Self {
        self.shared = !alone;
        self
    }

    /// What `GetMaterializationStatus` answers for `group`: tables,
    /// partitions with their positions and watermarks, lag in records and
    /// seconds (also exported as metrics, [`crate::metrics::export_lag`]).
    pub async fn status_of(&self, group: &FeatureGroup) -> Result<MaterializationStatus, Status> {
        let topic =
            featurestore_domain::names::topic_name(&group.project, &group.name, group.version);
        let table = OfflineTable::for_group(group);
        let ready = |enabled: bool, ensured: bool| {
            (if !enabled {
                ResourceState::Unspecified
            } else if ensured {
                ResourceState::Ready
            } else {
                ResourceState::Pending
            }) as i32
        };
        let ensured = self.materializer.tables_ensured(group);
        let ends = self.log.end_offsets(&topic).await.unwrap_or_default();
        // The group's committed positions skip transaction markers; the
        // offline table's offsets alone would leave them as lag.
        let positions = self
            .log
            .committed_offsets(self.materializer.consumer(), &topic)
            .await
            .unwrap_or_default();
        let id = group_id(group);
        let published = self.published(&id).await?;
        let mut partitions = Vec::with_capacity(ends.len());
        let mut online_lag = 0;
        let committed = if group.offline_enabled {
            self.materializer
                .offline()
                .committed_offsets(
                    &table,
                    self.materializer.consumer(),
                    &topic,
                    ends.len() as i32,
                )
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        for (p, end) in ends.iter().enumerate() {
            let progress = published.get(&(p as i32)).cloned().unwrap_or_default();
            let position = positions.get(p).copied().flatten().unwrap_or(0);
            let committed = committed.get(p).copied().flatten().unwrap_or(0);
            // A trailing transaction marker counts until the consumer group's
            // next commit skips it.
            let partition_online_lag = if group.online_enabled {
                (*end - progress.online_offset.max(position)).max(0)
            } else {
                0
            };
            online_lag += partition_online_lag;
            partitions.push(PartitionStatus {
                online_lag: partition_online_lag,
                partition: p as i32,
                committed_offset: committed,
                high_watermark: *end,
                lag: (*end - committed.max(position)).max(0),
                online_offset: progress.online_offset,
                online_watermark_micros: progress.online_watermark_micros,
                offline_watermark_micros: progress.offline_watermark_micros,
            });
        }
        let offline_lag: i64 = if group.offline_enabled {
            partitions.iter().map(|p| p.lag).sum()
        } else {
            0
        };
        let watermark = |online: bool| {
            published
                .values()
                .filter(|p| {
                    if online {
                        p.online_offset > 0
                    } else {
                        p.offline_offset > 0
                    }
                })
                .map(|p| {
                    if online {
                        p.online_watermark_micros
                    } else {
                        p.offline_watermark_micros
                    }
                })
                .min()
                .unwrap_or(0)
        };
        let (online_watermark, offline_watermark) = (watermark(true), watermark(false));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or_default();
        let lag_seconds = |records: i64, watermark: i64| {
            if records > 0 && watermark > 0 {
                ((now - watermark) / 1_000_000).max(0)
            } else {
                0
            }
        };
        let last_event_time = published
            .values()
            .map(|p| {
                if group.online_enabled {
                    p.online_watermark_micros
                } else {
                    p.offline_watermark_micros
                }
            })
            .max()
            .unwrap_or(0);
        Ok(MaterializationStatus {
            group: Some(FeatureGroupRef {
                project: group.project.clone(),
                name: group.name.clone(),
                version: group.version,
            }),
            online_table: ready(group.online_enabled, ensured),
            offline_table: ready(group.offline_enabled, ensured),
            events_folded: published.values().map(|p| p.events_folded).sum(),
            tile_writes: published.values().map(|p| p.tile_writes).sum(),
            partitions,
            last_event_time_micros: last_event_time,
            online_watermark_micros: online_watermark,
            offline_watermark_micros: offline_watermark,
            online_lag_records: online_lag,
            offline_lag_records: offline_lag,
            online_lag_seconds: lag_seconds(online_lag, online_watermark),
            offline_lag_seconds: lag_seconds(offline_lag, offline_watermark),
            corrections: Vec::new(),
            bootstrap: None,
            message: format!(
                "positions are the offline table's committed offsets of consumer {:?}",
                self.materializer.consumer()
            ),
        })
    }

    fn group(&self, group: Option<&FeatureGroupRef>) -> Result<Arc<FeatureGroup>, Status> {
        let group = group.ok_or_else(|| Status::invalid_argument("group: is required"))?;
        for (field, name) in [
            ("group.project", &group.project),
            ("group.name", &group.name),
        ] {
            featurestore_domain::validate_name(field, name).map_err(|e| {
                use featurestore_proto::ServiceError;
                e.to_status()
            })?;
        }
        self.materializer
            .catalog()
            .snapshot()
            .feature_group(&group.project, &group.name, group.version)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "feature group {:?} in project {:?}",
                    group.name, group.project
                ))
            })
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut BackfillJob)) {
        if let Some(job) = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            f(job);
        }
    }

    async fn backfill(&self, id: String, group: Arc<FeatureGroup>, from: i64, to: i64) {
        let offline = OfflineTable::for_group(&group);
        let online = OnlineTable::for_group(&group);
        let encoder = EntityKeyEncoder::new(&group.primary_key);
        let result = async {
            // One data file at a time: a range larger than memory streams.
            let files = self
                .materializer
                .offline()
                .files(&offline)
                .await
                .map_err(|e| e.to_string())?;
            for file in 0..files.len() {
                let rows = files
                    .rows_between(file, &offline, from, to)
                    .await
                    .map_err(|e| e.to_string())?;
                for chunk in rows.chunks(BACKFILL_CHUNK) {
                    let mut online_rows = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        let entity_key = encoder
                            .encode(row.key_values.iter().map(|v| v.kind.as_ref()))
                            .map_err(|e| e.to_string())?;
                        let mut values = row.feature_values.clone();
                        values.resize_with(online.features.len(), Default::default);
                        online_rows.push(OnlineRow {
                            entity_key,
                            event_time_micros: row.event_time_micros,
                            values,
                        });
                    }
                    self.materializer
                        .online()
                        .upsert(&online, &online_rows)
                        .await
                        .map_err(|e| e.to_string())?;
                    self.update(&id, |job| job.rows_written += chunk.len() as u64);
                }
            }
            if let Some(aggregations) = Aggregations::of(&group) {
                self.correct_shared(&id, &group, &aggregations, (from, to))
                    .await?;
            }
            Ok::<_, String>(())
        }
        .await;
        self.update(&id, |job| match result {
            Ok(()) => job.state = ResourceState::Ready as i32,
            Err(message) => {
                job.state = ResourceState::Failed as i32;
                job.message = message;
            }
        });
    }
}

impl AdminGrpc {
    /// What a correction of `group`'s tiles works on.
    async fn correction<'a>(
        &'a self,
        group: &'a FeatureGroup,
        aggregations: &'a Aggregations,
    ) -> Result<Correction<'a>, String> {
        let topic =
            featurestore_domain::names::topic_name(&group.project, &group.name, group.version);
        let partitions = self
            .log
            .end_offsets(&topic)
            .await
            .map_err(|e| format!("{topic}: {e}"))?
            .len() as i32;
        Ok(Correction {
            online: self.materializer.online().as_ref(),
            offline: self.materializer.offline().as_ref(),
            consumer: self.materializer.consumer(),
            partitions,
            group,
            aggregations,
            max_events: self.max_events,
            grain_tiles: true,
            settle: crate::tiles::STREAM_WRITES_LAND_WITHIN,
        })
    }

    /// The group version `group` names as this replica's catalog has it,
    /// with its aggregations (`None`: unknown, or none).
    pub fn aggregated(&self, group: &FeatureGroupRef) -> Option<(Arc<FeatureGroup>, Aggregations)> {
        let definition = self
            .materializer
            .catalog()
            .snapshot()
            .feature_group(&group.project, &group.name, group.version)
            .cloned()?;
        let aggregations = Aggregations::of(&definition)?;
        Some((definition, aggregations))
    }

    /// How many parts replicas split a correction of `group` into
    /// ([`correction::parts`]).
    pub async fn parts(
        &self,
        group: &FeatureGroup,
        aggregations: &Aggregations,
    ) -> Result<u32, String> {
        Ok(correction::parts(&self.correction(group, aggregations).await?, self.shared).await)
    }

    /// The tile correction of the keys of `part` of an aggregated group:
    /// recomputes the tiles of `[from, to)` from the Delta table and
    /// replaces those that differ; job `id` follows it.
    async fn correct(
        &self,
        id: &str,
        group: &FeatureGroup,
        aggregations: &Aggregations,
        (from, to): (i64, i64),
        part: Bucket,
        grain_tiles: bool,
    ) -> Result<DriftReport, String> {
        let correction = Correction {
            grain_tiles,
            ..self.correction(group, aggregations).await?
        };
        let job_id = id.to_string();
        let started = now_micros();
        let mut report = correction::correct(
            &correction,
            from,
            to,
            part,
            Retries::default(),
            now_micros(),
            |drift| {
                let drift = DriftReport {
                    job_id: job_id.clone(),
                    started_micros: started,
                    ..drift.clone()
                };
                self.update(id, |job| job.drift = Some(drift));
            },
        )
        .await?;
        report.job_id = id.to_string();
        report.started_micros = started;
        report.finished_micros = now_micros();
        if report.tiles_deferred > 0 {
            self.update(id, |job| {
                job.message = format!(
                    "{} tiles kept receiving events the offline table did not hold yet and were not corrected: run it again",
                    report.tiles_deferred
                )
            });
        }
        self.update(id, |job| job.drift = Some(report.clone()));
        Ok(report)
    }

    /// The tile correction of backfill `id`: a run the replicas share in
    /// parts (`crate::runs`). This replica takes its share at once, then
    /// follows the run to its end (others may still run theirs), showing
    /// the parts done in the job, and drops the run's record.
    async fn correct_shared(
        &self,
        id: &str,
        group: &FeatureGroup,
        aggregations: &Aggregations,
        range: (i64, i64),
    ) -> Result<(), String> {
        let (store, keys) = self.materializer.progress().store();
        let prefix = keys.correction_runs_prefix(&group.project, &group.name, group.version);
        let listing = store.list(&prefix).await.map_err(|e| e.to_string())?;
        let new = runs::NewRun {
            group,
            aggregations,
            range,
            kind: "backfill",
            job: id,
        };
        let name = format!("backfill-{}", uuid::Uuid::new_v4().simple());
        let Some((key, run)) = runs::write(self, &new, &name, &runs::over(&listing.kvs)).await?
        else {
            return Err(format!("{key_prefix}{name} exists", key_prefix = prefix));
        };
        self.wake_runs();
        // The tile phase shows from now on.
        self.update(id, |job| {
            job.drift = Some(DriftReport {
                job_id: id.to_string(),
                started_micros: now_micros(),
                ..Default::default()
            })
        });
        let record = Record::<CorrectionRun>::new(store.as_ref(), key.clone());
        runs::run_parts(self, &record, &run, &featurestore_runtime::Shutdown::new()).await?;
        loop {
            let Some((_, now)) = record.read().await? else {
                return Err(format!("{key}: deleted while it ran"));
            };
            let mut drift = match &now.drift {
                Some(total) if !now.running() => total.clone(),
                _ => correction::sum(
                    &now.parts
                        .iter()
                        .filter(|p| p.done)
                        .filter_map(|p| p.drift.as_ref())
                        .collect::<Vec<_>>(),
                ),
            };
            drift.job_id = id.to_string();
            self.update(id, |job| {
                job.drift = Some(drift);
                job.message = now.message.clone();
            });
            if !now.running() {
                store
                    .txn(vec![], vec![Op::delete(key)])
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Keeps the report of a finished correction of `group` with its last
    /// ones (`GetMaterializationStatus`, `fsctl status`) and in the metrics.
    pub async fn keep_report(
        &self,
        group: &FeatureGroup,
        report: &DriftReport,
    ) -> Result<(), String> {
        let id_of_group = group_id(group);
        crate::metrics::corrected(&id_of_group, report);
        let (store, keys) = self.materializer.progress().store();
        drift_reports::record(store.as_ref(), keys, &id_of_group, report)
            .await
            .map_err(|e| format!("keeping the drift report: {e}"))
    }

    /// The published progress of a group version's partitions.
    async fn published(
        &self,
        id: &FeatureGroupId,
    ) -> Result<std::collections::BTreeMap<i32, featurestore_proto::v1::PartitionProgress>, Status>
    {
        self.materializer
            .progress()
            .published(id)
            .await
            .map_err(|e| Status::unavailable(format!("progress: {e}")))
    }

    pub fn materializer(&self) -> &Arc<Materializer> {
        &self.materializer
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// A new pending job `<kind>-<replica>-<n>` of `group` (`<replica>`:
    /// 8 hex digits naming this process), kept for `GetBackfillJob`.
    fn new_job(&self, kind: &str, group: &FeatureGroup) -> BackfillJob {
        let n = self.next_job.fetch_add(1, Ordering::Relaxed);
        // Unique across replicas and restarts: the reports kept name it.
        let replica = self.runner.rsplit('/').next().unwrap_or_default();
        let job = BackfillJob {
            id: format!("{kind}-{}-{n}", &replica[..replica.len().min(8)]),
            group: Some(FeatureGroupRef {
                project: group.project.clone(),
                name: group.name.clone(),
                version: group.version,
            }),
            state: ResourceState::Pending as i32,
            ..Default::default()
        };
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.id.clone(), job.clone());
        job
    }

    /// A correction of the keys of `part` over `[from, to)` started by this
    /// replica — `kind` `scheduled` (`crate::schedule`) or `bootstrap`
    /// (`crate::bootstrap`), each a part of a correction the replicas share
    /// (`crate::parts`): a job `<kind>-…` like a backfill's, tiles only;
    /// returns when it ends. Its report is the caller's to add up and keep.
    pub async fn correct_as(
        &self,
        kind: &str,
        group: &FeatureGroup,
        aggregations: &Aggregations,
        range: (i64, i64),
        part: Bucket,
        grain_tiles: bool,
    ) -> Result<DriftReport, String> {
        let id = self.new_job(kind, group).id;
        let result = self
            .correct(&id, group, aggregations, range, part, grain_tiles)
            .await;
        self.update(&id, |job| match &result {
            Ok(_) => job.state = ResourceState::Ready as i32,
            Err(message) => {
                job.state = ResourceState::Failed as i32;
                job.message = message.clone();
            }
        });
        result
    }

    /// Refuses a correction of an aggregated group over a range after the
    /// newest event of its offline table.
    pub async fn check_range(&self, group: &FeatureGroup, from: i64) -> Result<(), Status> {
        let published = self.published(&group_id(group)).await?;
        let newest = published
            .values()
            .map(|p| p.offline_watermark_micros)
            .max()
            .unwrap_or(0);
        if newest == 0 {
            return Err(Status::failed_precondition(format!(
                "the offline table of {}/{} holds no events yet: nothing to correct the tiles from",
                group.project, group.name
            )));
        }
        if from > newest {
            return Err(Status::invalid_argument(format!(
                "start_time_micros: {from} is after the newest event of the offline table ({newest})"
            )));
        }
        Ok(())
    }
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

#[tonic::async_trait]
impl MaterializationAdminService for AdminGrpc {
    async fn get_materialization_status(
        &self,
        request: Request<GetMaterializationStatusRequest>,
    ) -> Result<Response<MaterializationStatus>, Status> {
        authz::check(
            &request,
            authz::group_project(request.get_ref().group.as_ref()),
        )?;
        let group = self.group(request.get_ref().group.as_ref())?;
        let mut status = self.status_of(&group).await?;
        status.bootstrap = self
            .materializer
            .catalog()
            .snapshot()
            .bootstrap(&group.project, &group.name, group.version)
            .map(|b| b.as_ref().clone());
        // Read here, not in `status_of`: the lag metrics call that often.
        if !group.aggregations.is_empty() {
            let (store, keys) = self.materializer.progress().store();
            status.corrections = drift_reports::latest(store.as_ref(), keys, &group_id(&group))
                .await
                .map_err(|e| Status::unavailable(format!("correction reports: {e}")))?;
        }
        Ok(Response::new(status))
    }

    async fn start_backfill(
        &self,
        request: Request<StartBackfillRequest>,
    ) -> Result<Response<BackfillJob>, Status> {
        authz::check(
            &request,
            authz::group_project(request.get_ref().group.as_ref()),
        )?;
        let request = request.into_inner();
        let group = self.group(request.group.as_ref())?;
        if request.start_time_micros >= request.end_time_micros {
            return Err(Status::invalid_argument(
                "start_time_micros must be before end_time_micros",
            ));
        }
        if !(group.online_enabled && group.offline_enabled) {
            return Err(Status::failed_precondition(
                "a backfill copies the offline table into the online store: the group needs both enabled",
            ));
        }
        if !group.aggregations.is_empty() {
            self.check_range(&group, request.start_time_micros).await?;
        }
        let job = self.new_job("backfill", &group);
        let id = job.id.clone();
        let this = self.clone();
        tokio::spawn(async move {
            this.backfill(
                id,
                group,
                request.start_time_micros,
                request.end_time_micros,
            )
            .await;
        });
        Ok(Response::new(job))
    }

    async fn get_backfill_job(
        &self,
        request: Request<GetBackfillJobRequest>,
    ) -> Result<Response<BackfillJob>, Status> {
        let id = &request.get_ref().id;
        let job = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("backfill job {id:?}")))?;
        authz::check(&request, authz::group_project(job.group.as_ref()))?;
        Ok(Response::new(job))
    }

    async fn get_pipeline_status(
        &self,
        request: Request<GetPipelineStatusRequest>,
    ) -> Result<Response<PipelineStatus>, Status> {
        authz::check_listing(&request)?;
        Ok(Response::new(self.materializer.pipeline_status()))
    }
}
