//! The Cassandra / ScyllaDB implementation of [`OnlineStore`].
//!
//! Layout: one table per feature-group version in one keyspace,
//! `entity_key blob PRIMARY KEY, event_time bigint, "f_<feature>" <type>...`
//! (narrow rows read faster). Every write is
//! `INSERT ... USING TIMESTAMP <event time µs> AND TTL <group ttl>`, so the
//! cell timestamps follow event time and the newest event wins whatever the
//! arrival order. Statements are prepared once per table shape and routed
//! token-aware by the driver.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use scylla::{
    client::{
        execution_profile::ExecutionProfile, session::Session, session_builder::SessionBuilder,
    },
    errors::{DbError, ExecutionError, NewSessionError, PrepareError, RequestAttemptError},
    policies::load_balancing::{DefaultPolicy, LoadBalancingPolicy},
    statement::prepared::PreparedStatement,
    value::{CqlValue, Row},
};

use crate::{
    CassandraConfig, OnlineRow, OnlineStore, OnlineStoreError, OnlineTable, Result, StoredRow,
    StoredTile, TileKey, TileRange, TileTable, TileWrite,
    cassandra_tiles::TileStatement,
    cql::{column_type, feature_column, from_cql, to_cql},
    replica,
};

pub struct CassandraStore {
    session: Arc<Session>,
    config: CassandraConfig,
    /// Prepared statements by table and shape (features only get appended,
    /// so the feature count identifies the column list); read lock-free
    /// and without building a key on every call.
    statements: papaya::HashMap<StatementKey, Arc<PreparedStatement>>,
    /// What `IN` queries fall back to when their preferred replica is down.
    default_policy: Arc<dyn LoadBalancingPolicy>,
    /// Prepared statements of tile tables, by table and kind.
    tile_statements: papaya::HashMap<(String, TileStatement), Arc<PreparedStatement>>,
}

impl std::fmt::Debug for CassandraStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraStore")
            .field("keyspace", &self.config.keyspace)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Statement {
    Insert,
    Select,
    /// `SELECT entity_key, ... WHERE entity_key IN ?`
    SelectIn,
}

/// What a cached statement is for. [`StatementLookup`] hashes the same
/// way (a `String` hashes as its `str`), so a lookup builds no `String`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StatementKey {
    table: String,
    kind: Statement,
    features: usize,
}

#[derive(Debug, Hash)]
struct StatementLookup<'a> {
    table: &'a str,
    kind: Statement,
    features: usize,
}

impl papaya::Equivalent<StatementKey> for StatementLookup<'_> {
    fn equivalent(&self, key: &StatementKey) -> bool {
        self.table == key.table && self.kind == key.kind && self.features == key.features
    }
}

/// Prepares retried after a server error (a table being created).
const PREPARE_RETRIES: u32 = 3;

pub(crate) fn unavailable(e: impl std::fmt::Display) -> OnlineStoreError {
    OnlineStoreError::Unavailable(e.to_string())
}

/// The server's answer when a request reached it and was refused.
fn db_error_of_attempt(attempt: &RequestAttemptError) -> Option<(&DbError, &str)> {
    match attempt {
        RequestAttemptError::DbError(code, message) => Some((code, message.as_str())),
        _ => None,
    }
}

pub(crate) fn db_error_of_execution(e: &ExecutionError) -> Option<(&DbError, &str)> {
    match e {
        ExecutionError::LastAttemptError(attempt) => db_error_of_attempt(attempt),
        ExecutionError::PrepareError(PrepareError::AllAttemptsFailed { first_attempt }) => {
            db_error_of_attempt(first_attempt)
        }
        _ => None,
    }
}

pub(crate) fn db_error_of_prepare(e: &PrepareError) -> Option<(&DbError, &str)> {
    match e {
        PrepareError::AllAttemptsFailed { first_attempt } => db_error_of_attempt(first_attempt),
        _ => None,
    }
}

