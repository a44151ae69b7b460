//! The conformance suite every [`EventLog`] implementation must pass. Each
//! case uses its own topics and consumer groups, so cases run in parallel
//! against one shared server.
//!
//! ```ignore
//! async fn make_log() -> std::sync::Arc<dyn EventLog> { ... }
//! featurestore_eventlog::eventlog_conformance_tests!(make_log);
//! ```

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use crate::{EventLog, Message, Position, Record, Subscription, Topics};

/// A topic (or group) name no other test uses.
pub fn unique(case: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "fs_test_{}_{}_{}_{case}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[macro_export]
macro_rules! eventlog_conformance_tests {
    ($make:path) => {
        $crate::eventlog_conformance_tests!(@cases $make;
            ensure_topic_is_idempotent_and_grows,
            concurrent_ensures_of_one_topic_all_succeed,
            appended_records_are_consumed_in_order_with_their_headers,
            a_new_member_resumes_after_committed_positions,
            prefix_subscriptions_find_topics_created_later,
            append_to_a_missing_topic_fails,
            a_failed_append_writes_none_of_its_records,
            committed_positions_are_reported_and_leave_no_lag
        );
    };
    (@cases $make:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let log = $make().await;
                $crate::testsuite::$case(&*log).await;
            }
        )*
    };
}

fn record(partition: i32, i: usize) -> Record {
    Record {
        partition,
        key: format!("key-{i}").into_bytes(),
        payload: format!("payload-{i}").into_bytes(),
        headers: vec![("traceparent".into(), format!("trace-{i}").into_bytes())],
    }
}

/// Reads until `count` messages arrived (or fails after `timeout`).
pub async fn read(sub: &mut dyn Subscription, count: usize, timeout: Duration) -> Vec<Message> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages within {timeout:?}",
            out.len()
        );
        out.extend(
            sub.next_batch(count - out.len(), Duration::from_millis(500))
                .await
                .expect("next_batch"),
        );
    }
    out
}

pub async fn ensure_topic_is_idempotent_and_grows(log: &dyn EventLog) {
    let topic = unique("grow");
    assert_eq!(log.partition_count(&topic).await.unwrap(), None);
    log.ensure_topic(&topic, 2).await.unwrap();
    log.ensure_topic(&topic, 2).await.unwrap();
    assert_eq!(log.partition_count(&topic).await.unwrap(), Some(2));
    log.ensure_topic(&topic, 4).await.unwrap();
    assert_eq!(log.partition_count(&topic).await.unwrap(), Some(4));
    log.ensure_topic(&topic, 1).await.unwrap();
    assert_eq!(
        log.partition_count(&topic).await.unwrap(),
        Some(4),
        "never shrinks"
    );
}

pub async fn concurrent_ensures_of_one_topic_all_succeed(log: &dyn EventLog) {
    let topic = unique("race");
    let results = futures::future::join_all((0..4).map(|_| log.ensure_topic(&topic, 4))).await;
    for r in results {
        r.unwrap();
    }
    assert_eq!(log.partition_count(&topic).await.unwrap(), Some(4));
    let grow = futures::future::join_all((0..4).map(|_| log.ensure_topic(&topic, 6))).await;
    for r in grow {
        r.unwrap();
    }
    assert_eq!(log.partition_count(&topic).await.unwrap(), Some(6));
}

