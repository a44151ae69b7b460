//! How far a stored tile is from the truth (the same tile recomputed from
//! the offline table), in the results a reader would see.
//!
//! Two tiles agree when they hold the same number of events and every
//! feature's result is the same (results, not the bits of the states: an
//! exact sum has more than one representation of one value). Where they
//! differ, per feature: the absolute difference of the results and the
//! relative one, `|a − b| / max(|a|, |b|)` (0 to 1, symmetric, defined
//! when the truth is 0); a result on one side only (null on the other, or
//! lists of different lengths) counts as relative difference 1 and
//! absolute difference the magnitude present. The largest over a tile's
//! features is its difference.

use crate::{Function, Output, State, TileValue};

/// The difference of a stored tile from the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Difference {
    pub abs: f64,
    pub rel: f64,
}

impl Difference {
    fn max(self, other: Difference) -> Difference {
        Difference {
            abs: self.abs.max(other.abs),
            rel: self.rel.max(other.rel),
        }
    }
}

/// `None` when `stored` (no tile: an empty one) agrees with `truth` over
/// `features` (place among the group's aggregations, function), else their
/// largest difference.
pub fn difference(
    features: &[(usize, Function)],
    stored: Option<&TileValue>,
    truth: &TileValue,
) -> Option<Difference> {
    let empty = TileValue::default();
    let stored = stored.unwrap_or(&empty);
    let mut differs = stored.events() != truth.events();
    let mut largest = Difference::default();
    for &(at, function) in features {
        let result = |tile: &TileValue| {
            tile.state(at).map_or_else(
                || State::new(function).output(function),
                |s| s.output(function),
            )
        };
        if let Some(d) = outputs(&result(stored), &result(truth)) {
            differs = true;
            largest = largest.max(d);
        }
    }
    differs.then_some(largest)
}

fn numbers(a: f64, b: f64) -> Option<Difference> {
    if a == b || (a.is_nan() && b.is_nan()) {
        return None;
    }
    let abs = (a - b).abs();
    let scale = a.abs().max(b.abs());
    Some(Difference {
        abs,
        rel: if scale > 0.0 && scale.is_finite() {
            (abs / scale).min(1.0)
        } else {
            1.0
        },
    })
}

fn one_side(magnitude: f64) -> Difference {
    Difference {
        abs: magnitude,
        rel: 1.0,
    }
}

fn outputs(a: &Output, b: &Output) -> Option<Difference> {
    let largest = |xs: &[f64]| xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    match (a, b) {
        (Output::Null, Output::Null) => None,
        (Output::Int(a), Output::Int(b)) => numbers(*a as f64, *b as f64),
        (Output::Float(a), Output::Float(b)) => numbers(*a, *b),
        (Output::Floats(a), Output::Floats(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .filter_map(|(a, b)| numbers(*a, *b))
            .reduce(Difference::max),
        (Output::Floats(a), Output::Floats(b)) => Some(one_side(largest(a).max(largest(b)))),
        (Output::Null, Output::Int(x)) | (Output::Int(x), Output::Null) => {
            Some(one_side((*x as f64).abs()))
        }
        (Output::Null, Output::Float(x)) | (Output::Float(x), Output::Null) => {
            Some(one_side(x.abs()))
        }
        (Output::Null, Output::Floats(xs)) | (Output::Floats(xs), Output::Null) => {
            Some(one_side(largest(xs)))
        }
        // Results of different kinds: not the same function's.
        _ => Some(one_side(f64::INFINITY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Input;

    const FEATURES: [(usize, Function); 3] =
        [(0, Function::Count), (1, Function::Sum), (2, Function::Max)];

    fn tile(amounts: &[f64]) -> TileValue {
        let mut tile = TileValue::default();
        for (i, x) in amounts.iter().enumerate() {
            let features = FEATURES.map(|(at, f)| (at, f, Some(Input::Number(*x))));
            tile.fold(features, 10, (0, i as i64));
        }
        tile
    }

    #[test]
    fn agreeing_tiles_have_no_difference_whatever_their_offsets() {
        let mut truth = tile(&[1.0, 2.5]);
        assert_eq!(
            difference(&FEATURES, Some(&tile(&[1.0, 2.5])), &truth),
            None
        );
        truth.account_up_to(0, 99);
        assert_eq!(
            difference(&FEATURES, Some(&tile(&[1.0, 2.5])), &truth),
            None
        );
        assert_eq!(difference(&FEATURES, None, &TileValue::default()), None);
    }

    #[test]
    fn the_largest_absolute_and_relative_difference_is_reported() {
        // Count 2 vs 3 (abs 1, rel 1/3), sum 3.5 vs 7.5 (abs 4, rel 4/7.5),
        // max 2.5 vs 4 (abs 1.5, rel 0.375).
        let d = difference(&FEATURES, Some(&tile(&[1.0, 2.5])), &tile(&[1.0, 2.5, 4.0])).unwrap();
        assert_eq!(d.abs, 4.0);
        assert!((d.rel - 4.0 / 7.5).abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn a_missing_tile_differs_from_a_tile_with_events_by_all_of_them() {
        let d = difference(&FEATURES, None, &tile(&[-6.0])).unwrap();
        // Sum 0 vs −6 and max null vs −6.
        assert_eq!(d, Difference { abs: 6.0, rel: 1.0 });
        // A stored tile the truth has no events for.
        let d = difference(&FEATURES, Some(&tile(&[3.0])), &TileValue::default()).unwrap();
        assert_eq!(d, Difference { abs: 3.0, rel: 1.0 });
    }

    #[test]
    fn lists_differ_elementwise_or_wholly_by_length() {
        let x = Output::Floats(vec![1.0, 2.0]);
        assert_eq!(outputs(&x, &x), None);
        assert_eq!(
            outputs(&x, &Output::Floats(vec![1.0, 4.0])),
            Some(Difference { abs: 2.0, rel: 0.5 })
        );
        assert_eq!(
            outputs(&x, &Output::Floats(vec![1.0])),
            Some(Difference { abs: 2.0, rel: 1.0 })
        );
    }
}
