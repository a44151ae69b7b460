//! The query engine: a DataFusion runtime with a memory limit and a spill
//! directory, and `historical_features` assembling entities, groups and the
//! zip.

use std::{path::PathBuf, sync::Arc};

use arrow_array::ArrayRef;
use arrow_schema::{Field, Schema, SchemaRef};
use datafusion::{
    execution::{
        SendableRecordBatchStream,
        memory_pool::FairSpillPool,
        runtime_env::{RuntimeEnv, RuntimeEnvBuilder},
    },
    physical_plan::stream::RecordBatchStreamAdapter,
    prelude::{SessionConfig, SessionContext},
};
use featurestore_offlinestore::{DeltaStore, OfflineTable};
use featurestore_proto::v1::FeatureGroup;
use url::Url;

use featurestore_domain::aggregation::AggregatedFeature;

use crate::{
    EntitySource, QueryError, Result, aggregate, aggregate::AggregateIndex, aggregate_merge,
    entities, group, index::GroupIndex, zip,
};

/// Where a group's requested feature comes from: its `i`th plain feature
/// (latest value as of the entity time) or its `i`th aggregated feature.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Plain(usize),
    Aggregated(usize),
}

/// What a query reads of one group: its Delta table, the plain features
/// with their types, the aggregated features, and the order of both in the
/// result.
struct TableRead {
    table: deltalake::DeltaTable,
    typed: Vec<(String, arrow_schema::DataType)>,
    aggregated: Vec<AggregatedFeature>,
    layout: Vec<Slot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryConfig {
    /// Memory for sorts and buffers, across concurrent queries; sorts spill
    /// to `spill_dir` beyond it.
    pub memory_limit_bytes: usize,
    /// Spilled sort runs and spooled entity rows (deleted when done).
    pub spill_dir: PathBuf,
    /// Rows per batch.
    pub batch_size: usize,
    /// Join in memory when every group's feature rows fit in half the
    /// memory limit (no entity spool and no sorts of the entity rows); the
    /// sorting, spilling join otherwise or when off.
    pub in_memory_join: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            memory_limit_bytes: 1 << 30,
            spill_dir: std::env::temp_dir(),
            batch_size: 8192,
            in_memory_join: true,
        }
    }
}

/// Which state of a group's Delta table to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AsOf {
    #[default]
    Latest,
    /// A Delta table version.
    Version(i64),
    /// The table as of a time (µs since the epoch): the last version
    /// committed at or before it.
    Timestamp(i64),
}

/// One group of a query: which features, read as of which table state.
#[derive(Debug, Clone)]
pub struct GroupRead {
    pub group: FeatureGroup,
    pub features: Vec<String>,
    pub as_of: AsOf,
}

pub struct OfflineQuery {
    store: Arc<DeltaStore>,
    runtime: Arc<RuntimeEnv>,
    config: QueryConfig,
}

impl std::fmt::Debug for OfflineQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineQuery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A local path or a URL, as a URL.
pub(crate) fn location_url(location: &str) -> Result<Url> {
    match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 => Ok(url),
        _ => {
            let path = std::path::Path::new(location);
            let absolute = path.canonicalize().map_err(|_| {
                QueryError::NotFound(format!("path {location} (it does not exist)"))
            })?;
            Url::from_directory_path(&absolute)
                .map_err(|_| QueryError::invalid("path", format!("{location} is not a directory")))
        }
    }
}

