//! The Delta Lake implementation: one table per feature-group version under
//! a root directory (or object-store URL), appended through the Delta
//! writer, one commit per append, carrying the consumed positions.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
};

use deltalake::{
    DeltaTable, DeltaTableError,
    kernel::{
        ArrayType, DataType, PrimitiveType, StructField, Transaction, transaction::CommitProperties,
    },
    protocol::SaveMode,
    writer::{DeltaWriter, RecordBatchWriter},
};
use featurestore_proto::v1::{ScalarType, ValueType};
use tokio::sync::Mutex;
use url::Url;

use crate::{
    AppendOutcome, EVENT_TIME, INGEST_TIME, OfflineRow, OfflineStoreError, OfflineTable, Result,
    SOURCE_OFFSET, SOURCE_PARTITION,
};

/// Delta tables under one root. Appends to one table are serialised within
/// the process; concurrent writers elsewhere are handled by Delta's
/// optimistic commits (and the transaction ids make retries safe).
pub struct DeltaStore {
    root: Url,
    tables: Mutex<HashMap<String, DeltaTable>>,
    /// Committed offsets as last read (`crate::offsets`).
    pub(crate) offsets: crate::offsets::Offsets,
}

impl std::fmt::Debug for DeltaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaStore")
            .field("root", &self.root.as_str())
            .finish()
    }
}

/// The Delta type of a value type (Delta's own type system; the Arrow
/// types the writer derives from it are those of
/// `featurestore_domain::arrow`). An unspecified type is an error naming
/// the column, never silently binary.
fn delta_type(column: &str, ty: &ValueType) -> Result<DataType> {
    let ty = featurestore_domain::types::validate_type(column, Some(ty))
        .map_err(crate::arrow::invalid)?;
    let element = DataType::Primitive(match ty.scalar() {
        ScalarType::Bool => PrimitiveType::Boolean,
        ScalarType::Int32 => PrimitiveType::Integer,
        ScalarType::Int64 => PrimitiveType::Long,
        ScalarType::Float32 => PrimitiveType::Float,
        ScalarType::Float64 => PrimitiveType::Double,
        ScalarType::String => PrimitiveType::String,
        ScalarType::Bytes => PrimitiveType::Binary,
        ScalarType::Timestamp => PrimitiveType::Timestamp,
        // Refused by `validate_type` above.
        ScalarType::Unspecified => {
            return Err(OfflineStoreError::Invalid(format!(
                "{column}: type is unspecified"
            )));
        }
    });
    Ok(if ty.is_list {
        // List elements are never null.
        DataType::Array(Box::new(ArrayType::new(element, false)))
    } else {
        element
    })
}

/// The Delta schema of a table: keys, event time, features, lineage.
fn fields(table: &OfflineTable) -> Result<Vec<StructField>> {
    let mut fields: Vec<StructField> = Vec::new();
    for (name, ty) in &table.keys {
        let ty = ValueType {
            scalar: *ty as i32,
            is_list: false,
        };
        fields.push(StructField::new(
            name.clone(),
            delta_type(name, &ty)?,
            false,
        ));
    }
    fields.push(StructField::new(
        EVENT_TIME,
        DataType::Primitive(PrimitiveType::Timestamp),
        false,
    ));
    for (name, ty) in &table.features {
        fields.push(StructField::new(name.clone(), delta_type(name, ty)?, true));
    }
    fields.push(StructField::new(
        INGEST_TIME,
        DataType::Primitive(PrimitiveType::Timestamp),
        false,
    ));
    fields.push(StructField::new(
        SOURCE_PARTITION,
        DataType::Primitive(PrimitiveType::Integer),
        false,
    ));
    fields.push(StructField::new(
        SOURCE_OFFSET,
        DataType::Primitive(PrimitiveType::Long),
        false,
    ));
    Ok(fields)
}

/// The transaction id recording how far `consumer` got in one partition.
pub fn app_id(consumer: &str, topic: &str, partition: i32) -> String {
    format!("{consumer}/{topic}/{partition}")
}

