//! `fsctl training-set ...`: point-in-time training sets through the offline
//! query service — create one from a view and a local Parquet file of entity
//! rows, list them, export one to a local Parquet file over Arrow Flight.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use arrow_flight::{FlightClient, Ticket};
use clap::{Subcommand, ValueEnum};
use featurestore_proto::v1::{
    CreateTrainingDatasetRequest, DatasetFormat, EntitySource, GetHistoricalFeaturesRequest,
    GetTrainingDatasetRequest, ListTrainingDatasetsRequest, TrainingDataset, entity_source::Source,
    get_historical_features_request::Features,
    training_dataset_service_client::TrainingDatasetServiceClient,
};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use tonic::transport::Channel;

use crate::{Output, print, status_error, table, view_ref};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Parquet,
    Delta,
}

#[derive(Debug, Subcommand)]
pub enum TrainingSet {
    /// Join a view's features, as of each entity row's time, to the entity
    /// rows of a local Parquet file, and store the result as a named,
    /// versioned training set.
    Create {
        name: String,
        #[arg(long, short = 'p')]
        project: String,
        /// The feature view, `name` or `name@version`.
        #[arg(long)]
        view: String,
        /// Parquet or CSV file of entity rows: the view's keys and a
        /// timestamp column (extra columns, labels say, are kept).
        #[arg(long)]
        entities: PathBuf,
        #[arg(long, default_value = "event_timestamp")]
        timestamp_column: String,
        #[arg(long, value_enum, default_value = "parquet")]
        format: Format,
        /// 0 = the next version.
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// A write token `fsctl ingest` printed (repeat for several): the
        /// set includes those rows (waits until they are in Delta).
        #[arg(long = "after-write", conflicts_with = "at_least")]
        after_write: Vec<String>,
        /// Wait until every row with event time up to this one is in
        /// Delta (`AT_LEAST`): an RFC 3339 time, or `entities` for the
        /// latest entity-row time.
        #[arg(long = "at-least")]
        at_least: Option<String>,
    },
    /// List a project's training sets.
    List {
        #[arg(long, short = 'p')]
        project: String,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
    },
    /// Write a training set's rows to a local Parquet file.
    Export {
        name: String,
        #[arg(long, short = 'p')]
        project: String,
        /// 0 = the latest version.
        #[arg(long, default_value_t = 0)]
        version: u32,
        #[arg(long)]
        out: PathBuf,
    },
}

/// The rows of a local Parquet file as an Arrow IPC stream.
fn entity_rows(path: &Path) -> Result<Vec<u8>> {
    let mut writer = None;
    for batch in crate::ingest::read(path, 65_536)? {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let writer = match &mut writer {
            Some(writer) => writer,
            None => writer.insert(arrow_ipc::writer::StreamWriter::try_new(
                Vec::new(),
                &batch.schema(),
            )?),
        };
        writer.write(&batch)?;
    }
    let Some(writer) = writer else {
        bail!("{} has no entity rows", path.display());
    };
    Ok(writer.into_inner()?)
}

#[derive(Serialize)]
struct Summary {
    name: String,
    version: u32,
    format: String,
    rows: u64,
    location: String,
    table_versions: BTreeMap<String, i64>,
}

fn summary(d: &TrainingDataset) -> Summary {
    Summary {
        name: d.name.clone(),
        version: d.version,
        format: DatasetFormat::try_from(d.format)
            .map(|f| {
                f.as_str_name()
                    .trim_start_matches("DATASET_FORMAT_")
                    .to_lowercase()
            })
            .unwrap_or_default(),
        rows: d.row_count,
        location: d.location.clone(),
        table_versions: d.table_versions.clone().into_iter().collect(),
    }
}

