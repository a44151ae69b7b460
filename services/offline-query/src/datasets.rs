//! Training datasets: a point-in-time join written out under a name and
//! version, with what reproduces it recorded in the metadata store.
//!
//! Creating one: the query is planned (checked, Delta versions pinned), its
//! result written to `<root>/<project>/<name>/.tmp-<id>/`, the directory
//! renamed to `v<version>-<id>`, and the record put under the dataset's key
//! only if the key is still free: that put is the commit point. Until it
//! succeeds nobody can see the dataset; on any failure, or when the call is
//! dropped, the directory is removed. A process killed between the rename
//! and the put leaves an unreferenced directory behind (never read).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use featurestore_catalog::{Keyspace, pagination::paginate};
use featurestore_domain::validate_name;
use featurestore_metastore::{Condition, MetadataStore, MetastoreError, Op};
use featurestore_proto::v1::{DatasetFormat, TrainingDataset};
use featurestore_query_engine::DatasetFormat as Format;
use prost::Message;

use crate::error::OfflineError;

/// How many times an automatically numbered dataset moves to the next
/// version when another one took its number meanwhile.
const VERSION_ATTEMPTS: usize = 5;

/// The dataset records in the metadata store and their files on disk.
pub struct Datasets {
    store: Arc<dyn MetadataStore>,
    keys: Keyspace,
    root: PathBuf,
}

impl std::fmt::Debug for Datasets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datasets")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A directory removed when dropped, unless kept.
pub struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            remove_dir(&self.path);
        }
    }
}

/// Removes a dataset directory; a failure is logged (the files are then
/// unreferenced, never read).
fn remove_dir(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a dataset's files");
        }
        _ => {}
    }
}

pub fn format_of(format: i32) -> Result<Format, OfflineError> {
    match DatasetFormat::try_from(format) {
        Ok(DatasetFormat::Parquet | DatasetFormat::Unspecified) => Ok(Format::Parquet),
        Ok(DatasetFormat::Delta) => Ok(Format::Delta),
        Err(_) => Err(OfflineError::invalid(
            "format",
            format!("{format} is not a dataset format (PARQUET or DELTA)"),
        )),
    }
}

fn unavailable(path: &Path, e: std::io::Error) -> OfflineError {
    OfflineError::Unavailable(format!("dataset directory {}: {e}", path.display()))
}

