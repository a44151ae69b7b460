//! `fsctl ingest`: a CSV or Parquet file into a feature group, in chunks,
//! with a progress bar and a summary of the rows accepted and rejected.
//!
//! Columns are cast to the group's types first (a CSV's inferred integers
//! for a float feature, timestamps written as text). A chunk with bad rows is
//! rejected whole by the service, with the rows and reasons; those rows are
//! dropped and the rest of the chunk is sent again. Every request carries
//! an idempotency key, so a chunk retried after a transient failure is
//! written once.

use std::{collections::HashSet, path::Path, sync::Arc};

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use featurestore_domain::{
    arrow::{data_type, scalar_data_type, timestamp_data_type},
    token,
};
use featurestore_proto::v1::{
    FeatureGroup, FeatureGroupRef, GetFeatureGroupRequest, IngestArrowRequest,
    ingestion_service_client::IngestionServiceClient,
};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tonic::Code;

use crate::{Client, status_error};

/// Attempts of one request after a transient failure (same key each time).
const MAX_RETRIES: u32 = 6;

/// The file's batches of `batch_rows` rows.
pub(crate) fn read(
    path: &Path,
    batch_rows: usize,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>>>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "parquet" => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("{} is not a Parquet file", path.display()))?
                .with_batch_size(batch_rows)
                .build()?;
            Ok(Box::new(reader.map(|b| b.map_err(Into::into))))
        }
        "csv" => {
            let format = arrow_csv::reader::Format::default().with_header(true);
            let (schema, _) = format
                .infer_schema(std::fs::File::open(path)?, Some(1000))
                .with_context(|| format!("reading the header of {}", path.display()))?;
            let reader = arrow_csv::ReaderBuilder::new(Arc::new(schema))
                .with_format(format)
                .with_batch_size(batch_rows)
                .build(file)?;
            Ok(Box::new(reader.map(|b| b.map_err(Into::into))))
        }
        _ => bail!("{}: give a .csv or .parquet file", path.display()),
    }
}

