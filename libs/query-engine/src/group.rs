//! One group's part of a query: entity rows and the group's Delta rows, both
//! sorted by `(keys, time)` by DataFusion (spilling), merged as of each
//! entity row's time, then sorted back by `_row_id`.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::{
    common::DFSchema,
    error::DataFusionError,
    execution::{SendableRecordBatchStream, TaskContext},
    logical_expr::{Expr, SortExpr, cast, col},
    physical_expr::{LexOrdering, PhysicalSortExpr, expressions::Column},
    physical_plan::{ExecutionPlan, sorts::sort::SortExec, stream::RecordBatchStreamAdapter},
    prelude::{DataFrame, SessionContext},
};
use featurestore_domain::DomainError;
use featurestore_offlinestore::{EVENT_TIME, INGEST_TIME, SOURCE_OFFSET, SOURCE_PARTITION};
use featurestore_pitjoin::{AsOfOptions, KEY, ROW_ID, TIME};
use featurestore_proto::v1::{FeatureGroup, ScalarType};
use futures::{StreamExt, stream::BoxStream};

use crate::{QueryError, Result};

/// The Arrow type a key of this scalar type is compared as (the rule of
/// `featurestore_domain::arrow`: timestamps are µs UTC); a key of no type
/// is an error naming it.
pub(crate) fn key_type(group: &FeatureGroup, key: &str, ty: ScalarType) -> Result<DataType> {
    featurestore_domain::arrow::scalar_data_type(&format!("{}.{key}", group.name), ty).map_err(
        |e| match e {
            DomainError::InvalidArgument { field, reason } => QueryError::invalid(field, reason),
            other => QueryError::Internal(other.to_string()),
        },
    )
}

/// Whether an entity column of type `actual` can stand for a key of `wanted`.
fn compatible(actual: &DataType, wanted: &DataType) -> bool {
    use DataType::*;
    match wanted {
        Int32 | Int64 => matches!(
            actual,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
        ),
        Utf8 => matches!(actual, Utf8 | LargeUtf8 | Utf8View),
        Binary => matches!(actual, Binary | LargeBinary | BinaryView),
        Float32 | Float64 => matches!(actual, Float16 | Float32 | Float64),
        Timestamp(_, _) => matches!(actual, Timestamp(_, _)),
        other => actual == other,
    }
}

