//! The plan cache: compiled plans by selection, read without a lock on
//! every request.
//!
//! A plan stays valid across catalog revisions that leave what it reads
//! alone: when the catalog moves on, the first request of a plan re-resolves
//! its selection against the new snapshot and keeps the plan if the view and
//! groups it was compiled from are unchanged (a new training-dataset record
//! or another group's change does not recompile it). The cache holds at most
//! `capacity` plans; past that, plans not used since the last eviction go
//! first (a clock sweep), so ad-hoc feature lists cannot grow it without
//! bound.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicI64, Ordering},
};

use featurestore_catalog::Catalog;
use featurestore_proto::v1::{FeatureSelector, feature_selector::Selector};

use crate::{error::ServingError, plan::Plan};

/// Plans kept by default.
pub const DEFAULT_CAPACITY: usize = 4096;

pub struct Plans {
    by_selection: papaya::HashMap<u64, Arc<Cached>>,
    capacity: usize,
}

/// One cached plan and what it was compiled for.
struct Cached {
    project: String,
    selector: FeatureSelector,
    plan: Arc<Plan>,
    /// The newest catalog revision the plan was checked against.
    checked_at: AtomicI64,
    /// Used since the last eviction sweep.
    used: AtomicBool,
}

impl std::fmt::Debug for Plans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plans")
            .field("len", &self.by_selection.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Plans {
    pub fn new(capacity: usize) -> Self {
        Self {
            by_selection: papaya::HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Plans currently cached.
    pub fn len(&self) -> usize {
        self.by_selection.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The plan of `selector` in `project` at `catalog`: cached, revalidated
    /// or compiled.
    pub fn get(
        &self,
        project: &str,
        selector: &FeatureSelector,
        catalog: &Catalog,
    ) -> Result<Arc<Plan>, ServingError> {
        let hash = selection_hash(project, selector);
        let revision = catalog.revision();
        let found = self.by_selection.pin().get(&hash).cloned();
        let collided = match found {
            Some(cached) if cached.project == project && cached.selector == *selector => {
                if !cached.used.load(Ordering::Relaxed) {
                    cached.used.store(true, Ordering::Relaxed);
                }
                if cached.checked_at.load(Ordering::Acquire) >= revision
                    || cached.plan.still_valid(project, selector, catalog)
                {
                    cached.checked_at.fetch_max(revision, Ordering::AcqRel);
                    return Ok(cached.plan.clone());
                }
                false
            }
            // Another selection with the same 64-bit hash: served uncached.
            Some(_) => true,
            None => false,
        };
        let plan = Arc::new(Plan::compile(project, selector, catalog)?);
        if !collided {
            self.insert(hash, project, selector, plan.clone(), revision);
        }
        Ok(plan)
    }

    fn insert(
        &self,
        hash: u64,
        project: &str,
        selector: &FeatureSelector,
        plan: Arc<Plan>,
        revision: i64,
    ) {
        let map = self.by_selection.pin();
        if map.len() >= self.capacity && !map.contains_key(&hash) {
            // Clock sweep: drop what was not used since the last sweep and
            // clear the marks of the rest; if everything was used, drop
            // entries until there is room.
            let mut excess = map.len() + 1 - self.capacity;
            let mut idle = Vec::new();
            for (key, cached) in map.iter() {
                if !cached.used.swap(false, Ordering::Relaxed) {
                    idle.push(*key);
                }
            }
            for key in &idle {
                map.remove(key);
            }
            excess = excess.saturating_sub(idle.len());
            if excess > 0 {
                let victims: Vec<u64> = map.iter().map(|(key, _)| *key).take(excess).collect();
                for key in victims {
                    map.remove(&key);
                }
            }
        }
        map.insert(
            hash,
            Arc::new(Cached {
                project: project.to_string(),
                selector: selector.clone(),
                plan,
                checked_at: AtomicI64::new(revision),
                used: AtomicBool::new(true),
            }),
        );
    }
}

/// A hash of what a request selects (no allocation to compute).
fn selection_hash(project: &str, selector: &FeatureSelector) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(project.as_bytes());
    hasher.update(&[0]);
    match &selector.selector {
        None => hasher.update(&[0]),
        Some(Selector::View(view)) => {
            hasher.update(&[1]);
            hasher.update(view.name.as_bytes());
            hasher.update(&view.version.to_le_bytes());
        }
        Some(Selector::Features(list)) => {
            hasher.update(&[2]);
            for f in &list.features {
                hasher.update(f.group.as_bytes());
                hasher.update(&[0]);
                hasher.update(&f.group_version.to_le_bytes());
                hasher.update(f.feature.as_bytes());
                hasher.update(&[0]);
            }
        }
    }
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use featurestore_catalog::Keyspace;
    use featurestore_domain::fixtures::{entity, key, project, view};
    use featurestore_metastore::{KeyValue, WatchEvent};
    use featurestore_proto::v1::{
        FeatureGroup, FeatureList, FeatureRef, FeatureView, FeatureViewRef, ScalarType,
    };
    use prost::Message;

    use super::*;

    fn put(_: &Keyspace, key: String, value: Vec<u8>, revision: i64) -> WatchEvent {
        WatchEvent::Put(KeyValue {
            key,
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    /// A registered group version keyed by `id`.
    fn group(project: &str, name: &str, version: u32, features: &[(&str, &str)]) -> FeatureGroup {
        FeatureGroup {
            version,
            primary_key: vec![key("id", ScalarType::Int64)],
            ..featurestore_domain::fixtures::group(project, name, "customer", features)
        }
    }

    /// A catalog with project `p`, entity `customer`, groups `a`@1 and
    /// `b`@1 and a view `v` over `a`.
    fn catalog() -> (Keyspace, Catalog) {
        let keyspace = Keyspace::new("/t");
        let mut catalog = Catalog::default();
        let events = [
            put(
                &keyspace,
                keyspace.project("p"),
                project("p").encode_to_vec(),
                1,
            ),
            put(
                &keyspace,
                keyspace.entity("p", "customer"),
                entity("p", "customer", &[("id", ScalarType::Int64)]).encode_to_vec(),
                2,
            ),
            put(
                &keyspace,
                keyspace.group("p", "a", 1),
                group("p", "a", 1, &[("x", "float64")]).encode_to_vec(),
                3,
            ),
            put(
                &keyspace,
                keyspace.group("p", "b", 1),
                group("p", "b", 1, &[("y", "float64")]).encode_to_vec(),
                4,
            ),
            put(
                &keyspace,
                keyspace.view("p", "v", 1),
                FeatureView {
                    version: 1,
                    ..view("p", "v", &[("a", &["x"])])
                }
                .encode_to_vec(),
                5,
            ),
        ];
        for event in &events {
            catalog.apply(&keyspace, event);
        }
        (keyspace, catalog)
    }

    fn view_selector() -> FeatureSelector {
        FeatureSelector {
            selector: Some(Selector::View(FeatureViewRef {
                project: String::new(),
                name: "v".into(),
                version: 0,
            })),
        }
    }

    fn features(list: &[(&str, &str)]) -> FeatureSelector {
        FeatureSelector {
            selector: Some(Selector::Features(FeatureList {
                features: list
                    .iter()
                    .map(|(g, f)| FeatureRef {
                        group: (*g).into(),
                        group_version: 0,
                        feature: (*f).into(),
                    })
                    .collect(),
            })),
        }
    }

    #[test]
    fn a_plan_survives_changes_to_what_it_does_not_read() {
        let (keyspace, mut catalog) = catalog();
        let plans = Plans::new(16);
        let first = plans.get("p", &view_selector(), &catalog).unwrap();
        // Group b changes: the view over a keeps its plan.
        catalog.apply(
            &keyspace,
            &put(
                &keyspace,
                keyspace.group("p", "b", 2),
                group("p", "b", 2, &[("y", "float64"), ("z", "int64")]).encode_to_vec(),
                6,
            ),
        );
        let second = plans.get("p", &view_selector(), &catalog).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "an unrelated change recompiled"
        );
        // Group a gets a new version: the view (latest a) is planned again.
        catalog.apply(
            &keyspace,
            &put(
                &keyspace,
                keyspace.group("p", "a", 2),
                group("p", "a", 2, &[("x", "float64"), ("w", "string")]).encode_to_vec(),
                7,
            ),
        );
        let third = plans.get("p", &view_selector(), &catalog).unwrap();
        assert!(
            !Arc::ptr_eq(&second, &third),
            "a changed group kept its old plan"
        );
        assert_eq!(third.groups[0].table.name, "p__a__v2");
    }

    #[test]
    fn the_cache_is_bounded() {
        let (_, catalog) = catalog();
        let plans = Plans::new(4);
        for i in 0..50 {
            // Distinct selections: the same features in different orders
            // and repetitions.
            let list: Vec<(&str, &str)> = (0..=i % 7)
                .map(|j| {
                    if (i + j) % 2 == 0 {
                        ("a", "x")
                    } else {
                        ("b", "y")
                    }
                })
                .collect();
            let _ = plans.get("p", &features(&list), &catalog);
            assert!(plans.len() <= 4, "{} plans cached", plans.len());
        }
        // A plan in use stays cached while others come and go.
        let hot = plans.get("p", &view_selector(), &catalog).unwrap();
        for i in 0..10 {
            let _ = plans.get("p", &view_selector(), &catalog).unwrap();
            let list: Vec<(&str, &str)> = (0..=i).map(|_| ("a", "x")).collect();
            let _ = plans.get("p", &features(&list), &catalog);
        }
        let again = plans.get("p", &view_selector(), &catalog).unwrap();
        assert!(Arc::ptr_eq(&hot, &again));
    }
}
