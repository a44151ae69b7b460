//! The ingest path: resolve the group from the watched catalog, validate
//! every row, append the records to the group's topic in one all-or-nothing
//! append, answer once it is durable. A request with any bad row writes
//! nothing; a request whose append fails left nothing readable in the log;
//! a retry with the same idempotency key writes nothing again.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use featurestore_catalog::CatalogCache;
use featurestore_domain::{token, validate_name};
use featurestore_eventlog::{EventLog, EventLogError, Record};
use featurestore_metastore::MetadataStore;
use featurestore_proto::v1::{
    FeatureGroup, FeatureGroupRef, IngestArrowRequest, IngestRequest, IngestResponse,
};
use prost::Message as _;

use crate::{
    config::Limits,
    error::IngestionError,
    idempotency::{Claim, Idempotency, fingerprint, validate_key},
    validate::{GroupSchema, Violations},
};

/// The write token of an append: records at `partitions` landed at
/// `offsets` (input order).
fn set_token(
    response: &mut IngestResponse,
    group: &FeatureGroup,
    partitions: &[i32],
    offsets: &[i64],
) {
    let written = token::token_of(
        FeatureGroupRef {
            project: group.project.clone(),
            name: group.name.clone(),
            version: group.version,
        },
        partitions.iter().copied().zip(offsets.iter().copied()),
    );
    response.write_token = token::seal(&written);
    response.written = Some(written);
}

/// A request's idempotency key and the fingerprint of what it asked.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub key: String,
    pub fingerprint: Vec<u8>,
}

impl RequestKey {
    /// `None` for an empty key; INVALID_ARGUMENT for a malformed one.
    /// `parts` gives the request's content; it is only encoded when there
    /// is a key (requests without one pay nothing).
    pub fn new(
        field: &str,
        key: String,
        parts: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Option<RequestKey>, IngestionError> {
        if key.is_empty() {
            return Ok(None);
        }
        validate_key(field, &key)?;
        let parts = parts();
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Ok(Some(RequestKey {
            key,
            fingerprint: fingerprint(&parts),
        }))
    }
}

type GroupKey = (String, String, u32);

pub struct Ingestor {
    catalog: Arc<CatalogCache>,
    store: Arc<dyn MetadataStore>,
    log: Arc<dyn EventLog>,
    limits: Limits,
    idempotency: Arc<Idempotency>,
    /// Compiled schemas by group version, with the revision they reflect.
    schemas: Mutex<HashMap<GroupKey, (i64, Arc<GroupSchema>)>>,
    /// Topics known to exist with at least this many partitions.
    topics: Mutex<HashSet<(String, u32)>>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor").finish_non_exhaustive()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

impl Ingestor {
    pub fn new(
        catalog: Arc<CatalogCache>,
        store: Arc<dyn MetadataStore>,
        log: Arc<dyn EventLog>,
        limits: Limits,
        idempotency: Idempotency,
    ) -> Self {
        Self {
            catalog,
            store,
            log,
            limits,
            idempotency: Arc::new(idempotency),
            schemas: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashSet::new()),
        }
    }

    pub fn catalog(&self) -> &Arc<CatalogCache> {
        &self.catalog
    }

    pub fn idempotency(&self) -> &Idempotency {
        &self.idempotency
    }

    fn cached_schema(&self, group: &FeatureGroupRef) -> Option<Arc<GroupSchema>> {
        let snapshot = self.catalog.snapshot();
        let found = snapshot.feature_group(&group.project, &group.name, group.version)?;
        let revision = found.meta.map(|m| m.revision).unwrap_or_default();
        let key = (found.project.clone(), found.name.clone(), found.version);
        let mut schemas = self.schemas.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((rev, schema)) = schemas.get(&key)
            && *rev == revision
        {
            return Some(schema.clone());
        }
        let schema = Arc::new(GroupSchema::compile(found.clone()));
        schemas.insert(key, (revision, schema.clone()));
        Some(schema)
    }

