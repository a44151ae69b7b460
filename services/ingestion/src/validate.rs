//! Row validation and encoding, compiled once per feature-group version.
//!
//! A [`GroupSchema`] maps column names to key / event time / feature slots;
//! a [`ColumnPlan`] maps one request's column list onto it. Each row is
//! checked completely (every bad field is reported, up to a cap), and good
//! rows become Kafka records: key = encoded entity key, partition = its
//! hash, payload = a `FeatureRowRecord`.

use std::{collections::HashMap, sync::Arc};

use featurestore_domain::{
    EntityKeyEncoder, partition_for,
    types::{check_value, scalar_name},
};
use featurestore_eventlog::Record;
use featurestore_proto::v1::{
    BadRows, FeatureGroup, FeatureRowRecord, FieldViolation, Row, ScalarType, Value, value::Kind,
};
use prost::Message;

use crate::error::IngestionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Key(usize),
    EventTime,
    Feature(usize),
}

/// What ingestion needs to know about one feature-group version.
#[derive(Debug)]
pub struct GroupSchema {
    pub group: Arc<FeatureGroup>,
    pub topic: String,
    encoder: EntityKeyEncoder,
    slots: HashMap<String, Slot>,
}

/// The slots of one request's columns, in request order.
#[derive(Debug)]
pub struct ColumnPlan {
    columns: Vec<String>,
    slots: Vec<Slot>,
}

/// Violations found so far in a request (or stream), capped.
#[derive(Debug, Default)]
pub struct Violations {
    found: Vec<FieldViolation>,
    bad_rows: u64,
    cap: usize,
    truncated: bool,
}

impl Violations {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bad_rows == 0
    }

    fn add(&mut self, row: u64, field: &str, reason: String) {
        if self.found.len() < self.cap {
            self.found.push(FieldViolation {
                row,
                field: field.to_string(),
                reason,
            });
        } else {
            self.truncated = true;
        }
    }

    /// The error for a request with bad rows, `total` rows in all.
    pub fn into_error(self, total: u64) -> IngestionError {
        let first = self
            .found
            .first()
            .map(|v| format!("; first: row {} {}: {}", v.row, v.field, v.reason))
            .unwrap_or_default();
        IngestionError::BadRows {
            summary: format!(
                "{} of {total} row(s) rejected, nothing was written{first}",
                self.bad_rows
            ),
            details: BadRows {
                violations: self.found,
                truncated: self.truncated,
            },
        }
    }
}

impl GroupSchema {
    pub fn compile(group: Arc<FeatureGroup>) -> Self {
        let mut slots = HashMap::new();
        for (i, key) in group.primary_key.iter().enumerate() {
            slots.insert(key.name.clone(), Slot::Key(i));
        }
        slots.insert(group.event_time_column.clone(), Slot::EventTime);
        for (i, feature) in group.features.iter().enumerate() {
            slots.insert(feature.name.clone(), Slot::Feature(i));
        }
        Self {
            topic: featurestore_domain::names::topic_name(
                &group.project,
                &group.name,
                group.version,
            ),
            encoder: EntityKeyEncoder::new(&group.primary_key),
            slots,
            group,
        }
    }