/// The entity columns a group needs are there, with usable types.
pub(crate) fn check_entity_columns(
    entity: &DFSchema,
    timestamp_column: &str,
    group: &FeatureGroup,
) -> Result<()> {
    for key in &group.primary_key {
        let wanted = key_type(group, &key.name, key.r#type())?;
        let field = entity.field_with_unqualified_name(&key.name).map_err(|_| {
            QueryError::invalid(
                format!("entity_rows.{}", key.name),
                format!(
                    "missing: feature group {:?} is keyed by it ({})",
                    group.name, wanted
                ),
            )
        })?;
        if !compatible(field.data_type(), &wanted) {
            return Err(QueryError::invalid(
                format!("entity_rows.{}", key.name),
                format!(
                    "has type {}, but the key of feature group {:?} is {}",
                    field.data_type(),
                    group.name,
                    wanted
                ),
            ));
        }
    }
    check_timestamp_column(entity, timestamp_column)
}

/// The entity rows' time column exists and holds timestamps.
pub(crate) fn check_timestamp_column(entity: &DFSchema, timestamp_column: &str) -> Result<()> {
    let field = entity
        .field_with_unqualified_name(timestamp_column)
        .map_err(|_| {
            QueryError::invalid(
                format!("entity_rows.{timestamp_column}"),
                "missing: every entity row needs the time to read features as of",
            )
        })?;
    if !matches!(field.data_type(), DataType::Timestamp(_, _)) {
        return Err(QueryError::invalid(
            format!("entity_rows.{timestamp_column}"),
            format!("has type {}; a timestamp is needed", field.data_type()),
        ));
    }
    Ok(())
}

/// Microseconds since the epoch of a timestamp column, as Int64.
pub(crate) fn micros(column: &str) -> Expr {
    cast(
        cast(
            col(column),
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        DataType::Int64,
    )
}

fn quoted(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

pub(crate) fn key_columns(group: &FeatureGroup) -> Result<Vec<(String, DataType)>> {
    group
        .primary_key
        .iter()
        .map(|k| Ok((k.name.clone(), key_type(group, &k.name, k.r#type())?)))
        .collect()
}

/// `(keys..., _time, _row_id)` of the spooled entity rows, sorted.
pub(crate) async fn sorted_entities(
    entities: DataFrame,
    timestamp_column: &str,
    group: &FeatureGroup,
) -> Result<Sorted> {
    let keys = key_columns(group)?;
    let mut select: Vec<Expr> = keys
        .iter()
        .map(|(name, ty)| cast(quoted(name), ty.clone()).alias(name))
        .collect();
    select.push(micros(timestamp_column).alias(TIME));
    select.push(quoted(ROW_ID));
    let mut order: Vec<SortExpr> = keys
        .iter()
        .map(|(n, _)| quoted(n).sort(true, true))
        .collect();
    order.push(quoted(TIME).sort(true, true));
    let stream = entities
        .select(select)?
        .sort(order)?
        .execute_stream()
        .await?;
    with_key_column(stream, &keys)
}

/// The tie-break of feature rows with equal event times, in order: the row
/// ingested last wins.
pub(crate) const TIE_BREAK: [&str; 3] = [INGEST_TIME, SOURCE_PARTITION, SOURCE_OFFSET];

/// `(keys..., _time, features..., tie-break...)` of a group's Delta rows:
/// keys and features cast to their output types, event time as µs.
pub(crate) fn feature_projection(
    rows: DataFrame,
    group: &FeatureGroup,
    features: &[(String, DataType)],
) -> Result<DataFrame> {
    let mut select: Vec<Expr> = key_columns(group)?
        .iter()
        .map(|(name, ty)| cast(quoted(name), ty.clone()).alias(name))
        .collect();
    select.push(micros(EVENT_TIME).alias(TIME));
    // Scans may hand strings over as views; the output keeps the table's types.
    // A column read at two types (an aggregation's input read as a number
    // and as distinct items) is named apart the second time: columns are
    // read by position.
    select.extend(features.iter().enumerate().map(|(i, (name, ty))| {
        let again = features[..i].iter().any(|(n, _)| n == name);
        let alias = if again {
            format!("{name}#{i}")
        } else {
            name.clone()
        };
        cast(quoted(name), ty.clone()).alias(alias)
    }));
    select.extend(TIE_BREAK.map(quoted));
    Ok(rows.select(select)?)
}

/// A group's Delta rows (see [`feature_projection`]) sorted by keys, event
/// time, then the tie-break.
pub(crate) async fn sorted_features(
    rows: DataFrame,
    group: &FeatureGroup,
    features: &[(String, DataType)],
) -> Result<Sorted> {
    let keys = key_columns(group)?;
    let mut order: Vec<SortExpr> = keys
        .iter()
        .map(|(n, _)| quoted(n).sort(true, true))
        .collect();
    for column in [TIME].into_iter().chain(TIE_BREAK) {
        order.push(quoted(column).sort(true, true));
    }
    let stream = feature_projection(rows, group, features)?
        .sort(order)?
        .execute_stream()
        .await?;
    with_key_column(stream, &keys)
}

/// Adds `_key`: the key columns in Arrow's row format, whose byte order is
/// the sort order DataFusion used (ascending, nulls first).
fn with_key_column(
    stream: SendableRecordBatchStream,
    keys: &[(String, DataType)],
) -> Result<Sorted> {
    let converter = RowConverter::new(
        keys.iter()
            .map(|(_, ty)| SortField::new(ty.clone()))
            .collect(),
    )?;
    let input = stream.schema();
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(KEY, DataType::Binary, false));
    let schema = Arc::new(Schema::new(fields));
    let key_indices = keys
        .iter()
        .map(|(name, _)| input.index_of(name))
        .collect::<Result<Vec<_>, _>>()?;
    let out = schema.clone();
    let stream = stream
        .map(move |batch| {
            let batch = batch?;
            let columns: Vec<ArrayRef> = key_indices
                .iter()
                .map(|i| batch.column(*i).clone())
                .collect();
            let keys: BinaryArray = converter.convert_columns(&columns)?.try_into_binary()?;
            let mut all = batch.columns().to_vec();
            all.push(Arc::new(keys));
            Ok(RecordBatch::try_new(out.clone(), all)?)
        })
        .boxed();
    Ok(Sorted { schema, stream })
}

/// A sorted side of the merge, with its `_key` column.
pub(crate) struct Sorted {
    pub schema: SchemaRef,
    pub stream: BoxStream<'static, Result<RecordBatch, DataFusionError>>,
}

/// Merges the sorted sides and sorts the result back by `_row_id`:
/// `(_row_id, _feature_time, features...)`.
pub(crate) fn join(
    ctx: &SessionContext,
    entities: Sorted,
    features: Sorted,
    feature_names: &[String],
    ttl_seconds: i64,
) -> Result<SendableRecordBatchStream> {
    let options = AsOfOptions {
        ttl_micros: (ttl_seconds > 0).then(|| ttl_seconds.saturating_mul(1_000_000)),
        batch_size: ctx.copied_config().batch_size(),
    };
    let merged = featurestore_pitjoin::asof_merge(
        entities.stream,
        features.stream,
        &features.schema,
        feature_names,
        options,
    )?;
    let schema = featurestore_pitjoin::output_schema(&features.schema, feature_names)?;
    by_row_id(ctx, Box::pin(RecordBatchStreamAdapter::new(schema, merged)))
}

/// `stream` (its first column `_row_id`) sorted by `_row_id`, spilling.
pub(crate) fn by_row_id(
    ctx: &SessionContext,
    stream: SendableRecordBatchStream,
) -> Result<SendableRecordBatchStream> {
    let input = crate::oneshot::exec(stream)?;
    let ordering = LexOrdering::new(vec![PhysicalSortExpr::new_default(Arc::new(Column::new(
        ROW_ID, 0,
    )))])
    .ok_or_else(|| QueryError::Internal("empty sort order".into()))?;
    let sort = Arc::new(SortExec::new(ordering, input));
    let task: Arc<TaskContext> = ctx.task_ctx();
    Ok(sort.execute(0, task)?)
}

#[cfg(test)]
mod tests {
    use featurestore_domain::fixtures;

    use super::*;

    fn keyed(ty: ScalarType) -> FeatureGroup {
        let mut group = fixtures::group("shop", "orders", "customer", &[("amount", "float64")]);
        group.primary_key = vec![fixtures::key("customer_id", ty)];
        group
    }

    #[test]
    fn key_types_follow_the_domain_rule() {
        assert_eq!(
            key_columns(&keyed(ScalarType::Timestamp)).unwrap(),
            [(
                "customer_id".to_string(),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            )]
        );
        assert_eq!(
            key_columns(&keyed(ScalarType::Bytes)).unwrap()[0].1,
            DataType::Binary
        );
    }

    #[test]
    fn a_key_of_no_type_is_refused_naming_it() {
        let group = keyed(ScalarType::Unspecified);
        match key_columns(&group).unwrap_err() {
            QueryError::InvalidArgument { field, .. } => assert_eq!(field, "orders.customer_id"),
            other => panic!("unexpected {other:?}"),
        }
        let entity = DFSchema::try_from(Schema::new(vec![
            Field::new("customer_id", DataType::Binary, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
        ]))
        .unwrap();
        let err = check_entity_columns(&entity, "ts", &group).unwrap_err();
        assert!(err.to_string().contains("customer_id"), "{err}");
    }
}
