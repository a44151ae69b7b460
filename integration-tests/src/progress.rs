//! Watching published materialisation progress from outside, to check that
//! it only moves forward across crashes and server restarts.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use featurestore_catalog::Keyspace;
use featurestore_metastore::{MetadataStore, WatchEvent};
use featurestore_proto::v1::PartitionProgress;
use futures::StreamExt;
use prost::Message as _;

#[derive(Default)]
struct Seen {
    last: HashMap<String, PartitionProgress>,
    observations: usize,
    backwards: Vec<String>,
}

/// Follows every progress key under a catalog root (list, then watch;
/// again after any interruption such as an etcd restart) and records each
/// value that is behind the one seen before it. Stops when dropped.
pub struct ProgressWatch {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProgressWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProgressWatch {
    pub fn start(store: Arc<dyn MetadataStore>, root: &str) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let prefix = Keyspace::new(root).progress_prefix();
        let task = tokio::spawn(follow(store, prefix, seen.clone()));
        Self { seen, task }
    }

    /// Values observed so far.
    pub fn observations(&self) -> usize {
        self.seen.lock().unwrap().observations
    }

    /// Fails the test when any value went backwards, or none was seen.
    pub fn assert_only_forward(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(seen.observations > 0, "no progress was published");
        assert!(
            seen.backwards.is_empty(),
            "progress went backwards: {:#?}",
            seen.backwards
        );
    }
}

async fn follow(store: Arc<dyn MetadataStore>, prefix: String, seen: Arc<Mutex<Seen>>) {
    loop {
        if let Ok(listing) = store.list(&prefix).await {
            for kv in &listing.kvs {
                observe(&seen, &kv.key, &kv.value);
            }
            if let Ok(mut events) = store.watch(&prefix, listing.revision + 1).await {
                while let Some(Ok(event)) = events.next().await {
                    if let WatchEvent::Put(kv) = event {
                        observe(&seen, &kv.key, &kv.value);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn observe(seen: &Mutex<Seen>, key: &str, value: &[u8]) {
    let Ok(now) = PartitionProgress::decode(value) else {
        return;
    };
    let mut seen = seen.lock().unwrap();
    seen.observations += 1;
    if let Some(before) = seen.last.get(key) {
        let behind = now.online_offset < before.online_offset
            || now.offline_offset < before.offline_offset
            || now.online_watermark_micros < before.online_watermark_micros
            || now.offline_watermark_micros < before.offline_watermark_micros;
        if behind {
            let line = format!("{key}: {before:?} then {now:?}");
            seen.backwards.push(line);
        }
    }
    seen.last.insert(key.to_string(), now);
}