    /// The group's schema; when the cache does not know the group, waits
    /// (briefly) for it to catch up with the store, so a group registered a
    /// moment ago is found.
    pub async fn schema(
        &self,
        group: Option<&FeatureGroupRef>,
    ) -> Result<Arc<GroupSchema>, IngestionError> {
        let group = group.ok_or_else(|| IngestionError::invalid("group", "is required"))?;
        validate_name("group.project", &group.project)?;
        validate_name("group.name", &group.name)?;
        if let Some(schema) = self.cached_schema(group) {
            return Ok(schema);
        }
        if let Ok(revision) = self.store.current_revision().await {
            let _ = self
                .catalog
                .wait_for_revision(revision, Duration::from_secs(2))
                .await;
            if let Some(schema) = self.cached_schema(group) {
                return Ok(schema);
            }
        }
        let version = match group.version {
            0 => String::new(),
            v => format!(" version {v}"),
        };
        Err(IngestionError::UnknownGroup(format!(
            "feature group {:?}{version} in project {:?}",
            group.name, group.project
        )))
    }

    /// Creates the group's topic unless it is known to exist.
    pub async fn ensure_topic(&self, schema: &GroupSchema) -> Result<(), IngestionError> {
        let wanted = (schema.topic.clone(), schema.group.partitions);
        if self
            .topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&wanted)
        {
            return Ok(());
        }
        self.log
            .ensure_topic(&schema.topic, schema.group.partitions)
            .await?;
        self.topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(wanted);
        Ok(())
    }

    /// Validates one request's rows into records (row indices start at
    /// `first_row`), or collects their violations.
    pub fn validate(
        &self,
        schema: &GroupSchema,
        request: IngestRequest,
        first_row: u64,
        headers: &[(String, Vec<u8>)],
        violations: &mut Violations,
        records: &mut Vec<Record>,
    ) -> Result<(), IngestionError> {
        let plan = schema.plan(request.columns)?;
        let now = now_micros();
        records.reserve(request.rows.len());
        for (i, row) in request.rows.into_iter().enumerate() {
            if let Some(record) =
                schema.encode_row(&plan, row, first_row + i as u64, now, headers, violations)
            {
                records.push(record);
            }
        }
        Ok(())
    }

    /// `Ingest`: one batch, all or nothing.
    pub async fn ingest(
        &self,
        mut request: IngestRequest,
        headers: &[(String, Vec<u8>)],
    ) -> Result<IngestResponse, IngestionError> {
        let key = std::mem::take(&mut request.idempotency_key);
        let key = RequestKey::new("idempotency_key", key, || vec![request.encode_to_vec()])?;
        let rows = request.rows.len();
        if rows > self.limits.max_rows_per_request {
            return Err(IngestionError::invalid(
                "rows",
                format!(
                    "{rows} rows exceed the limit of {} per request; split the batch or use IngestStream",
                    self.limits.max_rows_per_request
                ),
            ));
        }
        let schema = self.schema(request.group.as_ref()).await?;
        let mut violations = Violations::new(self.limits.max_violations_reported);
        let mut records = Vec::new();
        self.validate(&schema, request, 0, headers, &mut violations, &mut records)?;
        if !violations.is_empty() {
            crate::metrics::rejected(&schema, rows as u64);
            return Err(violations.into_error(rows as u64));
        }
        self.append(&schema, records, key).await
    }

    /// `IngestArrow`: every record batch of an Arrow IPC stream, all or
    /// nothing, through the same validation as `Ingest`.
    pub async fn ingest_arrow(
        &self,
        mut request: IngestArrowRequest,
        headers: &[(String, Vec<u8>)],
    ) -> Result<IngestResponse, IngestionError> {
        let key = std::mem::take(&mut request.idempotency_key);
        let key = RequestKey::new("idempotency_key", key, || vec![request.encode_to_vec()])?;
        let schema = self.schema(request.group.as_ref()).await?;
        let (columns, batches) =
            crate::arrow::decode(&request.arrow_ipc_stream, self.limits.max_rows_per_request)?;
        let rows: usize = batches.iter().map(Vec::len).sum();
        let mut violations = Violations::new(self.limits.max_violations_reported);
        let mut records = Vec::with_capacity(rows);
        let mut first_row = 0;
        for batch in batches {
            let count = batch.len() as u64;
            let request = IngestRequest {
                group: None,
                columns: columns.clone(),
                rows: batch,
                idempotency_key: String::new(),
            };
            self.validate(
                &schema,
                request,
                first_row,
                headers,
                &mut violations,
                &mut records,
            )?;
            first_row += count;
        }
        if !violations.is_empty() {
            crate::metrics::rejected(&schema, rows as u64);
            return Err(violations.into_error(rows as u64));
        }
        self.append(&schema, records, key).await
    }