pub async fn appended_records_are_consumed_in_order_with_their_headers(log: &dyn EventLog) {
    let topic = unique("order");
    log.ensure_topic(&topic, 3).await.unwrap();
    let records: Vec<Record> = (0..300).map(|i| record((i % 3) as i32, i)).collect();
    let offsets = log.append(&topic, records.clone()).await.unwrap();
    assert_eq!(offsets.len(), records.len());
    // Offsets increase per partition in append order.
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for (r, offset) in records.iter().zip(&offsets) {
        if let Some(prev) = last.insert(r.partition, *offset) {
            assert!(*offset > prev);
        }
    }
    // The next offset of each partition is past its last record (Kafka's
    // transaction markers may take offsets in between).
    let ends = log.end_offsets(&topic).await.unwrap();
    assert_eq!(ends.len(), 3);
    for (p, end) in ends.iter().enumerate() {
        assert!(
            *end > last[&(p as i32)],
            "next offset per partition: {ends:?}"
        );
    }
    let mut sub = log
        .subscribe(&unique("g"), Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let messages = read(&mut *sub, records.len(), Duration::from_secs(30)).await;
    let mut by_partition: BTreeMap<i32, Vec<&Message>> = BTreeMap::new();
    for m in &messages {
        assert_eq!(m.topic, topic);
        by_partition.entry(m.partition).or_default().push(m);
    }
    for (partition, got) in by_partition {
        let want: Vec<&Record> = records
            .iter()
            .filter(|r| r.partition == partition)
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "partition {partition}: every record exactly once"
        );
        for (m, r) in got.iter().zip(want) {
            assert_eq!(
                (&m.key, &m.payload, &m.headers),
                (&r.key, &r.payload, &r.headers)
            );
        }
        assert!(
            got.windows(2).all(|w| w[0].offset < w[1].offset),
            "in offset order"
        );
    }
}

pub async fn a_new_member_resumes_after_committed_positions(log: &dyn EventLog) {
    let topic = unique("resume");
    let group = unique("g");
    log.ensure_topic(&topic, 1).await.unwrap();
    log.append(&topic, (0..10).map(|i| record(0, i)).collect())
        .await
        .unwrap();
    {
        let mut sub = log
            .subscribe(&group, Topics::Named(vec![topic.clone()]))
            .await
            .unwrap();
        let first = read(&mut *sub, 10, Duration::from_secs(30)).await;
        // Only the first 4 are processed.
        sub.commit(&[Position {
            topic: topic.clone(),
            partition: 0,
            next_offset: first[4].offset,
        }])
        .await
        .unwrap();
    }
    let mut sub = log
        .subscribe(&group, Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let again = read(&mut *sub, 6, Duration::from_secs(60)).await;
    let payloads: Vec<String> = again
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(
        payloads,
        (4..10).map(|i| format!("payload-{i}")).collect::<Vec<_>>()
    );
}

pub async fn prefix_subscriptions_find_topics_created_later(log: &dyn EventLog) {
    let prefix = format!("{}.", unique("prefix"));
    let early = format!("{prefix}early");
    log.ensure_topic(&early, 1).await.unwrap();
    let mut sub = log
        .subscribe(&unique("g"), Topics::Prefix(prefix.clone()))
        .await
        .unwrap();
    log.append(&early, vec![record(0, 1)]).await.unwrap();
    let first = read(&mut *sub, 1, Duration::from_secs(30)).await;
    assert_eq!(first[0].topic, early);
    // Processed: a rebalance (the new topic causes one) must not redeliver it.
    sub.commit(&[Position {
        topic: early.clone(),
        partition: 0,
        next_offset: first[0].offset + 1,
    }])
    .await
    .unwrap();
    let late = format!("{prefix}late");
    log.ensure_topic(&late, 2).await.unwrap();
    log.append(&late, vec![record(1, 2)]).await.unwrap();
    let second = read(&mut *sub, 1, Duration::from_secs(60)).await;
    assert_eq!(
        (second[0].topic.as_str(), second[0].partition),
        (late.as_str(), 1)
    );
    // A topic outside the prefix is not delivered.
    let other = unique("other");
    log.ensure_topic(&other, 1).await.unwrap();
    log.append(&other, vec![record(0, 3)]).await.unwrap();
    let none = sub.next_batch(10, Duration::from_secs(3)).await.unwrap();
    assert!(
        none.iter().all(|m| m.topic.starts_with(&prefix)),
        "{none:?}"
    );
}

pub async fn append_to_a_missing_topic_fails(log: &dyn EventLog) {
    let topic = unique("missing");
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        log.append(&topic, vec![record(0, 0)]),
    )
    .await
    .expect("append to a missing topic answers, does not hang");
    assert!(
        result.is_err(),
        "nothing can be acknowledged on a missing topic: {result:?}"
    );
    assert_eq!(
        log.partition_count(&topic).await.unwrap(),
        None,
        "not auto-created"
    );
}

