//! The data directory of standalone mode: one directory holding every
//! embedded backend, marked as ours and locked while a process uses it.
//!
//! ```text
//! <data dir>/featurestore.json   marker: format and layout version
//! <data dir>/lock                held (flock) by the running process; its pid
//! <data dir>/metadata.redb       metadata store journal (catalog, datasets)
//! <data dir>/eventlog.redb       event log between ingestion and materialization
//! <data dir>/online.redb         online store
//! <data dir>/offline/            Delta tables of the offline store
//! <data dir>/datasets/           training datasets
//! ```
//!
//! Opening is in two steps so that a refused start writes nothing:
//! [`DataDir::open`] checks and locks (creating only the directory and an
//! empty lock file when they are missing); [`DataDir::claim`], called once
//! the ports are bound, records the pid and checks the store files; after
//! the stores opened, [`DataDir::mark`] writes the marker of a new directory
//! (so a first start that died midway is not mistaken for someone else's
//! directory: an unmarked directory holding only our own names is new).
//!
//! Refused: a directory that is not empty and has no marker (someone else's
//! files), a marker that does not parse, names another format or a newer
//! layout, a directory another process holds, and a marked directory whose
//! store file is missing or empty (its data would silently start over).

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

const MARKER: &str = "featurestore.json";
const MARKER_TMP: &str = "featurestore.json.tmp";
const LOCK: &str = "lock";
const METADATA: &str = "metadata.redb";
const EVENT_LOG: &str = "eventlog.redb";
const ONLINE: &str = "online.redb";
const OFFLINE: &str = "offline";
const DATASETS: &str = "datasets";
/// Every name standalone creates at the top of the directory.
const OURS: [&str; 8] = [
    MARKER, MARKER_TMP, LOCK, METADATA, EVENT_LOG, ONLINE, OFFLINE, DATASETS,
];
const FORMAT: &str = "featurestore-standalone";
/// The layout version this build reads and writes.
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "data directory {0} is not empty and has no {MARKER}: it is not a feature store data \
         directory, and nothing in it was touched. Pick a new or empty directory (--data-dir)"
    )]
    Foreign(PathBuf),
    #[error(
        "data directory {path}: {MARKER} is corrupt or foreign ({reason}); nothing was touched"
    )]
    BadMarker { path: PathBuf, reason: String },
    #[error(
        "data directory {path} is in use by another standalone process{}; stop it first or pick \
         another --data-dir",
        pid.as_ref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse { path: PathBuf, pid: Option<String> },
    #[error(
        "data directory {path}: the store file {file} is missing or empty, so its data would \
         start over; restore it from a backup, or start with a new --data-dir"
    )]
    MissingStore { path: PathBuf, file: &'static str },
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: String,
    version: u32,
}

/// An open, locked data directory. The lock is released when dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    lock: File,
    /// No marker yet: a new directory (or a first start that died midway).
    fresh: bool,
}