impl OfflineQuery {
    pub fn new(store: Arc<DeltaStore>, config: QueryConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.spill_dir).map_err(|e| {
            QueryError::Unavailable(format!("spill dir {}: {e}", config.spill_dir.display()))
        })?;
        let runtime = RuntimeEnvBuilder::new()
            // Fair between spilling consumers: concurrent sorts each get a share.
            .with_memory_pool(Arc::new(FairSpillPool::new(config.memory_limit_bytes)))
            .with_temp_file_path(config.spill_dir.clone())
            .build_arc()?;
        Ok(Self {
            store,
            runtime,
            config,
        })
    }

    /// Bytes the queries' spill files take on disk now.
    pub fn spill_bytes(&self) -> u64 {
        self.runtime.disk_manager.used_disk_space()
    }

    /// One partition per plan: entity rows are read in their order, and a
    /// sort has no final cross-partition merge (that merge can't spill in
    /// DataFusion 55 and fails first under a tight memory limit). Groups'
    /// sorts still run concurrently with each other.
    pub(crate) fn context(&self) -> SessionContext {
        self.context_with_partitions(1)
    }

    /// A context whose scans use `partitions` partitions, for reads whose
    /// order does not matter.
    fn context_with_partitions(&self, partitions: usize) -> SessionContext {
        // What a sort keeps back for merging its spilled runs: DataFusion's
        // 10 MB default would not fit a small memory limit.
        let merge_reserve = (self.config.memory_limit_bytes / 16).min(10 << 20);
        let mut config = SessionConfig::new()
            .with_batch_size(self.config.batch_size)
            .with_target_partitions(partitions)
            .with_sort_spill_reservation_bytes(merge_reserve);
        // Parquet strings read as they were written (`Utf8`), not as views.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        SessionContext::new_with_config_rt(config, self.runtime.clone())
    }

    /// The group's Delta table at the asked state; a group nothing was
    /// materialized for yet reads as an empty table.
    async fn open_group(&self, read: &GroupRead) -> Result<deltalake::DeltaTable> {
        let table = OfflineTable::for_group(&read.group);
        let url = self
            .store
            .table_url(&table)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let label = &table.label;
        match &read.as_of {
            AsOf::Latest => {
                self.store
                    .ensure_table(&table)
                    .await
                    .map_err(|e| QueryError::Unavailable(e.to_string()))?;
                Ok(deltalake::open_table(url).await?)
            }
            AsOf::Version(v) => {
                let version = u64::try_from(*v).map_err(|_| {
                    QueryError::invalid("as_of.version", format!("{v} is negative"))
                })?;
                deltalake::open_table_with_version(url, version)
                    .await
                    .map_err(|e| QueryError::NotFound(format!("{label} at version {v}: {e}")))
            }
            AsOf::Timestamp(micros) => {
                let at = chrono::DateTime::from_timestamp_micros(*micros).ok_or_else(|| {
                    QueryError::invalid(
                        "as_of.timestamp_micros",
                        format!("{micros} is out of range"),
                    )
                })?;
                let mut delta = deltalake::open_table(url)
                    .await
                    .map_err(|e| QueryError::NotFound(format!("{label}: {e}")))?;
                delta
                    .load_with_datetime(at)
                    .await
                    .map_err(|e| QueryError::NotFound(format!("{label} as of {at}: {e}")))?;
                // Before the first commit, deltalake loads the first version
                // anyway: that table did not exist yet. (The loaded version's
                // own time: `history` would give the newest commit's.)
                let loaded_at = delta
                    .version()
                    .and_then(|v| delta.snapshot().ok()?.version_timestamp(v));
                if loaded_at.is_some_and(|ms| ms > at.timestamp_millis()) {
                    return Err(QueryError::NotFound(format!(
                        "{label} as of {at}: the table has no version that old"
                    )));
                }
                Ok(delta)
            }
        }
    }

    /// The latest time of the entity rows (µs since the epoch), `None`
    /// when there are none: what an `AT_LEAST` read of a training set
    /// waits for unless it names a time.
    pub async fn latest_entity_time(
        &self,
        source: &EntitySource,
        timestamp_column: &str,
    ) -> Result<Option<i64>> {
        let ctx = self.context();
        let (frame, _) = entities::open(&ctx, source).await?;
        group::check_timestamp_column(frame.schema(), timestamp_column)?;
        let batches = frame
            .aggregate(
                Vec::new(),
                vec![datafusion::functions_aggregate::expr_fn::max(
                    group::micros(timestamp_column),
                )],
            )?
            .collect()
            .await?;
        Ok(batches.first().filter(|b| b.num_rows() > 0).and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .filter(|a| arrow_array::Array::is_valid(*a, 0))
                .map(|a| a.value(0))
        }))
    }

    /// Checks a query and opens what it reads, without reading rows: the
    /// result's schema and the table versions it will read.
    pub async fn plan(
        &self,
        source: &EntitySource,
        timestamp_column: &str,
        groups: &[GroupRead],
    ) -> Result<Plan> {
        self.prepare(source, timestamp_column, groups)
            .await
            .map(|p| Plan {
                schema: p.schema,
                table_versions: p.table_versions,
                entity_version: p.entity_version,
            })
    }

    async fn prepare(
        &self,
        source: &EntitySource,
        timestamp_column: &str,
        groups: &[GroupRead],
    ) -> Result<Prepared> {
        if groups.is_empty() {
            return Err(QueryError::invalid(
                "features",
                "select at least one feature",
            ));
        }
        let ctx = self.context();
        let (frame, entity_version) = entities::open(&ctx, source).await?;
        for read in groups {
            group::check_entity_columns(frame.schema(), timestamp_column, &read.group)?;
        }
        let mut fields: Vec<Field> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut tables = Vec::with_capacity(groups.len());
        let mut table_versions = Vec::with_capacity(groups.len());
        for read in groups {
            let table = self.open_group(read).await?;
            let delta_schema = table.snapshot()?.snapshot().arrow_schema();
            let aggregated = aggregate::features_of(&read.group, &read.features);
            let mut typed = Vec::with_capacity(read.features.len());
            let mut layout = Vec::with_capacity(read.features.len());
            for f in &read.features {
                let column = featurestore_domain::feature_column(&read.group.name, f);
                if let Some(i) = aggregated.iter().position(|a| &a.name == f) {
                    fields.push(Field::new(
                        column,
                        aggregate::data_type(&aggregated[i])?,
                        true,
                    ));
                    layout.push(Slot::Aggregated(i));
                    continue;
                }
                let field = delta_schema.field_with_name(f).map_err(|_| {
                    QueryError::NotFound(format!(
                        "feature {f:?} not found in the offline table of {}@{}",
                        read.group.name, read.group.version
                    ))
                })?;
                fields.push(Field::new(column, field.data_type().clone(), true));
                layout.push(Slot::Plain(typed.len()));
                typed.push((f.clone(), field.data_type().clone()));
            }
            table_versions.push((
                format!("{}@{}", read.group.name, read.group.version),
                table.version().unwrap_or_default() as i64,
            ));
            tables.push(TableRead {
                table,
                typed,
                aggregated,
                layout,
            });
        }
        Ok(Prepared {
            ctx,
            frame,
            schema: Arc::new(Schema::new(fields)),
            tables,
            table_versions,
            entity_version,
        })
    }

    /// Point-in-time-correct features for every entity row (see the crate
    /// docs for the rules and the order).
    pub async fn historical_features(
        &self,
        source: &EntitySource,
        timestamp_column: &str,
        groups: &[GroupRead],
    ) -> Result<SendableRecordBatchStream> {
        let Prepared {
            ctx,
            frame,
            schema,
            tables,
            ..
        } = self.prepare(source, timestamp_column, groups).await?;
        if self.config.in_memory_join
            && let Some(indexes) = self.index_groups(groups, &tables).await?
        {
            tracing::debug!(groups = groups.len(), "joining in memory");
            return in_memory_join(frame, schema, timestamp_column, indexes).await;
        }
        let spooled = entities::spool(frame, timestamp_column, &self.config.spill_dir).await?;
        tracing::debug!(
            rows = spooled.rows,
            groups = groups.len(),
            "entity rows spooled"
        );
        let path = spooled.file.to_string_lossy().to_string();
        let mut results = Vec::with_capacity(groups.len());
        // The zipped columns: each group's plain features, then its
        // aggregated ones; `order` puts them in the requested order.
        let entity_width = spooled.schema.fields().len() - 1;
        let mut order: Vec<usize> = (0..entity_width).collect();
        for (read, t) in groups.iter().zip(tables) {
            let TableRead {
                table,
                typed,
                aggregated,
                layout,
            } = t;
            let first = order.len();
            let plain = typed.len();
            order.extend(layout.iter().map(|slot| match slot {
                Slot::Plain(i) => first + i,
                Slot::Aggregated(i) => first + plain + i,
            }));
            if !typed.is_empty() {
                let entities = ctx.read_arrow(&path, Default::default()).await?;
                let entities =
                    group::sorted_entities(entities, timestamp_column, &read.group).await?;
                let rows = ctx.read_table(table.table_provider().await?)?;
                let features = group::sorted_features(rows, &read.group, &typed).await?;
                let names: Vec<String> = typed.into_iter().map(|(name, _)| name).collect();
                results.push(group::join(
                    &ctx,
                    entities,
                    features,
                    &names,
                    read.group.ttl_seconds,
                )?);
            }
            if !aggregated.is_empty() {
                let plan = aggregate::AggregatePlan::new(&read.group, aggregated)?;
                let entities = ctx.read_arrow(&path, Default::default()).await?;
                let entities =
                    group::sorted_entities(entities, timestamp_column, &read.group).await?;
                let rows = ctx.read_table(table.table_provider().await?)?;
                let events = group::sorted_features(rows, &read.group, &plan.inputs).await?;
                let keys = read.group.primary_key.len();
                results.push(aggregate_merge::join(
                    &ctx,
                    entities,
                    events,
                    keys,
                    plan,
                    parallelism(),
                )?);
            }
        }
        let entity = ctx
            .read_arrow(&path, Default::default())
            .await?
            .execute_stream()
            .await?;
        let row_id = spooled.schema.fields().len() - 1;
        let zipped = zip::zip(schema.clone(), entity, row_id, results, order);
        // The spooled file lives as long as the stream.
        let file = spooled.file;
        let stream = futures::StreamExt::map(zipped, move |batch| {
            let _keep = &file;
            batch
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    /// Every group's rows indexed in memory, or `None` when they don't all
    /// fit in half the memory limit.
    async fn index_groups(
        &self,
        groups: &[GroupRead],
        tables: &[TableRead],
    ) -> Result<Option<Vec<GroupProbe>>> {
        let mut budget = self.config.memory_limit_bytes / 2;
        let mut indexes = Vec::with_capacity(groups.len());
        let ctx = self.context_with_partitions(parallelism());
        // From the Delta log's row counts, before reading anything: a group
        // that can't fit skips the attempt.
        for (read, t) in groups.iter().zip(tables) {
            let rows: u64 = t
                .table
                .snapshot()?
                .log_data()
                .into_iter()
                .map(|file| file.num_records().unwrap_or(0) as u64)
                .sum();
            // Aggregations hold their inputs as FLOAT64 and the log positions.
            let inputs = t.aggregated.iter().filter(|a| a.input.is_some()).count();
            let least = crate::index::least_bytes(rows, &read.group, &t.typed)
                + 2 * rows * (8 * inputs as u64 + 12) * u64::from(!t.aggregated.is_empty());
            if least > budget as u64 {
                tracing::debug!(group = %read.group.name, rows, least, budget, "too large to join in memory");
                return Ok(None);
            }
        }
        let pool = &self.runtime.memory_pool;
        for (read, t) in groups.iter().zip(tables) {
            let mut probe = GroupProbe {
                plain: None,
                aggregated: None,
                layout: t.layout.clone(),
            };
            if !t.typed.is_empty() {
                let rows = ctx.read_table(t.table.table_provider().await?)?;
                let Some(index) =
                    GroupIndex::build(rows, &read.group, &t.typed, pool, budget).await?
                else {
                    tracing::debug!(group = %read.group.name, "too large to join in memory");
                    return Ok(None);
                };
                budget = budget.saturating_sub(index.memory());
                probe.plain = Some(index);
            }
            if !t.aggregated.is_empty() {
                let rows = ctx.read_table(t.table.table_provider().await?)?;
                let features = t.aggregated.clone();
                let Some(index) =
                    AggregateIndex::build(rows, &read.group, features, pool, budget).await?
                else {
                    tracing::debug!(group = %read.group.name, "events too large to aggregate in memory");
                    return Ok(None);
                };
                budget = budget.saturating_sub(index.memory());
                probe.aggregated = Some(index);
            }
            indexes.push(probe);
        }
        Ok(Some(indexes))
    }

    /// The schema and Delta version a group read would return.
    pub async fn plan_group(&self, read: &GroupRead) -> Result<Plan> {
        let table = self.open_group(read).await?;
        Ok(Plan {
            schema: table.snapshot()?.snapshot().arrow_schema(),
            table_versions: vec![(
                format!("{}@{}", read.group.name, read.group.version),
                table.version().unwrap_or_default() as i64,
            )],
            entity_version: None,
        })
    }

    /// Every row of a group's table at the asked state (keys, event time,
    /// features, lineage), and the Delta version read.
    pub async fn read_group(&self, read: &GroupRead) -> Result<(SendableRecordBatchStream, i64)> {
        let table = self.open_group(read).await?;
        let version = table.version().unwrap_or_default() as i64;
        let frame = self.context().read_table(table.table_provider().await?)?;
        let stream = without_views(frame)?.execute_stream().await?;
        Ok((stream, version))
    }
}

/// The frame with string and binary views (what the Delta scan yields) cast
/// to plain `Utf8` / `Binary`, inside lists too: a group's rows read as the
/// types training data and ingestion use, which every Arrow client can sort
/// and take (pyarrow cannot take a `string_view` column).
fn without_views(
    frame: datafusion::dataframe::DataFrame,
) -> Result<datafusion::dataframe::DataFrame> {
    use arrow_schema::DataType;
    fn plain(ty: &DataType) -> Option<DataType> {
        match ty {
            DataType::Utf8View => Some(DataType::Utf8),
            DataType::BinaryView => Some(DataType::Binary),
            DataType::List(item) => plain(item.data_type())
                .map(|inner| DataType::List(Arc::new(item.as_ref().clone().with_data_type(inner)))),
            _ => None,
        }
    }
    let columns: Vec<datafusion::prelude::Expr> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = datafusion::prelude::Expr::Column(
                datafusion::common::Column::new_unqualified(field.name()),
            );
            match plain(field.data_type()) {
                Some(ty) => datafusion::prelude::cast(column, ty).alias(field.name()),
                None => column,
            }
        })
        .collect();
    Ok(frame.select(columns)?)
}

