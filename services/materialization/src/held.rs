//! Records held back, uncommitted, because their group version could not
//! be resolved (the metadata store did not answer). A held topic keeps every
//! later record of its partitions behind the held ones, so per-partition
//! order is kept and no position past a held record is committed; the other
//! topics go on. Held topics are retried with backoff.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use featurestore_eventlog::Message;
use featurestore_proto::v1::HeldTopic;

/// One held topic: its records in arrival order (per partition, offset
/// order), since when, and why.
#[derive(Debug)]
struct Entry {
    messages: Vec<Message>,
    since_micros: i64,
    reason: String,
}

/// The held records of the pipeline and when to retry them.
pub struct Held {
    topics: BTreeMap<String, Entry>,
    records: usize,
    builder: ExponentialBuilder,
    backoff: ExponentialBackoff,
    next_retry: Option<Instant>,
    /// What the status RPC shows (updated after every change).
    published: Arc<Mutex<Vec<HeldTopic>>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("topics", &self.topics.len())
            .field("records", &self.records)
            .finish()
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

impl Held {
    /// Held topics are published to `published` for the status RPC.
    pub fn new(max_retry_delay: Duration, published: Arc<Mutex<Vec<HeldTopic>>>) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(max_retry_delay)
            .without_max_times()
            .with_jitter();
        Self {
            topics: BTreeMap::new(),
            records: 0,
            backoff: builder.build(),
            builder,
            next_retry: None,
            published,
        }
    }

    pub fn records(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    pub fn holds(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Holds `messages` of `topic` (after any already held).
    pub fn hold(&mut self, topic: &str, messages: Vec<Message>, reason: &str) {
        self.records += messages.len();
        let entry = self
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| Entry {
                messages: Vec::new(),
                since_micros: now_micros(),
                reason: String::new(),
            });
        entry.messages.extend(messages);
        entry.reason = reason.to_string();
        if self.next_retry.is_none() {
            self.schedule();
        }
        self.publish();
    }

    fn schedule(&mut self) {
        let delay = self.backoff.next().unwrap_or(Duration::from_secs(1));
        self.next_retry = Some(Instant::now() + delay);
    }

    /// Queues records read after a topic was held behind its held ones
    /// (the reason stays the last error).
    pub fn queue_behind(&mut self, topic: &str, messages: Vec<Message>) {
        if let Some(entry) = self.topics.get_mut(topic) {
            self.records += messages.len();
            entry.messages.extend(messages);
            self.publish();
        }
    }

    /// How long until the next retry is due (`None`: nothing held).
    pub fn until_retry(&self) -> Option<Duration> {
        self.next_retry
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// Every held record (oldest first per topic) when a retry is due; the
    /// caller processes them before anything read later, holds again what
    /// still cannot be resolved, then calls [`Held::finish_retry`].
    pub fn take_due(&mut self) -> Option<Vec<Message>> {
        if self.next_retry.is_none_or(|t| Instant::now() < t) {
            return None;
        }
        self.next_retry = None;
        let mut out = Vec::with_capacity(self.records);
        for entry in self.topics.values_mut() {
            out.append(&mut entry.messages);
        }
        self.records = 0;
        Some(out)
    }

    /// Ends a retry: topics that were not held again are released; the next
    /// retry is scheduled (backoff grows) or, when nothing is held, reset.
    pub fn finish_retry(&mut self) {
        self.topics.retain(|_, entry| !entry.messages.is_empty());
        if self.topics.is_empty() {
            self.backoff = self.builder.build();
            self.next_retry = None;
        } else if self.next_retry.is_none() {
            self.schedule();
        }
        self.publish();
    }

    fn publish(&self) {
        let topics = self
            .topics
            .iter()
            .map(|(topic, entry)| HeldTopic {
                topic: topic.clone(),
                records: entry.messages.len() as u64,
                since_micros: entry.since_micros,
                reason: entry.reason.clone(),
            })
            .collect();
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = topics;
    }
}
