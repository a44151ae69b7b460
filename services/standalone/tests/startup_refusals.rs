//! Start-up refuses what it must not touch: a directory in use by another
//! process, someone else's directory, a corrupt store, a taken port — with
//! a clear message and nothing in the directory changed.

mod common;

use std::{collections::BTreeMap, path::Path};

use common::{free_ports, refused, start};

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), free_ports()).await;
    let before = snapshot(dir.path());
    let (output, stderr) = refused(dir.path(), free_ports());
    assert!(!output.status.success());
    assert!(
        stderr.contains("is in use by another standalone process")
            && stderr.contains(&format!("pid {}", first.child.id())),
        "{stderr}"
    );
    let after = snapshot(dir.path());
    assert_eq!(
        before.get("metadata.redb"),
        after.get("metadata.redb"),
        "the running process's files are untouched"
    );
    assert_eq!(
        before.get("lock"),
        after.get("lock"),
        "the lock still names the first process"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_directory_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "years of work").unwrap();
    std::fs::create_dir(dir.path().join("figures")).unwrap();
    let before = snapshot(dir.path());
    let (output, stderr) = refused(dir.path(), free_ports());
    assert!(!output.status.success());
    assert!(
        stderr.contains("is not a feature store data directory"),
        "{stderr}"
    );
    assert_eq!(snapshot(dir.path()), before, "nothing written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_missing_store_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    start(dir.path(), free_ports()).await.kill();
    let names = |dir: &Path| snapshot(dir).into_keys().collect::<Vec<_>>();
    let before = names(dir.path());
    // The event log, opened after the metadata journal.
    let garbage = b"\x00garbage, not a redb file\xff".repeat(512);
    std::fs::write(dir.path().join("eventlog.redb"), &garbage).unwrap();
    let (output, stderr) = refused(dir.path(), free_ports());
    assert!(!output.status.success());
    assert!(stderr.contains("cannot open event log"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("eventlog.redb")).unwrap(),
        garbage
    );
    assert_eq!(names(dir.path()), before, "no file created or removed");

    // An emptied store would silently start over: refused too.
    std::fs::write(dir.path().join("eventlog.redb"), b"").unwrap();
    let (_, stderr) = refused(dir.path(), free_ports());
    assert!(
        stderr.contains("eventlog.redb is missing or empty"),
        "{stderr}"
    );
    assert!(
        std::fs::read(dir.path().join("eventlog.redb"))
            .unwrap()
            .is_empty()
    );

    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("featurestore.json"),
        r#"{"format": "featurestore-standalone", "version": 99}"#,
    )
    .unwrap();
    let (_, stderr) = refused(other.path(), free_ports());
    assert!(stderr.contains("layout version 99"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_refused_naming_the_service() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut ports = free_ports();
    ports[2] = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (output, stderr) = refused(dir.path(), ports);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{}", ports[2]))
            && stderr.contains("online serving"),
        "{stderr}"
    );
    // Nothing but the (empty) lock file was written, and it is not held.
    let written = snapshot(dir.path());
    assert!(
        written
            .iter()
            .all(|(name, bytes)| name == "lock" && bytes.is_empty()),
        "{:?}",
        written.keys()
    );
    drop(taken);
    start(dir.path(), free_ports()).await;
}