impl DeltaStore {
    /// A store rooted at a local directory (created if missing) or a URL.
    pub fn new(root: &str) -> Result<Self> {
        let url = match Url::parse(root) {
            Ok(url) if url.scheme().len() > 1 => url,
            _ => {
                let path = Path::new(root);
                std::fs::create_dir_all(path)
                    .map_err(|e| OfflineStoreError::Unavailable(format!("{root}: {e}")))?;
                let absolute = path
                    .canonicalize()
                    .map_err(|e| OfflineStoreError::Unavailable(format!("{root}: {e}")))?;
                Url::from_directory_path(&absolute).map_err(|_| {
                    OfflineStoreError::Invalid(format!("{root} is not a directory path"))
                })?
            }
        };
        Ok(Self {
            root: url,
            tables: Mutex::new(HashMap::new()),
            offsets: Default::default(),
        })
    }

    /// Where a table lives.
    pub fn table_url(&self, table: &OfflineTable) -> Result<Url> {
        self.root
            .join(&format!("{}/", table.path))
            .map_err(|e| OfflineStoreError::Invalid(format!("{}: {e}", table.path)))
    }

    /// Opens a table; on local disk its directory must exist (`create`
    /// makes it, for a table about to be created).
    pub(crate) async fn open(&self, table: &OfflineTable, create: bool) -> Result<DeltaTable> {
        let url = self.table_url(table)?;
        if let Ok(path) = url.to_file_path() {
            if create {
                std::fs::create_dir_all(&path).map_err(|e| {
                    OfflineStoreError::Unavailable(format!("{}: {e}", path.display()))
                })?;
                if !path.join("_delta_log").exists() {
                    // A table about to be created: nothing to load (loading
                    // an empty location logs a delta-kernel ERROR line).
                    return Ok(deltalake::DeltaTableBuilder::from_url(url)?.build()?);
                }
            } else if !path.exists() {
                return Err(OfflineStoreError::UnknownTable(table.label.clone()));
            }
        }
        Ok(DeltaTable::try_from_url(url).await?)
    }

    /// Creates the table, or adds the feature columns it lacks. Idempotent.
    pub async fn ensure_table(&self, table: &OfflineTable) -> Result<()> {
        // Checked first: a table with a column of no type is never created.
        let fields = fields(table)?;
        let mut tables = self.tables.lock().await;
        let delta = self.open(table, true).await?;
        let delta = if delta.version().is_none() {
            delta
                .create()
                .with_table_name(table.label.replace(['/', '@'], "_"))
                .with_columns(fields)
                .with_save_mode(SaveMode::Ignore)
                .await?
        } else {
            let existing: Vec<String> = delta
                .snapshot()?
                .schema()
                .fields()
                .map(|f| f.name().clone())
                .collect();
            let missing: Vec<StructField> = fields
                .into_iter()
                .filter(|f| !existing.contains(f.name()))
                .collect();
            if missing.is_empty() {
                delta
            } else {
                delta.add_columns().with_fields(missing).await?
            }
        };
        tables.insert(table.path.clone(), delta);
        Ok(())
    }

    /// Rows in the table at its latest version, from the commit statistics
    /// (cheap: no data file is read).
    pub async fn row_count(&self, table: &OfflineTable) -> Result<usize> {
        let mut delta = self.open(table, false).await?;
        delta.update_state().await?;
        Ok(delta
            .snapshot()?
            .log_data()
            .into_iter()
            .map(|file| file.num_records().unwrap_or(0))
            .sum())
    }

    /// Every row of the table at its latest version, straight from its
    /// Parquet files (no query engine; for backfills, checks and tests).
    pub async fn scan(&self, table: &OfflineTable) -> Result<Vec<arrow_array::RecordBatch>> {
        let mut batches = Vec::new();
        self.each_batch(table, None, |batch| {
            batches.push(batch);
            Ok(())
        })
        .await?;
        Ok(batches)
    }