    /// Appends validated records (all of a request or stream) in one
    /// all-or-nothing append; with a key, at most once per window. A keyed
    /// append runs on its own task, so a caller that goes away (a client
    /// deadline) does not leave its claim unanswered while the append
    /// completes.
    pub async fn append(
        &self,
        schema: &GroupSchema,
        records: Vec<Record>,
        key: Option<RequestKey>,
    ) -> Result<IngestResponse, IngestionError> {
        let Some(key) = key else {
            return self.append_once(schema, records).await;
        };
        let started = std::time::Instant::now();
        let rows = records.len();
        let project = &schema.group.project;
        let (path, revision) = match self
            .idempotency
            .claim(project, &key.key, &key.fingerprint)
            .await?
        {
            Claim::Answered(response) => return Ok(response),
            Claim::Owned { key, revision } => (key, revision),
        };
        let partitions: Vec<i32> = records.iter().map(|r| r.partition).collect();
        let mut response = IngestResponse {
            rows_accepted: records.len() as u64,
            group_version: schema.group.version,
            ..Default::default()
        };
        if !records.is_empty()
            && let Err(e) = self.ensure_topic(schema).await
        {
            self.idempotency.release(&path, revision).await;
            return Err(e);
        }
        let log = self.log.clone();
        let idempotency = self.idempotency.clone();
        let topic = schema.topic.clone();
        let schema_group = schema.group.clone();
        let task = tokio::spawn(async move {
            let appended = match records.is_empty() {
                true => Ok(Vec::new()),
                false => log.append(&topic, records).await,
            };
            match appended {
                Ok(offsets) => {
                    set_token(&mut response, &schema_group, &partitions, &offsets);
                    idempotency
                        .complete(&path, revision, &key.fingerprint, &response)
                        .await;
                    Ok::<_, IngestionError>(response)
                }
                // The append may be in the log: keep the claim (a retry
                // waits for it to go stale rather than maybe write twice).
                Err(e @ EventLogError::OutcomeUnknown(_)) => Err(e.into()),
                Err(e) => {
                    idempotency.release(&path, revision).await;
                    Err(e.into())
                }
            }
        });
        let response = task
            .await
            .map_err(|e| IngestionError::Internal(format!("append task: {e}")))??;
        crate::metrics::appended(schema, rows, started.elapsed());
        Ok(response)
    }

    async fn append_once(
        &self,
        schema: &GroupSchema,
        records: Vec<Record>,
    ) -> Result<IngestResponse, IngestionError> {
        let total = records.len() as u64;
        let mut response = IngestResponse {
            rows_accepted: total,
            group_version: schema.group.version,
            ..Default::default()
        };
        if total > 0 {
            let started = std::time::Instant::now();
            self.ensure_topic(schema).await?;
            let partitions: Vec<i32> = records.iter().map(|r| r.partition).collect();
            let offsets = self.log.append(&schema.topic, records).await?;
            set_token(&mut response, &schema.group, &partitions, &offsets);
            crate::metrics::appended(schema, total as usize, started.elapsed());
        }
        Ok(response)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Ensures the topics of every group version in the catalog (run on
    /// every catalog change): topics follow metadata by reconciliation.
    pub async fn reconcile_topics(&self) -> Result<usize, IngestionError> {
        let snapshot = self.catalog.snapshot();
        let mut created = 0;
        for group in snapshot.feature_groups() {
            let schema = GroupSchema::compile(group.clone());
            let known = self
                .topics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&(schema.topic.clone(), group.partitions));
            if !known {
                self.ensure_topic(&schema).await?;
                created += 1;
            }
        }
        Ok(created)
    }
}
