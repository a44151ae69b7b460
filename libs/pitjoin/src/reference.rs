//! The naive point-in-time join, row by row, for tests: obviously right,
//! quadratic, in memory.

/// An entity row: `(key, as-of time, row id)`.
pub type EntityRow = (Vec<u8>, i64, u64);

/// A feature row: `(key, event time, tie-break, value)`; among rows with the
/// same key and event time, the greatest tie-break wins.
pub type FeatureRow<V> = (Vec<u8>, i64, u64, V);

/// For each entity row (in the given order): the row id and the picked
/// feature row's `(event time, value)`, if any.
pub fn asof_join<V: Clone>(
    entities: &[EntityRow],
    features: &[FeatureRow<V>],
    ttl_micros: Option<i64>,
) -> Vec<(u64, Option<(i64, V)>)> {
    entities
        .iter()
        .map(|(key, t, id)| {
            let best = features
                .iter()
                .filter(|(k, time, _, _)| {
                    k == key
                        && *time <= *t
                        && ttl_micros.is_none_or(|ttl| *time >= t.saturating_sub(ttl))
                })
                .max_by_key(|(_, time, tie, _)| (*time, *tie));
            (*id, best.map(|(_, time, _, v)| (*time, v.clone())))
        })
        .collect()
}
