//! A floating-point sum whose result does not depend on the order of its
//! terms: the terms are kept as a list of non-overlapping partials whose
//! exact sum is the exact sum of every term (Shewchuk's "grow expansion",
//! the algorithm behind Python's `math.fsum`), and the result is that exact
//! sum rounded once. Adding a term or merging another sum is exact, so
//! tiles folded from events in any order, merged in any grouping, give the
//! same bits. Non-finite terms (∞, NaN) are kept apart and follow IEEE
//! rules (∞ + −∞ = NaN).

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// Non-overlapping, increasing in magnitude; their exact sum is the sum.
    /// Rarely more than two (kept inline: no allocation to decode a tile).
    partials: SmallVec<[f64; 2]>,
    /// The sum of the non-finite terms (0 when there were none).
    special: f64,
}

impl ExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, mut x: f64) {
        if !x.is_finite() {
            self.special += x;
            return;
        }
        let mut kept = 0;
        for i in 0..self.partials.len() {
            let mut y = self.partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        if x.is_finite() {
            self.partials.push(x);
        } else {
            // The exact sum overflowed f64: it is ±∞ whatever comes next.
            self.special += x;
            self.partials.clear();
        }
    }

    pub fn merge(&mut self, other: &ExactSum) {
        for p in &other.partials {
            self.add(*p);
        }
        self.special += other.special;
    }

    /// Non-overlapping terms whose exact sum is the sum; `None` when a
    /// term was not finite (the sum is then ±∞ or NaN).
    pub fn partials(&self) -> Option<&[f64]> {
        (self.special == 0.0).then_some(self.partials.as_slice())
    }

    /// The exact sum, correctly rounded (ties to even).
    pub fn value(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special;
        }
        let mut n = self.partials.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = self.partials[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = self.partials[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Round half to even across the remaining partials (as fsum does).
        if n > 0
            && ((lo < 0.0 && self.partials[n - 1] < 0.0)
                || (lo > 0.0 && self.partials[n - 1] > 0.0))
        {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sum(terms: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        for t in terms {
            s.add(*t);
        }
        s.value()
    }

    #[test]
    fn cancellation_that_naive_sums_get_wrong() {
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(sum(&[f64::MAX, f64::MAX, -f64::MAX]), f64::INFINITY);
    }

    proptest! {
        #[test]
        fn order_and_grouping_never_change_the_result(
            terms in proptest::collection::vec(-1e12f64..1e12, 0..60),
            split in 0usize..60,
            seed in any::<u64>(),
        ) {
            let expected = sum(&terms);
            let mut shuffled = terms.clone();
            // A deterministic shuffle from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let split = split.min(shuffled.len());
            let (a, b) = shuffled.split_at(split);
            let mut left = ExactSum::new();
            a.iter().for_each(|t| left.add(*t));
            let mut right = ExactSum::new();
            b.iter().for_each(|t| right.add(*t));
            right.merge(&left);
            prop_assert_eq!(right.value().to_bits(), expected.to_bits());
        }
    }
}
