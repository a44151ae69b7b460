//! The event-log conformance suite against the embedded log of standalone
//! mode, and its durability across a restart.

use std::time::Duration;

use featurestore_eventlog::{
    EventLog, LogEnds, Position, Record, RedbLog, Topics,
    testsuite::{read, unique},
};

/// The log and its directory, removed when the case ends.
struct Embedded {
    log: RedbLog,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Embedded {
    type Target = RedbLog;
    fn deref(&self) -> &RedbLog {
        &self.log
    }
}

async fn make_log() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let log = RedbLog::open(&dir.path().join("eventlog.redb")).unwrap();
    Embedded { log, _dir: dir }
}

featurestore_eventlog::eventlog_conformance_tests!(make_log);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_and_commits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventlog.redb");
    let topic = unique("restart");
    let group = unique("g");
    let record = |i: usize| Record {
        partition: (i % 2) as i32,
        key: vec![i as u8],
        payload: format!("row-{i}").into_bytes(),
        headers: vec![],
    };
    {
        let log = RedbLog::open(&path).unwrap();
        log.ensure_topic(&topic, 2).await.unwrap();
        log.append(&topic, (0..10).map(record).collect())
            .await
            .unwrap();
        let mut sub = log
            .subscribe(&group, Topics::Named(vec![topic.clone()]))
            .await
            .unwrap();
        read(&mut *sub, 10, Duration::from_secs(10)).await;
        // Partition 0 processed up to offset 3; partition 1 not at all.
        sub.commit(&[Position {
            topic: topic.clone(),
            partition: 0,
            next_offset: 3,
        }])
        .await
        .unwrap();
    }
    let log = RedbLog::open(&path).unwrap();
    assert_eq!(log.partition_count(&topic).await.unwrap(), Some(2));
    assert_eq!(log.end_offsets(&topic).await.unwrap(), vec![5, 5]);
    let offsets = log.append(&topic, vec![record(10)]).await.unwrap();
    assert_eq!(offsets, vec![5], "offsets continue after the restart");
    let mut sub = log
        .subscribe(&group, Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let mut again: Vec<(i32, i64)> = read(&mut *sub, 8, Duration::from_secs(10))
        .await
        .iter()
        .map(|m| (m.partition, m.offset))
        .collect();
    again.sort();
    let mut want: Vec<(i32, i64)> = (3..6)
        .map(|o| (0, o))
        .chain((0..5).map(|o| (1, o)))
        .collect();
    want.sort();
    assert_eq!(again, want, "resumes after the committed positions");
}

#[tokio::test]
async fn a_file_that_is_not_a_log_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventlog.redb");
    let garbage = b"not an event log ".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let error = RedbLog::open(&path).expect_err("refused");
    assert!(error.to_string().contains("event log"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_every_group_processed_are_deleted_and_offsets_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventlog.redb");
    let topic = unique("retention");
    let record = |i: usize| Record {
        partition: 0,
        key: vec![i as u8],
        payload: format!("row-{i}").into_bytes(),
        headers: vec![],
    };
    let commit = |next_offset| {
        vec![Position {
            topic: topic.clone(),
            partition: 0,
            next_offset,
        }]
    };
    {
        let log = RedbLog::open(&path).unwrap();
        log.ensure_topic(&topic, 1).await.unwrap();
        log.append(&topic, (0..10).map(record).collect())
            .await
            .unwrap();
        let named = Topics::Named(vec![topic.clone()]);
        let mut slow = log.subscribe("slow", named.clone()).await.unwrap();
        slow.commit(&commit(4)).await.unwrap();
        let mut fast = log.subscribe("fast", named.clone()).await.unwrap();
        fast.commit(&commit(10)).await.unwrap();
        // The slowest group holds records back: a new group starts at 4.
        let mut fresh = log.subscribe(&unique("g"), named.clone()).await.unwrap();
        let seen = read(&mut *fresh, 6, Duration::from_secs(10)).await;
        assert_eq!(
            seen[0].offset, 4,
            "records before every group's position are gone"
        );
        // Everyone done: all but the last record are deleted.
        slow.commit(&commit(10)).await.unwrap();
        let mut fresh = log.subscribe(&unique("g"), named).await.unwrap();
        let seen = read(&mut *fresh, 1, Duration::from_secs(10)).await;
        assert_eq!(seen.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![9]);
    }
    let log = RedbLog::open(&path).unwrap();
    assert_eq!(log.end_offsets(&topic).await.unwrap(), vec![10]);
    assert_eq!(
        log.append(&topic, vec![record(10)]).await.unwrap(),
        vec![10],
        "offsets are not reused after the restart"
    );
}

/// Appends and commits from concurrent tasks, on a runtime of its own in
/// a thread of its own: a deadlock shows as this test failing after 60 s
/// (a deadlocked runtime could not even be shut down to report it).
#[test]
fn appends_and_commits_running_together_all_finish() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(appends_and_commits());
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("appends and commits finish (no deadlock)");
}

async fn appends_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let log = RedbLog::open(&dir.path().join("eventlog.redb")).unwrap();
    let topic = unique("busy");
    log.ensure_topic(&topic, 2).await.unwrap();
    let appends = {
        let (log, topic) = (log.clone(), topic.clone());
        tokio::spawn(async move {
            for i in 0..200 {
                let record = Record {
                    partition: i % 2,
                    payload: vec![i as u8],
                    ..Record::default()
                };
                log.append(&topic, vec![record]).await.unwrap();
            }
        })
    };
    let mut sub = log
        .subscribe("g", Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let mut seen = 0;
    while seen < 200 {
        let batch = sub.next_batch(50, Duration::from_secs(5)).await.unwrap();
        seen += batch.len();
        let positions: Vec<Position> = batch
            .iter()
            .map(|m| Position {
                topic: m.topic.clone(),
                partition: m.partition,
                next_offset: m.offset + 1,
            })
            .collect();
        sub.commit(&positions).await.unwrap();
    }
    appends.await.unwrap();
    assert_eq!(log.end_offsets(&topic).await.unwrap(), vec![100, 100]);
}
