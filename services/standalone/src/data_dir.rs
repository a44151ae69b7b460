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
//! A directory that is not empty and has no marker (someone else's files),
//! a marker that does not parse or names another format, and a directory
//! another process holds are refused before anything in it is written.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

const MARKER: &str = "featurestore.json";
const LOCK: &str = "lock";
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
    _lock: File,
}

impl DataDir {
    /// Opens `path` (creating it when missing), checks that it is a
    /// standalone data directory of a layout this build knows, and locks it.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let marker = path.join(MARKER);
        let fresh = if marker.exists() {
            check_marker(path, &marker)?;
            false
        } else {
            let others = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name() != LOCK);
            if others {
                return Err(DataDirError::Foreign(path.to_path_buf()));
            }
            true
        };
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
        lock.set_len(0).map_err(io)?;
        writeln!(lock, "{}", std::process::id()).map_err(io)?;
        if fresh {
            write_marker(path).map_err(io)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> PathBuf {
        self.path.join("metadata.redb")
    }

    pub fn event_log(&self) -> PathBuf {
        self.path.join("eventlog.redb")
    }

    pub fn online(&self) -> PathBuf {
        self.path.join("online.redb")
    }

    pub fn offline(&self) -> PathBuf {
        self.path.join("offline")
    }

    pub fn datasets(&self) -> PathBuf {
        self.path.join("datasets")
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
    let tmp = path.join(format!("{MARKER}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(&marker).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path.join(MARKER))?;
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_marked_and_reopens() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        drop(DataDir::open(&path).unwrap());
        assert!(path.join(MARKER).exists());
        DataDir::open(&path).unwrap();
    }

    #[test]
    fn a_second_open_while_locked_is_in_use_with_the_pid() {
        let root = tempfile::tempdir().unwrap();
        let _first = DataDir::open(root.path()).unwrap();
        match DataDir::open(root.path()) {
            Err(DataDirError::InUse { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id().to_string()))
            }
            other => panic!("expected InUse, got {other:?}"),
        }
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