/// The least time a schema change (keyspace, table, column) is given.
const DDL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl CassandraStore {
    /// Connects and creates the keyspace if needed.
    pub async fn connect(config: CassandraConfig) -> Result<Self> {
        validate_identifier("keyspace", &config.keyspace)?;
        let profile = ExecutionProfile::builder()
            .request_timeout(Some(config.request_timeout))
            .build()
            .into_handle();
        let session = SessionBuilder::new()
            .known_nodes(&config.nodes)
            .connection_timeout(config.connect_timeout)
            .default_execution_profile_handle(profile)
            .build()
            .await
            .map_err(|e: NewSessionError| {
                unavailable(format!("cannot connect to {:?}: {e}", config.nodes))
            })?;
        let store = Self {
            session: Arc::new(session),
            config,
            statements: papaya::HashMap::new(),
            default_policy: DefaultPolicy::builder().build(),
            tile_statements: papaya::HashMap::new(),
        };
        store
            .ddl(&format!(
                "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
                store.config.keyspace, store.config.replication
            ))
            .await?;
        Ok(store)
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub(crate) fn keyspace(&self) -> &str {
        &self.config.keyspace
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.config.max_in_flight.max(1)
    }

    pub(crate) fn tile_statements(
        &self,
    ) -> &papaya::HashMap<(String, TileStatement), Arc<PreparedStatement>> {
        &self.tile_statements
    }

    pub(crate) async fn ddl(&self, statement: &str) -> Result<()> {
        // A schema change waits for the nodes to agree on it: far longer
        // than the read timeout a serving replica is configured with.
        let mut ddl = scylla::statement::unprepared::Statement::new(statement);
        ddl.set_request_timeout(Some(self.config.request_timeout.max(DDL_TIMEOUT)));
        self.session
            .query_unpaged(ddl, ())
            .await
            .map_err(|e| unavailable(format!("{statement}: {e}")))?;
        self.session
            .await_schema_agreement()
            .await
            .map_err(|e| unavailable(format!("schema agreement after {statement}: {e}")))?;
        Ok(())
    }

    fn qualified(&self, table: &OnlineTable) -> String {
        format!("{}.{}", self.config.keyspace, table.name)
    }

    async fn existing_columns(&self, table: &OnlineTable) -> Result<HashSet<String>> {
        let result = self
            .session
            .query_unpaged(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
                (&self.config.keyspace, &table.name),
            )
            .await
            .map_err(unavailable)?;
        let rows = result
            .into_rows_result()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
        let names = rows
            .rows::<(String,)>()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?
            .map(|r| r.map(|(name,)| name))
            .collect::<Result<HashSet<String>, _>>()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
        Ok(names)
    }

    async fn statement(
        &self,
        table: &OnlineTable,
        kind: Statement,
    ) -> Result<Arc<PreparedStatement>> {
        let lookup = StatementLookup {
            table: &table.name,
            kind,
            features: table.features.len(),
        };
        if let Some(found) = self.statements.pin().get(&lookup) {
            return Ok(found.clone());
        }
        let columns: Vec<String> = table
            .features
            .iter()
            .map(|(name, _)| feature_column(name))
            .collect();
        let cql = match kind {
            Statement::Insert => format!(
                "INSERT INTO {} (entity_key, event_time{}{}) VALUES (?, ?{}) USING TIMESTAMP ? AND TTL ?",
                self.qualified(table),
                if columns.is_empty() { "" } else { ", " },
                columns.join(", "),
                ", ?".repeat(columns.len()),
            ),
            Statement::Select => format!(
                "SELECT event_time{}{} FROM {} WHERE entity_key = ?",
                if columns.is_empty() { "" } else { ", " },
                columns.join(", "),
                self.qualified(table),
            ),
            Statement::SelectIn => format!(
                "SELECT entity_key, event_time{}{} FROM {} WHERE entity_key IN ?",
                if columns.is_empty() { "" } else { ", " },
                columns.join(", "),
                self.qualified(table),
            ),
        };
        // A table created this very moment is listed in the schema before the
        // server accepts statements on it: it refuses them with a server
        // error, or as invalid although the schema tables hold the table and
        // every column (`refused` then says Internal). Both pass within
        // milliseconds: try again shortly, and after that let the caller
        // retry later (UNAVAILABLE).
        let mut attempt = 0;
        let mut prepared = loop {
            let e = match self.session.prepare(cql.as_str()).await {
                Ok(prepared) => break prepared,
                Err(e) => e,
            };
            let Some((code, message)) = db_error_of_prepare(&e) else {
                return Err(unavailable(format!("{}: {e}", table.label)));
            };
            let error = self.refused(table, code, message).await;
            let being_created =
                *code == DbError::ServerError || matches!(error, OnlineStoreError::Internal(_));
            if !being_created {
                return Err(error);
            }
            if attempt == PREPARE_RETRIES {
                return Err(match error {
                    OnlineStoreError::Internal(reason) => OnlineStoreError::Unavailable(reason),
                    other => other,
                });
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
        };
        // Writes carry their own timestamp, so retrying them is safe.
        prepared.set_is_idempotent(true);
        let prepared = Arc::new(prepared);
        self.statements.pin().insert(
            StatementKey {
                table: table.name.clone(),
                kind,
                features: table.features.len(),
            },
            prepared.clone(),
        );
        Ok(prepared)
    }

    /// A failed execution of a statement on `table`, as a store error.
    async fn execution_error(&self, table: &OnlineTable, e: ExecutionError) -> OnlineStoreError {
        match db_error_of_execution(&e) {
            Some((code, message)) => self.refused(table, code, message).await,
            None => unavailable(format!("{}: {e}", table.label)),
        }
    }

    /// The server refused a statement on `table`. A missing table or column
    /// is refused as `Invalid` (the server's code for any bad statement):
    /// the schema tables tell which it was, not the message's wording.
    async fn refused(
        &self,
        table: &OnlineTable,
        code: &DbError,
        message: &str,
    ) -> OnlineStoreError {
        if *code != DbError::Invalid {
            return unavailable(format!("{}: {message} ({code:?})", table.label));
        }
        match self.existing_columns(table).await {
            Ok(columns) if columns.is_empty() => {
                OnlineStoreError::UnknownTable(table.label.clone())
            }
            Ok(columns) => {
                let missing: Vec<String> = table
                    .features
                    .iter()
                    .map(|(name, _)| feature_column(name))
                    .filter(|c| !columns.contains(c.trim_matches('"')))
                    .collect();
                if missing.is_empty() {
                    OnlineStoreError::Internal(format!(
                        "{}: statement refused: {message}",
                        table.label
                    ))
                } else {
                    // A feature added a moment ago: reconciliation adds the
                    // column soon; retry.
                    OnlineStoreError::Unavailable(format!(
                        "{}: column(s) {} not created yet",
                        table.label,
                        missing.join(", ")
                    ))
                }
            }
            Err(schema) => unavailable(format!(
                "{}: statement refused ({message}) and the schema cannot be read: {schema}",
                table.label
            )),
        }
    }
}

pub(crate) fn validate_identifier(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(OnlineStoreError::Invalid(format!(
            "{what} {name:?} is not a valid CQL identifier"
        )))
    }
}

#[async_trait]
impl OnlineStore for CassandraStore {
    async fn ensure_table(&self, table: &OnlineTable) -> Result<()> {
        validate_identifier("table", &table.name)?;
        let existing = self.existing_columns(table).await?;
        if existing.is_empty() {
            let columns: String = table
                .features
                .iter()
                .map(|(name, ty)| format!(", {} {}", feature_column(name), column_type(ty)))
                .collect();
            self.ddl(&format!(
                "CREATE TABLE IF NOT EXISTS {} (entity_key blob PRIMARY KEY, event_time bigint{columns}) \
                 WITH compaction = {{'class': 'LeveledCompactionStrategy'}}",
                self.qualified(table)
            ))
            .await?;
        }
        let existing = if existing.is_empty() {
            self.existing_columns(table).await?
        } else {
            existing
        };
        for (name, ty) in &table.features {
            let column = feature_column(name);
            if !existing.contains(column.trim_matches('"')) {
                self.ddl(&format!(
                    "ALTER TABLE {} ADD {column} {}",
                    self.qualified(table),
                    column_type(ty)
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn upsert(&self, table: &OnlineTable, rows: &[OnlineRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let insert = self.statement(table, Statement::Insert).await?;
        let ttl = i32::try_from(table.ttl_seconds.max(0)).unwrap_or(i32::MAX);
        let mut bound = Vec::with_capacity(rows.len());
        for row in rows {
            if row.values.len() != table.features.len() {
                return Err(OnlineStoreError::Invalid(format!(
                    "{}: a row has {} values for {} features",
                    table.label,
                    row.values.len(),
                    table.features.len()
                )));
            }
            let mut values: Vec<Option<CqlValue>> = Vec::with_capacity(table.features.len() + 4);
            values.push(Some(CqlValue::Blob(row.entity_key.clone())));
            values.push(Some(CqlValue::BigInt(row.event_time_micros)));
            for ((_, ty), value) in table.features.iter().zip(&row.values) {
                values.push(to_cql(ty, value)?);
            }
            values.push(Some(CqlValue::BigInt(row.event_time_micros)));
            values.push(Some(CqlValue::Int(ttl)));
            bound.push(values);
        }
        stream::iter(bound)
            .map(|values| {
                let insert = insert.clone();
                async move {
                    match self.session.execute_unpaged(&insert, values).await {
                        Ok(_) => Ok(()),
                        Err(e) => Err(self.execution_error(table, e).await),
                    }
                }
            })
            .buffer_unordered(self.config.max_in_flight.max(1))
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    async fn get(&self, table: &OnlineTable, keys: &[Vec<u8>]) -> Result<Vec<Option<StoredRow>>> {
        let select = self.statement(table, Statement::Select).await?;
        if keys.len() > 1 && self.config.keys_per_query > 1 {
            return self.get_grouped(table, &select, keys).await;
        }
        // Indices rather than references: a closure over `&Vec<u8>` trips
        // the compiler's higher-ranked Send check in async traits.
        stream::iter(0..keys.len())
            .map(|i| self.get_one(table, &select, &keys[i]))
            .buffered(self.config.max_in_flight.max(1))
            .try_collect()
            .await
    }

    async fn ensure_tiles(&self, table: &TileTable) -> Result<()> {
        self.create_tiles(table).await
    }

    async fn get_tiles(&self, table: &TileTable, keys: &[TileKey]) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_tile_values(table, keys).await
    }

    async fn put_tiles_by(
        &self,
        table: &TileTable,
        tiles: &[TileWrite],
        deadline: Option<std::time::Instant>,
    ) -> Result<()> {
        self.put_tile_values(table, tiles, deadline).await
    }

    async fn scan_tiles(
        &self,
        table: &TileTable,
        keys: &[Vec<u8>],
        ranges: &[TileRange],
    ) -> Result<Vec<Vec<StoredTile>>> {
        self.scan_tile_values(table, keys, ranges).await
    }
}

impl CassandraStore {
    async fn get_one(
        &self,
        table: &OnlineTable,
        select: &PreparedStatement,
        key: &[u8],
    ) -> Result<Option<StoredRow>> {
        let result = match self.session.execute_unpaged(select, (key,)).await {
            Ok(result) => result,
            Err(e) => return Err(self.execution_error(table, e).await),
        };
        let rows = result
            .into_rows_result()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
        let Some(row) = rows
            .maybe_first_row::<Row>()
            .map_err(|e| OnlineStoreError::Internal(e.to_string()))?
        else {
            return Ok(None);
        };
        stored_row(table, row.columns.into_iter())
    }

    /// Many keys: distinct keys grouped by the replica owning them, one
    /// `IN` query of up to `keys_per_query` keys per group, sent to that
    /// replica first, all in flight at once; rows put back in request order.
    async fn get_grouped(
        &self,
        table: &OnlineTable,
        select: &PreparedStatement,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<StoredRow>>> {
        let select_in = self.statement(table, Statement::SelectIn).await?;
        let cluster = self.session.get_cluster_state();
        let mut first_position: HashMap<&[u8], usize> = HashMap::with_capacity(keys.len());
        let owned = keys.iter().enumerate().filter_map(|(i, key)| {
            if first_position.contains_key(key.as_slice()) {
                return None;
            }
            first_position.insert(key, i);
            let owner = select
                .calculate_token(&(key,))
                .ok()
                .flatten()
                .and_then(|token| {
                    cluster
                        .get_token_endpoints(&self.config.keyspace, &table.name, token)
                        .into_iter()
                        .next()
                })
                .map(|(node, _)| node);
            Some((owner, i))
        });
        let groups = replica::group_by_owner(
            owned.collect::<Vec<_>>(),
            |owner| owner.as_ref().map(|n| n.host_id),
            self.config.keys_per_query,
        );
        let default_policy = self.default_policy.clone();
        let found: Vec<Vec<(Vec<u8>, StoredRow)>> = stream::iter(groups)
            .map(|(owner, positions)| {
                let mut statement = (*select_in).clone();
                if let Some(node) = owner {
                    statement.set_load_balancing_policy(Some(replica::PreferReplica::policy(
                        node,
                        default_policy.clone(),
                    )));
                }
                let list: Vec<&[u8]> = positions.iter().map(|i| keys[*i].as_slice()).collect();
                async move {
                    let result = match self.session.execute_unpaged(&statement, (list,)).await {
                        Ok(result) => result,
                        Err(e) => return Err(self.execution_error(table, e).await),
                    };
                    let rows = result
                        .into_rows_result()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
                    let mut found = Vec::with_capacity(rows.rows_num());
                    for row in rows
                        .rows::<Row>()
                        .map_err(|e| OnlineStoreError::Internal(e.to_string()))?
                    {
                        let row = row.map_err(|e| OnlineStoreError::Internal(e.to_string()))?;
                        let mut cells = row.columns.into_iter();
                        let Some(Some(CqlValue::Blob(key))) = cells.next() else {
                            continue;
                        };
                        if let Some(stored) = stored_row(table, cells)? {
                            found.push((key, stored));
                        }
                    }
                    Ok::<_, OnlineStoreError>(found)
                }
            })
            .buffer_unordered(self.config.max_in_flight.max(1))
            .try_collect()
            .await?;
        let mut out: Vec<Option<StoredRow>> = vec![None; keys.len()];
        for (key, row) in found.into_iter().flatten() {
            if let Some(i) = first_position.get(key.as_slice()) {
                out[*i] = Some(row);
            }
        }
        // Repeated keys share the first occurrence's row.
        for (i, key) in keys.iter().enumerate() {
            let first = first_position[key.as_slice()];
            if first != i {
                out[i] = out[first].clone();
            }
        }
        Ok(out)
    }
}

/// `event_time, features...` cells → the stored row (`None` without an
/// event time: a row that only ever had its key written).
fn stored_row(
    table: &OnlineTable,
    mut cells: impl Iterator<Item = Option<CqlValue>>,
) -> Result<Option<StoredRow>> {
    let event_time_micros = match cells.next().flatten() {
        Some(CqlValue::BigInt(t)) => t,
        _ => return Ok(None),
    };
    let values = table
        .features
        .iter()
        .zip(cells)
        .map(|((_, ty), cell)| from_cql(ty, cell))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(StoredRow {
        event_time_micros,
        values,
    }))
}