pub async fn run(channel: Channel, command: TrainingSet) -> Result<()> {
    let mut client =
        TrainingDatasetServiceClient::new(crate::credentials::authorized(channel.clone()))
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20);
    match command {
        TrainingSet::Create {
            name,
            project,
            view,
            entities,
            timestamp_column,
            format,
            version,
            after_write,
            at_least,
        } => {
            let rows = entity_rows(&entities)?;
            let tokens = after_write
                .iter()
                .map(|t| crate::ingest::unhex(t))
                .collect::<Result<Vec<_>>>()?;
            let at_least = at_least
                .map(|t| crate::wait::at_least_micros(&t, true))
                .transpose()?;
            let consistency = crate::wait::requested(tokens, at_least);
            let dataset = client
                .create_training_dataset(CreateTrainingDatasetRequest {
                    project: project.clone(),
                    name,
                    version,
                    query: Some(GetHistoricalFeaturesRequest {
                        project,
                        features: Some(Features::View(view_ref(&view)?)),
                        entities: Some(EntitySource {
                            source: Some(Source::ArrowIpcStream(rows)),
                            timestamp_column,
                            delta_version: None,
                        }),
                        consistency,
                    }),
                    format: match format {
                        Format::Parquet => DatasetFormat::Parquet,
                        Format::Delta => DatasetFormat::Delta,
                    } as i32,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let s = summary(&dataset);
            println!(
                "created training set {}@{}: {} rows ({}) at {}",
                s.name, s.version, s.rows, s.format, s.location
            );
            for (table, version) in &s.table_versions {
                println!("  read {table} at Delta version {version}");
            }
        }
        TrainingSet::List { project, output } => {
            let mut request = ListTrainingDatasetsRequest {
                project,
                page_size: 1000,
                page_token: String::new(),
            };
            let mut all = Vec::new();
            loop {
                let page = client
                    .list_training_datasets(request.clone())
                    .await
                    .map_err(status_error)?
                    .into_inner();
                all.extend(page.datasets.iter().map(summary));
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            if output == Output::Table {
                table(
                    &["NAME", "VERSION", "FORMAT", "ROWS", "LOCATION"],
                    all.iter()
                        .map(|s| {
                            vec![
                                s.name.clone(),
                                s.version.to_string(),
                                s.format.clone(),
                                s.rows.to_string(),
                                s.location.clone(),
                            ]
                        })
                        .collect(),
                );
            } else {
                print(output, &all)?;
            }
        }
        TrainingSet::Export {
            name,
            project,
            version,
            out,
        } => {
            let dataset = client
                .get_training_dataset(GetTrainingDatasetRequest {
                    project,
                    name,
                    version,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let rows = export(channel, &dataset, &out).await?;
            println!(
                "exported training set {}@{}: {rows} rows to {}",
                dataset.name,
                dataset.version,
                out.display()
            );
        }
    }
    Ok(())
}

/// Streams the dataset over Flight into `out` (written beside it first,
/// then renamed: no half-written file under the asked name).
async fn export(channel: Channel, dataset: &TrainingDataset, out: &Path) -> Result<u64> {
    let mut flight = FlightClient::new(channel);
    if let Some(bearer) = crate::credentials::bearer() {
        flight.add_header("authorization", bearer)?;
    }
    let mut stream = flight
        .do_get(Ticket {
            ticket: dataset.flight_ticket.clone().into(),
        })
        .await
        .context("reading the training set over Arrow Flight")?;
    let partial = out.with_extension("parquet.partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let result = async {
        let mut writer: Option<ArrowWriter<std::fs::File>> = None;
        let mut rows = 0u64;
        let mut file = Some(file);
        while let Some(batch) = stream.try_next().await? {
            let writer = match &mut writer {
                Some(w) => w,
                None => writer.insert(ArrowWriter::try_new(
                    file.take().expect("one file"),
                    batch.schema(),
                    None,
                )?),
            };
            rows += batch.num_rows() as u64;
            writer.write(&batch)?;
        }
        match writer {
            Some(w) => {
                w.close()?;
            }
            None => {
                // No rows: an empty file with the schema the set was made with.
                let schema = arrow_ipc::convert::try_schema_from_ipc_buffer(&dataset.arrow_schema)
                    .context("the training set's schema")?;
                let file = file.take().expect("one file");
                ArrowWriter::try_new(file, std::sync::Arc::new(schema), None)?.close()?;
            }
        }
        Ok::<_, anyhow::Error>(rows)
    }
    .await;
    match result {
        Ok(rows) => {
            std::fs::rename(&partial, out)
                .with_context(|| format!("moving the export to {}", out.display()))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