    /// Maps a request's column names; every key column and the event time
    /// column must be present, features may be left out (written as null).
    pub fn plan(&self, columns: Vec<String>) -> Result<ColumnPlan, IngestionError> {
        let mut seen = vec![false; self.slots.len()];
        let mut slots = Vec::with_capacity(columns.len());
        let index = |slot: Slot| match slot {
            Slot::Key(i) => i,
            Slot::EventTime => self.group.primary_key.len(),
            Slot::Feature(i) => self.group.primary_key.len() + 1 + i,
        };
        for (i, name) in columns.iter().enumerate() {
            let slot = *self.slots.get(name).ok_or_else(|| {
                IngestionError::invalid(
                    format!("columns[{i}]"),
                    format!("{name:?} is not a column of feature group {}", self.label()),
                )
            })?;
            if std::mem::replace(&mut seen[index(slot)], true) {
                return Err(IngestionError::invalid(
                    format!("columns[{i}]"),
                    format!("column {name:?} appears twice"),
                ));
            }
            slots.push(slot);
        }
        for key in &self.group.primary_key {
            if !columns.contains(&key.name) {
                return Err(IngestionError::invalid(
                    "columns",
                    format!("the key column {:?} is missing", key.name),
                ));
            }
        }
        if !columns.contains(&self.group.event_time_column) {
            return Err(IngestionError::invalid(
                "columns",
                format!(
                    "the event time column {:?} is missing",
                    self.group.event_time_column
                ),
            ));
        }
        Ok(ColumnPlan { columns, slots })
    }

    pub fn label(&self) -> String {
        format!(
            "{}/{}@{}",
            self.group.project, self.group.name, self.group.version
        )
    }

    /// Validates one row (index `row_index` of the request) and turns it
    /// into a record; records every problem in `violations`.
    pub fn encode_row(
        &self,
        plan: &ColumnPlan,
        row: Row,
        row_index: u64,
        ingest_time_micros: i64,
        headers: &[(String, Vec<u8>)],
        violations: &mut Violations,
    ) -> Option<Record> {
        let before = violations.found.len() + usize::from(violations.truncated);
        let mut bad = false;
        if row.values.len() != plan.slots.len() {
            violations.add(
                row_index,
                "",
                format!(
                    "expected {} values (one per column), got {}",
                    plan.slots.len(),
                    row.values.len()
                ),
            );
            violations.bad_rows += 1;
            return None;
        }
        let null = || Value {
            kind: Some(Kind::NullValue(0)),
        };
        let mut keys: Vec<Value> = vec![Value::default(); self.group.primary_key.len()];
        let mut features: Vec<Value> = (0..self.group.features.len()).map(|_| null()).collect();
        let mut event_time = None;
        for ((slot, value), column) in plan.slots.iter().zip(row.values).zip(&plan.columns) {
            match *slot {
                Slot::Key(i) => keys[i] = value,
                Slot::EventTime => match value.kind {
                    Some(Kind::TimestampValue(t)) => event_time = Some(t),
                    other => {
                        bad = true;
                        violations.add(
                            row_index,
                            column,
                            format!(
                                "the event time must be a timestamp (µs since epoch), got {}",
                                describe(other.as_ref())
                            ),
                        );
                    }
                },
                Slot::Feature(i) => {
                    let ty = self.group.features[i].r#type.unwrap_or_default();
                    if let Err(reason) = check_value(&ty, value.kind.as_ref()) {
                        bad = true;
                        violations.add(row_index, column, reason);
                    }
                    features[i] = value;
                }
            }
        }
        let mut key = Vec::with_capacity(16);
        if let Err(e) = self
            .encoder
            .encode_into(keys.iter().map(|v| v.kind.as_ref()), &mut key)
        {
            bad = true;
            let (field, reason) = match e {
                featurestore_domain::DomainError::InvalidArgument { field, reason } => {
                    (field, reason)
                }
                other => (String::new(), other.to_string()),
            };
            violations.add(row_index, &field, reason);
        }
        if bad || violations.found.len() + usize::from(violations.truncated) > before {
            violations.bad_rows += 1;
            return None;
        }
        let payload = FeatureRowRecord {
            key_values: keys,
            event_time_micros: event_time.unwrap_or_default(),
            feature_values: features,
            ingest_time_micros,
        }
        .encode_to_vec();
        Some(Record {
            partition: partition_for(&key, self.group.partitions) as i32,
            key,
            payload,
            headers: headers.to_vec(),
        })
    }
}