/// Cores to spread work over.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Streams the entity rows in their order, each batch probed against every
/// group's index; batches are probed on blocking threads, several at a time,
/// and come out in order.
async fn in_memory_join(
    frame: datafusion::dataframe::DataFrame,
    schema: SchemaRef,
    timestamp_column: &str,
    indexes: Vec<GroupProbe>,
) -> Result<SendableRecordBatchStream> {
    let entities = frame.execute_stream().await?;
    let column: Arc<str> = timestamp_column.into();
    let indexes = Arc::new(indexes);
    let out = schema.clone();
    let probe = move |batch: arrow_array::RecordBatch| -> Result<arrow_array::RecordBatch> {
        let mut columns = batch.columns().to_vec();
        for index in indexes.iter() {
            columns.extend(index.probe(&batch, &column)?);
        }
        Ok(arrow_array::RecordBatch::try_new(out.clone(), columns)?)
    };
    let probe = Arc::new(probe);
    let stream = futures::StreamExt::map(entities, move |batch| {
        let probe = probe.clone();
        async move {
            let batch = batch?;
            tokio::task::spawn_blocking(move || probe(batch))
                .await
                .map_err(|e| QueryError::Internal(format!("probe task: {e}")))?
                .map_err(datafusion::error::DataFusionError::from)
        }
    });
    let stream = futures::StreamExt::buffered(stream, parallelism());
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
}

