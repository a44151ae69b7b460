//! `fsctl`: the feature store's command line.
//!
//! ```text
//! fsctl apply -f examples/shop.yaml        # prints the plan, then applies it
//! fsctl list feature-groups --project shop
//! fsctl describe feature-group customer_orders --project shop
//! fsctl delete feature-view fraud_model --project shop --version 1
//! fsctl search amount --tag team=risk
//! fsctl ingest -p shop --group customer_orders --file orders.csv
//! fsctl get-vectors -p shop --view fraud_model --key customer_id=5 --key customer_id=7
//! fsctl training-set create churn -p shop --view fraud_model --entities rows.parquet
//! fsctl training-set export churn -p shop --out churn.parquet
//! ```

mod apply;
mod backfill;
mod credentials;
mod datasets;
mod ingest;
mod status;
mod vectors;
mod wait;

use std::path::PathBuf;

use fsctl::spec;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use featurestore_proto::v1::{
    DeleteEntityRequest, DeleteFeatureGroupRequest, DeleteFeatureViewRequest, DeleteProjectRequest,
    GetEntityRequest, GetFeatureGroupRequest, GetFeatureViewRequest, GetProjectRequest,
    ListEntitiesRequest, ListFeatureGroupsRequest, ListFeatureViewsRequest, ListProjectsRequest,
    SearchFeaturesRequest, registry_service_client::RegistryServiceClient,
};
use serde::Serialize;
use tonic::transport::Channel;

pub type Client = RegistryServiceClient<credentials::Conn>;