    /// The data files of the table's latest version, to read one at a time.
    pub async fn files(&self, table: &OfflineTable) -> Result<TableFiles> {
        let mut delta = self.open(table, false).await?;
        delta.update_state().await?;
        let paths = delta
            .snapshot()?
            .log_data()
            .into_iter()
            .map(|file| file.object_store_path())
            .collect();
        Ok(TableFiles {
            store: delta.object_store(),
            paths,
        })
    }

    /// Calls `each` with the batches of the table's latest version, one
    /// file at a time (at most one file's columns in memory), reading only
    /// `columns` when given.
    async fn each_batch(
        &self,
        table: &OfflineTable,
        columns: Option<&[&str]>,
        mut each: impl FnMut(arrow_array::RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let files = self.files(table).await?;
        for i in 0..files.len() {
            files.each_batch(i, columns, &mut each).await?;
        }
        Ok(())
    }

    /// The rows with `from <= event_time < to` (µs), read from every file of
    /// the table's latest version.
    pub async fn rows_between(
        &self,
        table: &OfflineTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<OfflineRow>> {
        let files = self.files(table).await?;
        let mut out = Vec::new();
        for file in 0..files.len() {
            out.extend(files.rows_between(file, table, from, to).await?);
        }
        Ok(out)
    }

    /// Calls `visit` with every record batch of the table at its latest
    /// version, one file at a time: at most one file's columns are in
    /// memory. With `features`, only those feature columns are read; the
    /// keys, event time, ingest time and source (partition, offset) always
    /// are.
    pub async fn visit_batches(
        &self,
        table: &OfflineTable,
        features: Option<&[&str]>,
        mut visit: impl FnMut(&arrow_array::RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let columns = features.map(|features| {
            let mut columns: Vec<&str> = table.keys.iter().map(|(n, _)| n.as_str()).collect();
            columns.extend([
                crate::EVENT_TIME,
                crate::INGEST_TIME,
                crate::SOURCE_PARTITION,
                crate::SOURCE_OFFSET,
            ]);
            columns.extend(features);
            columns
        });
        self.each_batch(table, columns.as_deref(), |batch| visit(&batch))
            .await
    }

    /// How far `consumer` got in `topic`/`partition`: the next offset to
    /// append, or `None` if it never appended.
    pub async fn committed_offset(
        &self,
        table: &OfflineTable,
        consumer: &str,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>> {
        let partitions = partition.saturating_add(1).max(1);
        let offsets = self
            .committed_offsets(table, consumer, topic, partitions)
            .await?;
        Ok(offsets.get(partition as usize).copied().flatten())
    }

    /// Appends the rows not yet appended by `consumer` and records, in the
    /// same commit, the next offset of every partition they came from.
    pub async fn append(
        &self,
        table: &OfflineTable,
        consumer: &str,
        topic: &str,
        rows: &[OfflineRow],
    ) -> Result<AppendOutcome> {
        if rows.is_empty() {
            return Ok(AppendOutcome::default());
        }
        let mut tables = self.tables.lock().await;
        let delta = match tables.remove(&table.path) {
            Some(mut delta) => {
                delta.update_state().await?;
                delta
            }
            None => self.open(table, false).await?,
        };
        if delta.version().is_none() {
            return Err(OfflineStoreError::UnknownTable(table.label.clone()));
        }
        let result = self.append_to(delta, table, consumer, topic, rows).await;
        match result {
            Ok((delta, outcome)) => {
                tables.insert(table.path.clone(), delta);
                Ok(outcome)
            }
            Err(e) => Err(e),
        }
    }

    async fn append_to(
        &self,
        mut delta: DeltaTable,
        table: &OfflineTable,
        consumer: &str,
        topic: &str,
        rows: &[OfflineRow],
    ) -> Result<(DeltaTable, AppendOutcome)> {
        let log_store = delta.log_store();
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for row in rows {
            next.entry(row.partition).or_insert(0);
        }
        let mut done: BTreeMap<i32, i64> = BTreeMap::new();
        for partition in next.keys() {
            let committed = delta
                .snapshot()?
                .transaction_version(log_store.as_ref(), app_id(consumer, topic, *partition))
                .await?;
            done.insert(*partition, committed.unwrap_or(i64::MIN));
        }
        // A record read twice before one commit (its partition revoked and
        // assigned again in a consumer-group rebalance: the log delivers it
        // again from the last committed offset) goes in once.
        let mut seen: HashSet<(i32, i64)> = HashSet::with_capacity(rows.len());
        let fresh: Vec<OfflineRow> = rows
            .iter()
            .filter(|r| r.offset >= done[&r.partition] && seen.insert((r.partition, r.offset)))
            .cloned()
            .collect();
        let skipped = rows.len() - fresh.len();
        if fresh.is_empty() {
            return Ok((
                delta,
                AppendOutcome {
                    appended: 0,
                    skipped,
                    version: None,
                },
            ));
        }
        for row in &fresh {
            let slot = next.entry(row.partition).or_insert(0);
            *slot = (*slot).max(row.offset + 1);
        }
        let transactions: Vec<Transaction> = next
            .iter()
            .filter(|(_, offset)| **offset > 0)
            .map(|(partition, offset)| {
                Transaction::new(app_id(consumer, topic, *partition), *offset)
            })
            .collect();
        let mut writer = RecordBatchWriter::for_table(&delta)?.with_commit_properties(
            CommitProperties::default().with_application_transactions(transactions),
        );
        let batch = crate::arrow::batch(&writer.arrow_schema(), table, &fresh)?;
        writer.write(batch).await?;
        let version =
            writer
                .flush_and_commit(&mut delta)
                .await
                .map_err(|e| match e {
                    DeltaTableError::VersionAlreadyExists(_)
                    | DeltaTableError::Transaction { .. } => OfflineStoreError::Unavailable(
                        format!("concurrent commit to {}: {e}; retry", table.label),
                    ),
                    other => other.into(),
                })?;
        Ok((
            delta,
            AppendOutcome {
                appended: fresh.len(),
                skipped,
                version: Some(version as i64),
            },
        ))
    }
}

/// The data files of one version of a table ([`DeltaStore::files`]).
pub struct TableFiles {
    store: deltalake::logstore::ObjectStoreRef,
    paths: Vec<deltalake::Path>,
}

impl TableFiles {
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The rows of file `i` with `from <= event_time < to` (µs).
    pub async fn rows_between(
        &self,
        i: usize,
        table: &OfflineTable,
        from: i64,
        to: i64,
    ) -> Result<Vec<OfflineRow>> {
        let mut out = Vec::new();
        self.each_batch(i, None, |batch| {
            out.extend(
                crate::arrow::rows(&batch, table)?
                    .into_iter()
                    .filter(|r| r.event_time_micros >= from && r.event_time_micros < to),
            );
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Calls `each` with the batches of file `i`, reading only `columns`
    /// when given.
    async fn each_batch(
        &self,
        i: usize,
        columns: Option<&[&str]>,
        mut each: impl FnMut(arrow_array::RecordBatch) -> Result<()>,
    ) -> Result<()> {
        use deltalake::{
            logstore::object_store::ObjectStoreExt,
            parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder},
        };
        let path = &self.paths[i];
        let unavailable =
            |e: &dyn std::fmt::Display| OfflineStoreError::Unavailable(format!("{path}: {e}"));
        let internal =
            |e: &dyn std::fmt::Display| OfflineStoreError::Internal(format!("{path}: {e}"));
        let bytes = self
            .store
            .get(path)
            .await
            .map_err(|e| unavailable(&e))?
            .bytes()
            .await
            .map_err(|e| unavailable(&e))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| internal(&e))?;
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        for batch in builder.build().map_err(|e| internal(&e))? {
            each(batch.map_err(|e| internal(&e))?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use featurestore_domain::types::parse_type;
    use featurestore_proto::v1::{self as pb, Value, value::Kind};

    use super::*;

    fn v(kind: Kind) -> Value {
        Value { kind: Some(kind) }
    }

    const TYPES: [&str; 16] = [
        "bool",
        "int32",
        "int64",
        "float32",
        "float64",
        "string",
        "bytes",
        "timestamp",
        "list<bool>",
        "list<int32>",
        "list<int64>",
        "list<float32>",
        "list<float64>",
        "list<string>",
        "list<bytes>",
        "list<timestamp>",
    ];

    fn table() -> OfflineTable {
        OfflineTable {
            label: "shop/all@1".into(),
            path: "shop/all/v1".into(),
            keys: vec![
                ("id".into(), ScalarType::Int64),
                ("at".into(), ScalarType::Timestamp),
            ],
            features: TYPES
                .iter()
                .map(|t| (t.replace(['<', '>'], "_"), parse_type(t).unwrap()))
                .collect(),
        }
    }

    /// A value of every type (row 0), nulls (row 1), empty lists (row 2).
    fn values(offset: i64) -> Vec<Value> {
        match offset {
            0 => vec![
                v(Kind::BoolValue(true)),
                v(Kind::Int32Value(-3)),
                v(Kind::Int64Value(i64::MAX)),
                v(Kind::Float32Value(0.5)),
                v(Kind::Float64Value(-1.25)),
                v(Kind::StringValue("é".into())),
                v(Kind::BytesValue(vec![0, 255])),
                v(Kind::TimestampValue(-1)),
                v(Kind::BoolList(pb::BoolList {
                    values: vec![true, false],
                })),
                v(Kind::Int32List(pb::Int32List { values: vec![1] })),
                v(Kind::Int64List(pb::Int64List { values: vec![2, 3] })),
                v(Kind::Float32List(pb::Float32List { values: vec![0.25] })),
                v(Kind::Float64List(pb::Float64List {
                    values: vec![1e300],
                })),
                v(Kind::StringList(pb::StringList {
                    values: vec!["a".into(), String::new()],
                })),
                v(Kind::BytesList(pb::BytesList {
                    values: vec![vec![1], vec![]],
                })),
                v(Kind::TimestampList(pb::TimestampList {
                    values: vec![1_700_000_000_000_001],
                })),
            ],
            1 => vec![v(Kind::NullValue(0)); TYPES.len()],
            _ => {
                let mut values = vec![v(Kind::NullValue(0)); 8];
                values.extend([
                    v(Kind::BoolList(pb::BoolList::default())),
                    v(Kind::Int32List(pb::Int32List::default())),
                    v(Kind::Int64List(pb::Int64List::default())),
                    v(Kind::Float32List(pb::Float32List::default())),
                    v(Kind::Float64List(pb::Float64List::default())),
                    v(Kind::StringList(pb::StringList::default())),
                    v(Kind::BytesList(pb::BytesList::default())),
                    v(Kind::TimestampList(pb::TimestampList::default())),
                ]);
                values
            }
        }
    }

    #[tokio::test]
    async fn every_type_round_trips_through_delta() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
        let t = table();
        store.ensure_table(&t).await.unwrap();
        let rows: Vec<OfflineRow> = (0..3)
            .map(|offset| OfflineRow {
                key_values: vec![
                    v(Kind::Int64Value(offset)),
                    v(Kind::TimestampValue(1_700_000_000_000_000 + offset)),
                ],
                event_time_micros: 1_700_000_000_000_000 + offset,
                feature_values: values(offset),
                ingest_time_micros: 2,
                partition: 0,
                offset,
            })
            .collect();
        store.append(&t, "mat", "topic", &rows).await.unwrap();
        let mut read = store.rows_between(&t, i64::MIN, i64::MAX).await.unwrap();
        read.sort_by_key(|r| r.offset);
        assert_eq!(read, rows);
    }

    #[tokio::test]
    async fn a_column_of_no_type_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeltaStore::new(dir.path().to_str().unwrap()).unwrap();
        let mut t = table();
        t.features.push(("odd".into(), ValueType::default()));
        let err = store.ensure_table(&t).await.unwrap_err().to_string();
        assert!(err.contains("odd"), "{err}");
        t.features.pop();
        t.keys[0].1 = ScalarType::Unspecified;
        let err = store.ensure_table(&t).await.unwrap_err().to_string();
        assert!(err.contains("id"), "{err}");
        assert!(!dir.path().join("shop/all/v1").exists());
    }
}