/// An append with one record the log refuses (a partition the topic does
/// not have) fails, and none of its other records is ever delivered.
pub async fn a_failed_append_writes_none_of_its_records(log: &dyn EventLog) {
    let topic = unique("atomic");
    log.ensure_topic(&topic, 2).await.unwrap();
    let mut bad: Vec<Record> = (0..50).map(|i| record((i % 2) as i32, i)).collect();
    bad.push(record(7, 50));
    let result = tokio::time::timeout(Duration::from_secs(60), log.append(&topic, bad))
        .await
        .expect("answers");
    assert!(result.is_err(), "{result:?}");
    log.append(&topic, vec![record(0, 100), record(1, 101)])
        .await
        .unwrap();
    let mut sub = log
        .subscribe(&unique("g"), Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let mut got = read(&mut *sub, 2, Duration::from_secs(30)).await;
    got.extend(sub.next_batch(100, Duration::from_secs(2)).await.unwrap());
    let payloads: Vec<String> = got
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(payloads.len(), 2, "only the good append: {payloads:?}");
    assert!(
        payloads
            .iter()
            .all(|p| p == "payload-100" || p == "payload-101")
    );
}

/// `committed_offsets` reports what a group committed; once everything
/// read is committed, nothing lags (Kafka: past the transaction markers).
pub async fn committed_positions_are_reported_and_leave_no_lag(log: &dyn EventLog) {
    let topic = unique("lag");
    let group = unique("g");
    log.ensure_topic(&topic, 2).await.unwrap();
    assert_eq!(
        log.committed_offsets(&group, &topic).await.unwrap(),
        vec![None, None]
    );
    for round in 0..3 {
        log.append(
            &topic,
            (0..10)
                .map(|i| record((i % 2) as i32, round * 10 + i))
                .collect(),
        )
        .await
        .unwrap();
    }
    let mut sub = log
        .subscribe(&group, Topics::Named(vec![topic.clone()]))
        .await
        .unwrap();
    let got = read(&mut *sub, 30, Duration::from_secs(30)).await;
    // The next poll (what a consumer does while waiting) sees nothing new.
    assert!(
        sub.next_batch(10, Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
    // Everything delivered is processed: the subscription stands at the
    // partitions' ends (past Kafka's transaction markers).
    let ends = log.end_offsets(&topic).await.unwrap();
    let mut at: Vec<(i32, i64)> = sub
        .positions()
        .into_iter()
        .filter(|p| p.topic == topic)
        .map(|p| (p.partition, p.next_offset))
        .collect();
    at.sort();
    assert_eq!(
        at,
        ends.iter()
            .enumerate()
            .map(|(p, e)| (p as i32, *e))
            .collect::<Vec<_>>(),
        "positions once everything delivered is read"
    );
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &got {
        next.insert(m.partition, m.offset + 1);
    }
    let positions: Vec<Position> = next
        .iter()
        .map(|(p, o)| Position {
            topic: topic.clone(),
            partition: *p,
            next_offset: *o,
        })
        .collect();
    sub.commit(&positions).await.unwrap();
    let committed = log.committed_offsets(&group, &topic).await.unwrap();
    let ends = log.end_offsets(&topic).await.unwrap();
    assert_eq!(
        committed,
        ends.iter().map(|e| Some(*e)).collect::<Vec<_>>(),
        "no lag once everything read is committed"
    );
}