#[derive(Debug, Parser)]
#[command(name = "fsctl", version = featurestore_domain::build_info::version(), about = "Feature store command line")]
struct Cli {
    /// Registry gRPC address.
    #[arg(
        long,
        global = true,
        env = "FS_REGISTRY_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    registry: String,
    /// Offline query gRPC address (training sets).
    #[arg(
        long,
        global = true,
        env = "FS_OFFLINE_ADDR",
        default_value = "http://127.0.0.1:50054"
    )]
    offline: String,
    /// Ingestion gRPC address.
    #[arg(
        long,
        global = true,
        env = "FS_INGESTION_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    ingestion: String,
    /// Online serving gRPC address (feature vectors).
    #[arg(
        long,
        global = true,
        env = "FS_SERVING_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    serving: String,
    /// Materialization admin gRPC address (status).
    #[arg(
        long,
        global = true,
        env = "FS_MATERIALIZATION_ADDR",
        default_value = "http://127.0.0.1:50055"
    )]
    materialization: String,
    #[command(flatten)]
    credentials: credentials::Credentials,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Projects,
    Entities,
    FeatureGroups,
    FeatureViews,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ObjectKind {
    Project,
    Entity,
    FeatureGroup,
    FeatureView,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum Output {
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update what a spec file describes; prints the plan first.
    Apply {
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
    },
    /// List objects of a kind.
    List {
        kind: Kind,
        #[arg(long, short = 'p', default_value = "")]
        project: String,
        /// Every version, not just the latest.
        #[arg(long)]
        all_versions: bool,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
    },
    /// Show one object in spec form.
    Describe {
        kind: ObjectKind,
        name: String,
        #[arg(long, short = 'p', default_value = "")]
        project: String,
        /// 0 = latest.
        #[arg(long, default_value_t = 0)]
        version: u32,
        #[arg(long, short = 'o', value_enum, default_value = "yaml")]
        output: Output,
    },
    /// Delete one object (refused while something uses it).
    Delete {
        kind: ObjectKind,
        name: String,
        #[arg(long, short = 'p', default_value = "")]
        project: String,
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// Find features by name or description, tag and owner.
    Search {
        #[arg(default_value = "")]
        query: String,
        #[arg(long, short = 'p', default_value = "")]
        project: String,
        /// `key=value` (or `key` for any value); repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long, default_value = "")]
        owner: String,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
    },
    /// Ingest a CSV (with a header) or Parquet file into a feature group.
    Ingest {
        #[arg(long, short = 'p')]
        project: String,
        /// `name` or `name@version` (default: the latest version).
        #[arg(long)]
        group: String,
        #[arg(long)]
        file: PathBuf,
        /// Rows per request.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Return once the rows are served online, committed offline, or
        /// both (asked of serving / the offline query with the write token).
        #[arg(long, value_enum)]
        wait: Option<wait::Wait>,
        /// How long `--wait` waits, in seconds.
        #[arg(long, default_value_t = 60)]
        wait_timeout: u64,
    },
    /// Feature vectors of a view for entity keys (online serving).
    GetVectors {
        #[arg(long, short = 'p')]
        project: String,
        /// The feature view, `name` or `name@version`.
        #[arg(long)]
        view: String,
        /// One entity: `name=value[,name=value]` over the view's join keys;
        /// repeat for more.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
        /// A write token `fsctl ingest` printed (repeat for several): the
        /// answer includes those rows (waits up to the server's limit).
        #[arg(long = "after-write", conflicts_with = "at_least")]
        after_write: Vec<String>,
        /// Wait until every row with event time up to this RFC 3339 time
        /// is served (`AT_LEAST`).
        #[arg(long = "at-least")]
        at_least: Option<String>,
    },
    /// How far materialisation has come per feature group (latest
    /// versions): watermarks and lag, online and offline.
    Status {
        #[arg(long, short = 'p')]
        project: String,
        /// Only this group.
        #[arg(long)]
        group: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
        /// Refresh every SECONDS (adds freshness and rows/s applied; one
        /// document per refresh for json/yaml) until interrupted.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<f64>,
        /// With --watch: stop after this many refreshes.
        #[arg(long, requires = "watch")]
        refreshes: Option<u64>,
        /// Each group's partitions too: log end, online and offline offsets
        /// and lag, watermarks.
        #[arg(long)]
        partitions: bool,
    },
    /// Re-materialise an event-time range of a group's offline table
    /// online; for a group with aggregations, correct its tiles of that
    /// range and print the drift found (materialization service).
    Backfill {
        #[arg(long, short = 'p')]
        project: String,
        /// `name` or `name@version` (default: the latest version).
        #[arg(long)]
        group: String,
        /// RFC 3339 start of the event-time range (inclusive).
        #[arg(long)]
        from: String,
        /// RFC 3339 end of the event-time range (exclusive).
        #[arg(long)]
        to: String,
        /// Follow the job until it ends, at most this many seconds.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
        #[arg(long, short = 'o', value_enum, default_value = "table")]
        output: Output,
    },
    /// Point-in-time training sets (offline query service).
    #[command(subcommand)]
    TrainingSet(datasets::TrainingSet),
}

/// `name` or `name@version`.
pub fn view_ref(view: &str) -> Result<featurestore_proto::v1::FeatureViewRef> {
    let (name, version) = match view.split_once('@') {
        Some((name, v)) => (
            name,
            v.parse()
                .with_context(|| format!("--view {view}: the version is not a number"))?,
        ),
        None => (view, 0),
    };
    Ok(featurestore_proto::v1::FeatureViewRef {
        project: String::new(),
        name: name.to_string(),
        version,
    })
}

/// A gRPC status as a readable error.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow!("{:?}: {}", status.code(), status.message())
}

fn need_project(project: &str) -> Result<()> {
    if project.is_empty() {
        anyhow::bail!("--project is required");
    }
    Ok(())
}

fn print<T: Serialize>(output: Output, value: &T) -> Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        _ => print!("{}", serde_yaml_ng::to_string(value)?),
    }
    Ok(())
}

fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// A channel to `address`, or an error naming `what` could not be reached.
async fn connect(address: &str, what: &str, timeout: std::time::Duration) -> Result<Channel> {
    let endpoint = Channel::from_shared(address.to_string())
        .with_context(|| format!("bad {what} address {address:?}"))?;
    credentials::apply(endpoint, address)?
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("cannot reach the {what} at {address}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    cli.credentials.install()?;
    let command = match cli.command {
        Command::TrainingSet(command) => {
            // Building a training set runs inside the call.
            let timeout = std::time::Duration::from_secs(900);
            let channel = connect(&cli.offline, "offline query service", timeout).await?;
            return datasets::run(channel, command).await;
        }
        registry_command => registry_command,
    };
    let channel = connect(
        &cli.registry,
        "registry",
        std::time::Duration::from_secs(30),
    )
    .await?;
    let mut client = RegistryServiceClient::new(credentials::authorized(channel));
    match command {
        Command::TrainingSet(_) => unreachable!("served by the offline query service above"),
        Command::Ingest {
            project,
            group,
            file,
            batch,
            wait,
            wait_timeout,
        } => {
            let batch = batch.max(1);
            let (group, token) =
                ingest::run(&mut client, &cli.ingestion, project, &group, &file, batch).await?;
            if let Some(what) = wait {
                let timeout = std::time::Duration::from_secs(wait_timeout);
                wait::run(&cli.serving, &cli.offline, &group, &token, what, timeout).await?;
            }
        }
        Command::GetVectors {
            project,
            view,
            keys,
            output,
            after_write,
            at_least,
        } => {
            let timeout = std::time::Duration::from_secs(30);
            let serving = connect(&cli.serving, "online serving service", timeout).await?;
            let tokens = after_write
                .iter()
                .map(|t| ingest::unhex(t))
                .collect::<Result<Vec<_>>>()?;
            let at_least = at_least
                .map(|t| wait::at_least_micros(&t, false))
                .transpose()?;
            let consistency = wait::requested(tokens, at_least);
            vectors::run(
                &mut client,
                serving,
                project,
                &view,
                &keys,
                output,
                consistency,
            )
            .await?;
        }
        Command::Status {
            project,
            group,
            output,
            watch,
            refreshes,
            partitions,
        } => {
            let watch = watch
                .map(|seconds| {
                    std::time::Duration::try_from_secs_f64(seconds)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--watch: {seconds} is not a positive number of seconds"
                            )
                        })
                })
                .transpose()?;
            let timeout = std::time::Duration::from_secs(30);
            let materialization =
                connect(&cli.materialization, "materialization service", timeout).await?;
            let asked = status::Asked {
                project,
                group,
                partitions,
            };
            status::run(
                &mut client,
                materialization,
                asked,
                output,
                watch,
                refreshes,
            )
            .await?;
        }
        Command::Backfill {
            project,
            group,
            from,
            to,
            wait,
            output,
        } => {
            need_project(&project)?;
            let timeout = std::time::Duration::from_secs(30);
            let materialization =
                connect(&cli.materialization, "materialization service", timeout).await?;
            let asked = backfill::Asked {
                project,
                group,
                from,
                to,
                wait: wait.map(std::time::Duration::from_secs),
            };
            backfill::run(&mut client, materialization, asked, output).await?;
        }
        Command::Apply { file, dry_run } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let spec = spec::Spec::parse(&text)?;
            let steps = apply::plan(&mut client, &spec).await?;
            println!("plan for project {:?}:", spec.project);
            for step in &steps {
                println!(
                    "  {:<9}  {:<13}  {}",
                    step.action.to_string(),
                    step.kind,
                    step.name
                );
            }
            let changes = steps
                .iter()
                .filter(|s| s.action != apply::Action::Unchanged)
                .count();
            if dry_run || changes == 0 {
                println!(
                    "{changes} change(s){}",
                    if dry_run && changes > 0 {
                        " (dry run: nothing applied)"
                    } else {
                        ""
                    }
                );
                return Ok(());
            }
            apply::apply(&mut client, &steps).await?;
            println!("applied {changes} change(s)");
        }
        Command::List {
            kind,
            project,
            all_versions,
            output,
        } => list(&mut client, kind, &project, !all_versions, output).await?,
        Command::Describe {
            kind,
            name,
            project,
            version,
            output,
        } => describe(&mut client, kind, &name, &project, version, output).await?,
        Command::Delete {
            kind,
            name,
            project,
            version,
        } => {
            let revision = match kind {
                ObjectKind::Project => {
                    client
                        .delete_project(DeleteProjectRequest {
                            name: name.clone(),
                            expected_revision: 0,
                        })
                        .await
                }
                ObjectKind::Entity => {
                    need_project(&project)?;
                    client
                        .delete_entity(DeleteEntityRequest {
                            project,
                            name: name.clone(),
                            expected_revision: 0,
                        })
                        .await
                }
                ObjectKind::FeatureGroup => {
                    need_project(&project)?;
                    client
                        .delete_feature_group(DeleteFeatureGroupRequest {
                            project,
                            name: name.clone(),
                            version,
                            expected_revision: 0,
                        })
                        .await
                }
                ObjectKind::FeatureView => {
                    need_project(&project)?;
                    client
                        .delete_feature_view(DeleteFeatureViewRequest {
                            project,
                            name: name.clone(),
                            version,
                            expected_revision: 0,
                        })
                        .await
                }
            }
            .map_err(status_error)?
            .into_inner()
            .revision;
            println!("deleted {name} (revision {revision})");
        }
        Command::Search {
            query,
            project,
            tags,
            owner,
            output,
        } => {
            let tags = tags
                .iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect();
            let mut request = SearchFeaturesRequest {
                project,
                query,
                tags,
                owner,
                page_size: 1000,
                page_token: String::new(),
            };
            let mut rows = Vec::new();
            loop {
                let page = client
                    .search_features(request.clone())
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for hit in page.hits {
                    let f = hit.feature.unwrap_or_default();
                    rows.push(vec![
                        hit.project,
                        format!("{}@{}", hit.group, hit.group_version),
                        f.name,
                        f.r#type
                            .as_ref()
                            .map(featurestore_domain::types::type_name)
                            .unwrap_or_default(),
                        hit.group_owner,
                        f.description,
                    ]);
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            if output == Output::Table {
                table(
                    &[
                        "PROJECT",
                        "GROUP",
                        "FEATURE",
                        "TYPE",
                        "OWNER",
                        "DESCRIPTION",
                    ],
                    rows,
                );
            } else {
                print(output, &rows)?;
            }
        }
    }
    Ok(())
}