/// One group's in-memory part of a join: the index of its plain features,
/// the events of its aggregated ones, and the order of their columns.
struct GroupProbe {
    plain: Option<GroupIndex>,
    aggregated: Option<AggregateIndex>,
    layout: Vec<Slot>,
}

impl GroupProbe {
    /// The group's columns for `batch`, in the requested feature order.
    fn probe(&self, batch: &arrow_array::RecordBatch, column: &str) -> Result<Vec<ArrayRef>> {
        let plain = match &self.plain {
            Some(index) => index.probe(batch, column)?,
            None => Vec::new(),
        };
        let aggregated = match &self.aggregated {
            Some(index) => index.probe(batch, column)?,
            None => Vec::new(),
        };
        Ok(self
            .layout
            .iter()
            .map(|slot| match slot {
                Slot::Plain(i) => plain[*i].clone(),
                Slot::Aggregated(i) => aggregated[*i].clone(),
            })
            .collect())
    }
}

/// What a query will return and read.
#[derive(Debug, Clone)]
pub struct Plan {
    pub schema: SchemaRef,
    /// `(group@version, Delta table version)` per group, in request order.
    pub table_versions: Vec<(String, i64)>,
    /// The Delta version of the entity rows' table, for a Delta source.
    pub entity_version: Option<i64>,
}

struct Prepared {
    ctx: SessionContext,
    frame: datafusion::dataframe::DataFrame,
    schema: SchemaRef,
    tables: Vec<TableRead>,
    table_versions: Vec<(String, i64)>,
    entity_version: Option<i64>,
}