fn decode(bytes: &[u8], key: &str) -> Result<TrainingDataset, OfflineError> {
    TrainingDataset::decode(bytes)
        .map_err(|e| OfflineError::Internal(format!("undecodable dataset record {key}: {e}")))
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

pub fn validate(project: &str, name: &str) -> Result<(), OfflineError> {
    validate_name("project", project)?;
    Ok(validate_name("name", name)?)
}

impl Datasets {
    pub fn new(
        store: Arc<dyn MetadataStore>,
        keys: Keyspace,
        root: impl Into<PathBuf>,
    ) -> Result<Self, OfflineError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| unavailable(&root, e))?;
        let root = root.canonicalize().map_err(|e| unavailable(&root, e))?;
        Ok(Self { store, keys, root })
    }

    /// The version a new dataset gets: `asked`, or the next after the latest.
    pub async fn next_version(
        &self,
        project: &str,
        name: &str,
        asked: u32,
    ) -> Result<u32, OfflineError> {
        if asked > 0 {
            let key = self.keys.dataset(project, name, asked);
            if self.store.get(&key).await?.is_some() {
                return Err(already_exists(project, name, asked));
            }
            return Ok(asked);
        }
        Ok(self
            .latest(project, name)
            .await?
            .map_or(1, |d| d.version + 1))
    }

    /// A fresh directory to write a dataset into.
    pub fn scratch(&self, project: &str, name: &str) -> Result<Scratch, OfflineError> {
        let parent = self.root.join(project).join(name);
        std::fs::create_dir_all(&parent).map_err(|e| unavailable(&parent, e))?;
        let path = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&path).map_err(|e| unavailable(&path, e))?;
        Ok(Scratch { path, keep: false })
    }

    /// Moves the written files to their version's directory and records the
    /// dataset, the commit point. With `auto_version`, a version taken
    /// meanwhile moves the dataset on to the next free one.
    pub async fn commit(
        &self,
        mut scratch: Scratch,
        mut dataset: TrainingDataset,
        auto_version: bool,
    ) -> Result<TrainingDataset, OfflineError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        for _ in 0..VERSION_ATTEMPTS {
            let target = scratch
                .path
                .with_file_name(format!("v{}-{}", dataset.version, &id[..8]));
            std::fs::rename(&scratch.path, &target).map_err(|e| unavailable(&target, e))?;
            scratch.path = target;
            dataset.location = scratch.path.to_string_lossy().into_owned();
            let key = self
                .keys
                .dataset(&dataset.project, &dataset.name, dataset.version);
            match self
                .store
                .txn(
                    vec![Condition::absent(&key)],
                    vec![Op::put(&key, dataset.encode_to_vec())],
                )
                .await
            {
                Ok(_) => {
                    scratch.keep = true;
                    return Ok(dataset);
                }
                Err(MetastoreError::Conflict) if auto_version => {
                    dataset.version = self
                        .next_version(&dataset.project, &dataset.name, 0)
                        .await?;
                }
                Err(MetastoreError::Conflict) => {
                    return Err(already_exists(
                        &dataset.project,
                        &dataset.name,
                        dataset.version,
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(OfflineError::Aborted(format!(
            "dataset {}: other datasets of that name kept taking the next version",
            dataset.name
        )))
    }

    async fn latest(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<TrainingDataset>, OfflineError> {
        let listing = self
            .store
            .list(&self.keys.dataset_versions_prefix(project, name))
            .await?;
        listing
            .kvs
            .last()
            .map(|kv| decode(&kv.value, &kv.key))
            .transpose()
    }

    /// A dataset version (0 = the latest).
    pub async fn get(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Result<TrainingDataset, OfflineError> {
        validate(project, name)?;
        let found = if version == 0 {
            self.latest(project, name).await?
        } else {
            let key = self.keys.dataset(project, name, version);
            match self.store.get(&key).await? {
                Some(kv) => Some(decode(&kv.value, &key)?),
                None => None,
            }
        };
        found.ok_or_else(|| {
            OfflineError::NotFound(match version {
                0 => format!("training dataset {name:?} in project {project:?}"),
                v => format!("training dataset {name:?} version {v} in project {project:?}"),
            })
        })
    }

    /// The project's datasets, by name then version.
    pub async fn list(
        &self,
        project: &str,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<TrainingDataset>, String), OfflineError> {
        validate_name("project", project)?;
        let listing = self.store.list(&self.keys.datasets_prefix(project)).await?;
        let (page, next) = paginate(listing.kvs, |kv| kv.key.clone(), page_size, token);
        let datasets = page
            .iter()
            .map(|kv| decode(&kv.value, &kv.key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((datasets, next))
    }

    /// Removes the record, then the files (a reader holding the record
    /// meanwhile gets NOT_FOUND for the files).
    pub async fn delete(
        &self,
        project: &str,
        name: &str,
        version: u32,
    ) -> Result<(), OfflineError> {
        validate(project, name)?;
        if version == 0 {
            return Err(OfflineError::invalid(
                "version",
                "name the version to delete",
            ));
        }
        let key = self.keys.dataset(project, name, version);
        let kv = self.store.get(&key).await?.ok_or_else(|| {
            OfflineError::NotFound(format!(
                "training dataset {name:?} version {version} in project {project:?}"
            ))
        })?;
        let dataset = decode(&kv.value, &key)?;
        self.store
            .txn(
                vec![Condition::at(&key, kv.mod_revision)],
                vec![Op::delete(&key)],
            )
            .await?;
        // Only directories this service made are removed.
        let location = PathBuf::from(&dataset.location);
        if location.starts_with(&self.root) {
            remove_dir(&location);
        }
        Ok(())
    }
}

fn already_exists(project: &str, name: &str, version: u32) -> OfflineError {
    OfflineError::AlreadyExists(format!(
        "training dataset {name:?} version {version} in project {project:?}"
    ))
}