async fn list(
    client: &mut Client,
    kind: Kind,
    project: &str,
    latest_only: bool,
    output: Output,
) -> Result<()> {
    let mut token = String::new();
    let (header, mut rows, mut specs): (&[&str], Vec<Vec<String>>, Vec<serde_yaml_ng::Value>) =
        match kind {
            Kind::Projects => (&["PROJECT", "DESCRIPTION"], vec![], vec![]),
            Kind::Entities => (&["ENTITY", "JOIN KEYS", "DESCRIPTION"], vec![], vec![]),
            Kind::FeatureGroups => (
                &[
                    "GROUP",
                    "VERSION",
                    "ENTITY",
                    "FEATURES",
                    "OWNER",
                    "DESCRIPTION",
                ],
                vec![],
                vec![],
            ),
            Kind::FeatureViews => (
                &["VIEW", "VERSION", "GROUPS", "DESCRIPTION"],
                vec![],
                vec![],
            ),
        };
    if !matches!(kind, Kind::Projects) {
        need_project(project)?;
    }
    let project = project.to_string();
    loop {
        let next = match kind {
            Kind::Projects => {
                let r = client
                    .list_projects(ListProjectsRequest {
                        page_size: 1000,
                        page_token: token.clone(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for p in r.projects {
                    specs.push(serde_yaml_ng::to_value(
                        serde_json::json!({"name": p.name, "description": p.description}),
                    )?);
                    rows.push(vec![p.name, p.description]);
                }
                r.next_page_token
            }
            Kind::Entities => {
                let r = client
                    .list_entities(ListEntitiesRequest {
                        project: project.clone(),
                        page_size: 1000,
                        page_token: token.clone(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for e in r.entities {
                    let keys = e
                        .join_keys
                        .iter()
                        .map(|k| {
                            format!(
                                "{}:{}",
                                k.name,
                                featurestore_domain::types::scalar_name(k.r#type())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",");
                    specs.push(serde_yaml_ng::to_value(spec::EntitySpec::from_proto(&e))?);
                    rows.push(vec![e.name, keys, e.description]);
                }
                r.next_page_token
            }
            Kind::FeatureGroups => {
                let r = client
                    .list_feature_groups(ListFeatureGroupsRequest {
                        project: project.clone(),
                        latest_only,
                        page_size: 1000,
                        page_token: token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for g in r.feature_groups {
                    specs.push(serde_yaml_ng::to_value(spec::GroupSpec::from_proto(&g))?);
                    rows.push(vec![
                        g.name.clone(),
                        g.version.to_string(),
                        g.entity.clone(),
                        g.features.len().to_string(),
                        g.owner.clone(),
                        g.description.clone(),
                    ]);
                }
                r.next_page_token
            }
            Kind::FeatureViews => {
                let r = client
                    .list_feature_views(ListFeatureViewsRequest {
                        project: project.clone(),
                        latest_only,
                        page_size: 1000,
                        page_token: token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for v in r.feature_views {
                    let groups = v
                        .selections
                        .iter()
                        .map(|s| format!("{}@{}", s.group, s.group_version))
                        .collect::<Vec<_>>()
                        .join(",");
                    specs.push(serde_yaml_ng::to_value(spec::ViewSpec::from_proto(&v))?);
                    rows.push(vec![
                        v.name.clone(),
                        v.version.to_string(),
                        groups,
                        v.description.clone(),
                    ]);
                }
                r.next_page_token
            }
        };
        if next.is_empty() {
            break;
        }
        token = next;
    }
    match output {
        Output::Table => table(header, rows),
        other => print(other, &specs)?,
    }
    Ok(())
}

async fn describe(
    client: &mut Client,
    kind: ObjectKind,
    name: &str,
    project: &str,
    version: u32,
    output: Output,
) -> Result<()> {
    let name = name.to_string();
    let project = project.to_string();
    if !matches!(kind, ObjectKind::Project) {
        need_project(&project)?;
    }
    let value = match kind {
        ObjectKind::Project => {
            let p = client
                .get_project(GetProjectRequest { name })
                .await
                .map_err(status_error)?
                .into_inner();
            serde_json::json!({"name": p.name, "description": p.description, "owner": p.owner, "roles": spec::RolesSpec::from_proto(&p.roles), "revision": p.meta.map(|m| m.revision)})
        }
        ObjectKind::Entity => {
            let e = client
                .get_entity(GetEntityRequest { project, name })
                .await
                .map_err(status_error)?
                .into_inner();
            serde_json::to_value(spec::EntitySpec::from_proto(&e))?
        }
        ObjectKind::FeatureGroup => {
            let g = client
                .get_feature_group(GetFeatureGroupRequest {
                    project,
                    name,
                    version,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            serde_json::to_value(spec::GroupSpec::from_proto(&g))?
        }
        ObjectKind::FeatureView => {
            let v = client
                .get_feature_view(GetFeatureViewRequest {
                    project,
                    name,
                    version,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            let mut value = serde_json::to_value(spec::ViewSpec::from_proto(&v))?;
            value["version"] = v.version.into();
            value["join_keys"] = v
                .join_keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        k.name,
                        featurestore_domain::types::scalar_name(k.r#type())
                    )
                })
                .collect::<Vec<_>>()
                .into();
            value
        }
    };
    print(
        if output == Output::Table {
            Output::Yaml
        } else {
            output
        },
        &value,
    )
}