/// The Arrow type each column the group knows is sent as (the rule of
/// `featurestore_domain::arrow`: timestamps as µs UTC; a naive timestamp
/// string reads as UTC). Lists are sent as they are: casting them would
/// refuse a whole chunk over one null element.
fn target_types(g: &FeatureGroup) -> Result<Vec<(String, DataType)>> {
    let mut types = Vec::with_capacity(g.primary_key.len() + 1 + g.features.len());
    for k in &g.primary_key {
        types.push((k.name.clone(), scalar_data_type(&k.name, k.r#type())?));
    }
    types.push((g.event_time_column.clone(), timestamp_data_type()));
    for f in &g.features {
        let ty = f.r#type.unwrap_or_default();
        if !ty.is_list {
            types.push((f.name.clone(), data_type(&f.name, &ty)?));
        }
    }
    Ok(types)
}

/// `batch` with every column the group knows cast to the group's type, and
/// the rows with a value that does not read as that type (with why), which
/// are left out.
fn conform(
    batch: &RecordBatch,
    types: &[(String, DataType)],
) -> Result<(RecordBatch, Vec<(usize, String)>)> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut unreadable: Vec<(usize, String)> = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match types.iter().find(|(name, _)| name == field.name()) {
            Some((_, ty)) if ty != column.data_type() => {
                let cast = arrow_cast::cast(column, ty).with_context(|| {
                    format!(
                        "column {}: cannot read {} as {ty}",
                        field.name(),
                        column.data_type()
                    )
                })?;
                for i in 0..column.len() {
                    if column.is_valid(i) && cast.is_null(i) {
                        let text = arrow_cast::display::ArrayFormatter::try_new(
                            column.as_ref(),
                            &Default::default(),
                        )?
                        .value(i)
                        .to_string();
                        unreadable.push((i, format!("{}: {text:?} is not a {ty}", field.name())));
                    }
                }
                fields.push(Field::new(field.name(), ty.clone(), true));
                columns.push(cast);
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    let conformed = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    Ok((conformed, unreadable))
}

/// `batch` without the rows at `drop`, and the kept rows' positions.
fn without(batch: &RecordBatch, drop: &HashSet<usize>) -> Result<(RecordBatch, Vec<usize>)> {
    let keep: Vec<usize> = (0..batch.num_rows())
        .filter(|i| !drop.contains(i))
        .collect();
    let indices = UInt32Array::from_iter_values(keep.iter().map(|i| *i as u32));
    Ok((
        arrow_select::take::take_record_batch(batch, &indices)?,
        keep,
    ))
}

fn ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// A rejected row: its number in the file (from 1) and why.
pub struct Rejected {
    pub row: u64,
    pub reason: String,
}

pub async fn run(
    registry: &mut Client,
    ingestion: &str,
    project: String,
    group: &str,
    file: &Path,
    batch_rows: usize,
) -> Result<(FeatureGroup, Vec<u8>)> {
    // The file is opened first: a wrong path or kind fails before any call.
    let batches = read(file, batch_rows)?;
    let (name, version) = match group.split_once('@') {
        Some((name, v)) => (name, v.parse().context("--group name@version")?),
        None => (group, 0),
    };
    let g = registry
        .get_feature_group(GetFeatureGroupRequest {
            project: project.clone(),
            name: name.to_string(),
            version,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let types = target_types(&g)?;
    let target = FeatureGroupRef {
        project,
        name: g.name.clone(),
        version: g.version,
    };
    let timeout = std::time::Duration::from_secs(120);
    let channel = crate::connect(ingestion, "ingestion service", timeout).await?;
    let mut client = IngestionServiceClient::new(crate::credentials::authorized(channel))
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20);
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows sent ({per_sec}) {msg}")
            .context("progress style")?,
    );
    let (mut accepted, mut read_rows) = (0u64, 0u64);
    let mut rejected: Vec<Rejected> = Vec::new();
    // Each request carries an idempotency key: a retry after a transient
    // failure (UNAVAILABLE, ABORTED) never writes a chunk twice.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0u64;
    for batch in batches {
        let (batch, unreadable) = conform(&batch?, &types)?;
        let first = read_rows;
        read_rows += batch.num_rows() as u64;
        let dropped: HashSet<usize> = unreadable.iter().map(|(i, _)| *i).collect();
        rejected.extend(unreadable.into_iter().map(|(i, reason)| Rejected {
            row: first + i as u64 + 1,
            reason,
        }));
        let (mut pending, kept) = without(&batch, &dropped)?;
        // File row numbers (from 0) of the rows still in `pending`.
        let mut rows: Vec<u64> = kept.iter().map(|i| first + *i as u64).collect();
        let mut retries = 0u32;
        while pending.num_rows() > 0 {
            sent += 1;
            let request = IngestArrowRequest {
                group: Some(target.clone()),
                arrow_ipc_stream: ipc(&pending)?,
                idempotency_key: format!("fsctl-{run}-{sent}"),
            };
            let result = loop {
                match client.ingest_arrow(request.clone()).await {
                    Err(status)
                        if matches!(status.code(), Code::Unavailable | Code::Aborted)
                            && retries < MAX_RETRIES =>
                    {
                        retries += 1;
                        progress.set_message(format!("retrying: {}", status.message()));
                        tokio::time::sleep(std::time::Duration::from_millis(250 << retries.min(5)))
                            .await;
                    }
                    other => break other,
                }
            };
            progress.set_message("");
            match result {
                Ok(response) => {
                    let response = response.into_inner();
                    accepted += response.rows_accepted;
                    if !response.write_token.is_empty() {
                        tokens.push(response.write_token);
                    }
                    break;
                }
                Err(status) => {
                    let Some(bad) = featurestore_proto::error::bad_rows(&status) else {
                        progress.abandon();
                        return Err(status_error(status));
                    };
                    let dropped: HashSet<usize> =
                        bad.violations.iter().map(|v| v.row as usize).collect();
                    for v in &bad.violations {
                        let field = if v.field.is_empty() {
                            String::new()
                        } else {
                            format!("{}: ", v.field)
                        };
                        rejected.push(Rejected {
                            row: rows[v.row as usize] + 1,
                            reason: format!("{field}{}", v.reason),
                        });
                    }
                    if dropped.is_empty() {
                        progress.abandon();
                        return Err(status_error(status));
                    }
                    let (rest, kept) = without(&pending, &dropped)?;
                    rows = kept.iter().map(|i| rows[*i]).collect();
                    pending = rest;
                }
            }
        }
        progress.set_position(read_rows);
    }
    progress.finish_and_clear();
    rejected.sort_by_key(|r| r.row);
    println!(
        "{}: {read_rows} rows read, {accepted} accepted, {} rejected into {}@{}",
        file.display(),
        rejected.len(),
        g.name,
        g.version
    );
    for r in rejected.iter().take(20) {
        println!("  row {}: {}", r.row, r.reason);
    }
    if rejected.len() > 20 {
        println!("  ... and {} more", rejected.len() - 20);
    }
    // One token for the whole file: per partition the largest offset.
    let written = token::combine("write_token", &tokens)
        .map_err(|e| anyhow!("the ingestion service answered a bad token: {e}"))?;
    let combined = token::seal(&token::to_token(&written));
    let summary: Vec<String> = written
        .iter()
        .map(|(id, ends)| {
            let ends: Vec<String> = ends.iter().map(|(p, o)| format!("{p}:{o}")).collect();
            format!("{id} partition:end_offset {}", ends.join(" "))
        })
        .collect();
    println!("write token: {} ({})", hex(&combined), summary.join("; "));
    Ok((g, combined))
}

/// Lower-case hex, as the write token is printed (and read back by
/// `fsctl get-vectors --after-write`).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a printed token.
pub fn unhex(text: &str) -> Result<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        bail!("--after-write {text:?}: not a printed write token (odd length)");
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .with_context(|| format!("--after-write: not a printed write token ({text:?})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow_array::{
        Int64Array, StringArray, TimestampNanosecondArray, cast::AsArray,
        types::TimestampMicrosecondType,
    };
    use arrow_schema::TimeUnit;
    use featurestore_domain::fixtures;
    use featurestore_proto::v1::ScalarType;

    use super::*;

    #[test]
    fn the_group_types_are_the_domain_types() {
        let mut g = fixtures::group(
            "shop",
            "orders",
            "customer",
            &[("amount", "float64"), ("embedding", "list<float32>")],
        );
        g.primary_key = vec![fixtures::key("customer_id", ScalarType::Int64)];
        g.event_time_column = "event_time".into();
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(
            target_types(&g).unwrap(),
            [
                ("customer_id".to_string(), DataType::Int64),
                ("event_time".to_string(), utc),
                ("amount".to_string(), DataType::Float64),
            ],
            "lists are sent as they are"
        );
        g.primary_key[0].r#type = ScalarType::Unspecified as i32;
        let err = target_types(&g).unwrap_err().to_string();
        assert!(err.contains("customer_id"), "{err}");
    }

    #[test]
    fn naive_and_zoned_timestamps_keep_their_instant() {
        let nanos = 1_714_557_600_123_456_789_i64;
        let types = [(
            "event_time".to_string(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )];
        for tz in [None, Some("+02:00")] {
            let column = TimestampNanosecondArray::from(vec![nanos]).with_timezone_opt(tz);
            let batch = RecordBatch::try_from_iter([(
                "event_time",
                Arc::new(column) as arrow_array::ArrayRef,
            )])
            .unwrap();
            let (out, unreadable) = conform(&batch, &types).unwrap();
            assert!(unreadable.is_empty());
            assert_eq!(
                out.column(0)
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(0),
                nanos / 1_000,
                "{tz:?}"
            );
        }
    }

    #[test]
    fn columns_are_cast_to_the_group_types() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("amount", DataType::Int64, true),
            Field::new("event_time", DataType::Utf8, true),
            Field::new("extra", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![3, 4, 5])),
                Arc::new(StringArray::from(vec![
                    "2024-05-01T10:00:00Z",
                    "2024-05-01T10:00:00",
                    "2024-05-01 12:00:00+02:00",
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        let types = [
            ("amount".to_string(), DataType::Float64),
            (
                "event_time".to_string(),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
        ];
        let (out, unreadable) = conform(&batch, &types).unwrap();
        assert!(unreadable.is_empty());
        assert_eq!(out.column(0).data_type(), &DataType::Float64);
        assert_eq!(out.column(1).data_type(), &types[1].1);
        // Zoned, naive (read as UTC) and offset strings: the same instant.
        let micros = 1_714_557_600_000_000;
        assert_eq!(
            out.column(1)
                .as_primitive::<TimestampMicrosecondType>()
                .values(),
            &[micros; 3]
        );
        assert_eq!(
            out.column(2).data_type(),
            &DataType::Int64,
            "unknown columns pass as they are"
        );

        let bad = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "amount",
                DataType::Utf8,
                true,
            )])),
            vec![Arc::new(StringArray::from(vec![
                Some("1.5"),
                Some("abc"),
                None,
            ]))],
        )
        .unwrap();
        let (out, unreadable) = conform(&bad, &types).unwrap();
        assert_eq!(out.num_rows(), 3);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].0, 1);
        assert!(
            unreadable[0].1.contains("\"abc\" is not a Float64"),
            "{}",
            unreadable[0].1
        );
    }
}