fn describe(kind: Option<&Kind>) -> String {
    match kind {
        None => "an unset value".into(),
        Some(Kind::NullValue(_)) => "null".into(),
        Some(k) => featurestore_domain::types::type_of(k)
            .map(|t| featurestore_domain::types::type_name(&t))
            .unwrap_or_else(|| scalar_name(ScalarType::Unspecified).into()),
    }
}

#[cfg(test)]
mod tests {
    use featurestore_domain::{
        fixtures::{entity, group},
        schema::normalize_feature_group,
    };

    use super::*;

    fn schema() -> GroupSchema {
        let mut g = group(
            "shop",
            "orders",
            "customer",
            &[("amount", "float64"), ("tags", "list<string>")],
        );
        normalize_feature_group(
            &mut g,
            &entity("shop", "customer", &[("customer_id", ScalarType::Int64)]),
            4,
        )
        .unwrap();
        g.version = 1;
        GroupSchema::compile(Arc::new(g))
    }

    fn v(kind: Kind) -> Value {
        Value { kind: Some(kind) }
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn good_rows_become_records_on_their_key_partition() {
        let s = schema();
        let columns = cols(&["customer_id", "event_time", "amount"]);
        let plan = s.plan(columns.clone()).unwrap();
        let row = Row {
            values: vec![
                v(Kind::Int64Value(42)),
                v(Kind::TimestampValue(7)),
                v(Kind::Float64Value(1.5)),
            ],
        };
        let mut violations = Violations::new(10);
        let record = s
            .encode_row(&plan, row, 0, 99, &[], &mut violations)
            .unwrap();
        assert!(violations.is_empty());
        assert_eq!(record.partition as u32, partition_for(&record.key, 4));
        let payload = FeatureRowRecord::decode(record.payload.as_slice()).unwrap();
        assert_eq!(payload.event_time_micros, 7);
        assert_eq!(payload.feature_values[0], v(Kind::Float64Value(1.5)));
        assert_eq!(
            payload.feature_values[1],
            v(Kind::NullValue(0)),
            "features left out are null"
        );
        assert_eq!(s.topic, "fs.shop.orders.v1");
    }

    #[test]
    fn every_bad_field_is_reported_with_its_row() {
        let s = schema();
        let columns = cols(&["customer_id", "event_time", "amount"]);
        let plan = s.plan(columns.clone()).unwrap();
        let mut violations = Violations::new(10);
        let rows = [
            Row {
                values: vec![
                    v(Kind::StringValue("x".into())),
                    v(Kind::TimestampValue(1)),
                    v(Kind::StringValue("1.5".into())),
                ],
            },
            Row {
                values: vec![
                    v(Kind::NullValue(0)),
                    v(Kind::Int64Value(1)),
                    v(Kind::Float64Value(1.0)),
                ],
            },
            Row {
                values: vec![v(Kind::Int64Value(1))],
            },
        ];
        for (i, row) in rows.into_iter().enumerate() {
            assert!(
                s.encode_row(&plan, row, i as u64, 0, &[], &mut violations)
                    .is_none()
            );
        }
        let IngestionError::BadRows { details, summary } = violations.into_error(3) else {
            panic!()
        };
        assert!(summary.starts_with("3 of 3 row(s) rejected"), "{summary}");
        let got: Vec<(u64, &str)> = details
            .violations
            .iter()
            .map(|v| (v.row, v.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0, "amount"),
                (0, "customer_id"),
                (1, "event_time"),
                (1, "customer_id"),
                (2, "")
            ]
        );
    }

    #[test]
    fn request_columns_are_checked() {
        let s = schema();
        for (columns, needle) in [
            (
                cols(&["customer_id", "event_time", "nope"]),
                "\"nope\" is not a column",
            ),
            (
                cols(&["event_time", "amount"]),
                "key column \"customer_id\" is missing",
            ),
            (cols(&["customer_id", "amount"]), "event time column"),
            (
                cols(&["customer_id", "event_time", "amount", "amount"]),
                "appears twice",
            ),
        ] {
            let err = s.plan(columns).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
