//! The two approximate states, each a well-kept sketch behind a small
//! wrapper that stores it compactly and merges it:
//!
//! - [`Distinct`]: HyperLogLog (Apache DataSketches) with 2^12 registers.
//!   Exact while few distinct items were seen (it keeps their hashes), then
//!   a relative standard error of 1.04/√4096 ≈ 1.6 % (≈ 3.3 % at two
//!   standard deviations). The estimate is the sketch's composite one, a
//!   function of its registers only: the same items give the same estimate
//!   whatever the order they were folded or tiles merged.
//! - [`Quantiles`]: DDSketch with 1 % relative accuracy: the p-quantile
//!   returned is within 1 % of the exact value of rank ⌊p·(n−1)⌋ of the
//!   window's values (values nearer 0 than 1e-9 count as 0). Its bins are
//!   counts that add, so the result never depends on order either.
//!
//! Items counted distinct are hashed with XXH3 ([`item_of_int`],
//! [`item_of_str`]), so every process (materialization, serving, the
//! offline query) hashes a value the same way.

use datasketches::hll::{HllSketch, HllType, HllUnion};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};
use sketches_ddsketch::{Config, DDSketch};

/// log2 of the HyperLogLog register count.
const LG_K: u8 = 12;
/// DDSketch relative accuracy.
pub const QUANTILE_RELATIVE_ACCURACY: f64 = 0.01;
const QUANTILE_MAX_BINS: u32 = 2048;
const QUANTILE_MIN_VALUE: f64 = 1e-9;

/// The item an integer value counts as.
pub fn item_of_int(v: i64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&v.to_le_bytes())
}

/// The item a string value counts as.
pub fn item_of_str(v: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(v.as_bytes())
}

/// Approximate distinct count of items.
#[derive(Clone)]
pub struct Distinct(HllUnion);

impl Distinct {
    pub fn new() -> Self {
        Self(HllUnion::new(LG_K).expect("a valid lg_k"))
    }

    pub fn insert(&mut self, item: u64) {
        self.0.update_value(item);
    }

    pub fn merge(&mut self, other: &Distinct) {
        if !other.0.is_empty() {
            self.0.update(&other.sketch());
        }
    }

    pub fn estimate(&self) -> i64 {
        self.0.composite_estimate().round() as i64
    }

    fn sketch(&self) -> HllSketch {
        self.0.to_sketch(HllType::Hll8)
    }
}

impl Default for Distinct {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Distinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Distinct(~{})", self.estimate())
    }
}

impl PartialEq for Distinct {
    fn eq(&self, other: &Self) -> bool {
        self.sketch() == other.sketch()
    }
}

impl Serialize for Distinct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.sketch().serialize())
    }
}

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: &[u8] = Deserialize::deserialize(d)?;
        let sketch = HllSketch::deserialize(bytes).map_err(D::Error::custom)?;
        let mut union = Distinct::new();
        union.0.update(&sketch);
        Ok(union)
    }
}

/// Approximate quantiles of values.
#[derive(Clone)]
pub struct Quantiles(DDSketch);

impl Quantiles {
    pub fn new() -> Self {
        Self(DDSketch::new(Config::new(
            QUANTILE_RELATIVE_ACCURACY,
            QUANTILE_MAX_BINS,
            QUANTILE_MIN_VALUE,
        )))
    }

    pub fn insert(&mut self, x: f64) {
        if x.is_finite() {
            self.0.add(x);
        }
    }

    pub fn merge(&mut self, other: &Quantiles) {
        self.0
            .merge(&other.0)
            .expect("sketches of one configuration merge");
    }

    /// The `q`-quantile, `None` when no value was seen.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    fn encoded(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.0).expect("a sketch always encodes")
    }
}

impl Default for Quantiles {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Quantiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Quantiles(n={}, p50~{:?})",
            self.0.count(),
            self.quantile(0.5)
        )
    }
}

/// Equal encodings (tests compare states; a tile's change is told by its
/// fold, not by comparing).
impl PartialEq for Quantiles {
    fn eq(&self, other: &Self) -> bool {
        self.encoded() == other.encoded()
    }
}

impl Serialize for Quantiles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Quantiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DDSketch::deserialize(d).map(Quantiles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_is_exact_when_small_and_within_its_bound_when_large() {
        let mut d = Distinct::new();
        for i in 0..50 {
            d.insert(item_of_int(i % 37));
        }
        assert_eq!(d.estimate(), 37);
        let mut big = Distinct::new();
        for i in 0..200_000 {
            big.insert(item_of_int(i));
        }
        let error = (big.estimate() as f64 - 200_000.0).abs() / 200_000.0;
        assert!(error < 0.05, "{} ({error})", big.estimate());
    }

    #[test]
    fn distinct_merges_in_any_order_to_the_same_estimate_and_round_trips() {
        let parts: Vec<Distinct> = (0..7)
            .map(|p| {
                let mut d = Distinct::new();
                for i in 0..3_000 {
                    d.insert(item_of_str(&format!("card-{}", (i * 7 + p) % 9_000)));
                }
                d
            })
            .collect();
        let mut forward = Distinct::new();
        parts.iter().for_each(|p| forward.merge(p));
        let mut backward = Distinct::new();
        parts.iter().rev().for_each(|p| backward.merge(p));
        let mut folded = Distinct::new();
        for p in 0..7 {
            for i in 0..3_000 {
                folded.insert(item_of_str(&format!("card-{}", (i * 7 + p) % 9_000)));
            }
        }
        assert_eq!(forward.estimate(), backward.estimate());
        assert_eq!(forward.estimate(), folded.estimate());
        let bytes = postcard::to_allocvec(&forward).unwrap();
        let back: Distinct = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.estimate(), forward.estimate());
        assert!(bytes.len() <= 4200, "{} bytes", bytes.len());
    }

    #[test]
    fn quantiles_are_within_one_percent_and_round_trip() {
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 0.37 - 400.0).collect();
        let mut q = Quantiles::new();
        values.iter().for_each(|v| q.insert(*v));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.01, 0.25, 0.5, 0.9, 0.99] {
            let exact = sorted[(p * (sorted.len() - 1) as f64) as usize];
            let got = q.quantile(p).unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact.abs() + 1e-9,
                "p{p}: {got} vs {exact}"
            );
        }
        let bytes = postcard::to_allocvec(&q).unwrap();
        let back: Quantiles = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.quantile(0.5), q.quantile(0.5));
        assert_eq!(Quantiles::new().quantile(0.5), None);
    }
}