impl DataDir {
    /// Checks that `path` is a standalone data directory of a layout this
    /// build knows (or a new one) and locks it; creates the directory and
    /// an empty lock file when missing, and writes nothing else.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        let marker = path.join(MARKER);
        let fresh = if marker.exists() {
            check_marker(path, &marker)?;
            false
        } else {
            if path.exists() {
                let foreign = std::fs::read_dir(path)
                    .map_err(io)?
                    .filter_map(|e| e.ok())
                    .any(|e| !OURS.iter().any(|ours| e.file_name() == *ours));
                if foreign {
                    return Err(DataDirError::Foreign(path.to_path_buf()));
                }
            }
            true
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = lock.read_to_string(&mut pid);
                let pid = Some(pid.trim().to_string()).filter(|p| !p.is_empty());
                return Err(DataDirError::InUse {
                    path: path.to_path_buf(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(Self {
            path: path.to_path_buf(),
            lock,
            fresh,
        })
    }

    /// Records this process's pid in the lock file and, for a marked
    /// directory, checks that every store file is there and not empty.
    pub fn claim(&mut self) -> Result<(), DataDirError> {
        let io = |source| DataDirError::Io {
            path: self.path.clone(),
            source,
        };
        if !self.fresh {
            for file in [METADATA, EVENT_LOG, ONLINE] {
                let len = std::fs::metadata(self.path.join(file)).map_or(0, |m| m.len());
                if len == 0 {
                    return Err(DataDirError::MissingStore {
                        path: self.path.clone(),
                        file,
                    });
                }
            }
        }
        self.lock.set_len(0).map_err(io)?;
        self.lock.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(self.lock, "{}", std::process::id()).map_err(io)
    }

    /// Marks a new directory as ours, once its stores exist.
    pub fn mark(&mut self) -> Result<(), DataDirError> {
        if self.fresh {
            write_marker(&self.path).map_err(|source| DataDirError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.fresh = false;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> PathBuf {
        self.path.join(METADATA)
    }

    pub fn event_log(&self) -> PathBuf {
        self.path.join(EVENT_LOG)
    }

    pub fn online(&self) -> PathBuf {
        self.path.join(ONLINE)
    }

    pub fn offline(&self) -> PathBuf {
        self.path.join(OFFLINE)
    }

    pub fn datasets(&self) -> PathBuf {
        self.path.join(DATASETS)
    }
}

fn check_marker(path: &Path, marker: &Path) -> Result<(), DataDirError> {
    let bad = |reason: String| DataDirError::BadMarker {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(marker).map_err(|e| bad(e.to_string()))?;
    let marker: Marker = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    if marker.format != FORMAT {
        return Err(bad(format!(
            "format {:?}, expected {FORMAT:?}",
            marker.format
        )));
    }
    if marker.version != VERSION {
        return Err(bad(format!(
            "layout version {}, this build reads version {VERSION}",
            marker.version
        )));
    }
    Ok(())
}

/// Writes the marker atomically (temporary file, sync, rename).
fn write_marker(path: &Path) -> std::io::Result<()> {
    let marker = Marker {
        format: FORMAT.into(),
        version: VERSION,
    };
    let tmp = path.join(MARKER_TMP);
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(&marker).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path.join(MARKER))?;
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_and_mark(path: &Path) -> DataDir {
        let mut dir = DataDir::open(path).unwrap();
        dir.claim().unwrap();
        for file in [METADATA, EVENT_LOG, ONLINE] {
            std::fs::write(path.join(file), b"store").unwrap();
        }
        dir.mark().unwrap();
        dir
    }

    #[test]
    fn a_new_directory_is_marked_once_its_stores_exist_and_reopens() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        let dir = DataDir::open(&path).unwrap();
        assert!(
            !path.join(MARKER).exists(),
            "not marked before the stores exist"
        );
        drop(dir);
        drop(open_and_mark(&path));
        assert!(path.join(MARKER).exists());
        let mut again = DataDir::open(&path).unwrap();
        again.claim().unwrap();
    }

    #[test]
    fn a_first_start_that_died_before_the_marker_is_not_foreign() {
        let root = tempfile::tempdir().unwrap();
        for name in [LOCK, METADATA, MARKER_TMP] {
            std::fs::write(root.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(root.path().join(OFFLINE)).unwrap();
        DataDir::open(root.path()).unwrap();
    }

    #[test]
    fn a_second_open_while_locked_is_in_use_with_the_pid() {
        let root = tempfile::tempdir().unwrap();
        let _first = open_and_mark(root.path());
        match DataDir::open(root.path()) {
            Err(DataDirError::InUse { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id().to_string()))
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }

    #[test]
    fn a_marked_directory_missing_a_store_is_refused() {
        let root = tempfile::tempdir().unwrap();
        drop(open_and_mark(root.path()));
        std::fs::write(root.path().join(ONLINE), b"").unwrap();
        let mut dir = DataDir::open(root.path()).unwrap();
        let error = dir.claim().unwrap_err();
        assert!(
            matches!(error, DataDirError::MissingStore { file: ONLINE, .. }),
            "{error}"
        );
    }

    #[test]
    fn foreign_files_and_markers_are_refused_untouched() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            DataDir::open(root.path()),
            Err(DataDirError::Foreign(_))
        ));
        assert!(!root.path().join(LOCK).exists(), "nothing written");

        let other = tempfile::tempdir().unwrap();
        std::fs::write(
            other.path().join(MARKER),
            "{\"format\":\"x\",\"version\":1}",
        )
        .unwrap();
        let error = DataDir::open(other.path()).unwrap_err();
        assert!(error.to_string().contains("format \"x\""), "{error}");

        std::fs::write(other.path().join(MARKER), "garbage").unwrap();
        assert!(matches!(
            DataDir::open(other.path()),
            Err(DataDirError::BadMarker { .. })
        ));
        assert_eq!(
            std::fs::read(other.path().join(MARKER)).unwrap(),
            b"garbage"
        );
    }
}
