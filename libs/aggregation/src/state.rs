//! Mergeable partial aggregates. Every function keeps a [`State`] that
//! events are folded into and that merges with another state of the same
//! function; the result never depends on the order of either (sums are
//! exact until the final rounding, ties in time are broken by the event's
//! place in the log), so a late event folded into its own tile, or tiles
//! merged in any grouping, give the same bits as one pass over the events
//! in time order.
//!
//! Results on a window without events: `count` and `sum` 0, the others
//! null (`approx_distinct` 0). Null inputs are skipped (`count` counts
//! events, it has no input).
//!
//! The two approximate functions keep sketches ([`crate::sketch`]): their
//! results are order-independent too, and within the bounds stated there.

use serde::{Deserialize, Serialize};

use crate::{
    ExactSum,
    sketch::{Distinct, Quantiles},
};

/// An aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Function {
    Count,
    Sum,
    Min,
    Max,
    Mean,
    /// Population variance.
    Variance,
    /// Population standard deviation.
    Stddev,
    /// The value of the earliest event.
    First,
    /// The value of the latest event.
    Last,
    /// The values of the `k` latest events, latest first.
    LastK(usize),
    /// The number of distinct items (HyperLogLog).
    ApproxDistinct,
    /// The `p`-quantile of the values, `0 < p < 1` (DDSketch).
    Percentile(f64),
}

/// An event's input as the functions read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// A number (what every function but `approx_distinct` reads).
    Number(f64),
    /// The hash of a value counted by `approx_distinct`
    /// ([`crate::sketch::item_of_int`], [`crate::sketch::item_of_str`]).
    Item(u64),
}

/// Where an event sits in the log: breaks ties between equal event times.
pub type Seq = (i32, i64);

/// One event as an aggregation sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub time: i64,
    /// `(partition, offset)` of its record.
    pub seq: Seq,
    /// The input column's value (`None`: null, or no input for `count`).
    pub value: Option<Input>,
}

/// A function's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Null,
    Int(i64),
    Float(f64),
    Floats(Vec<f64>),
}

type Stamped = (i64, Seq, f64);

/// A partial aggregate of one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum State {
    Count(u64),
    Sum(ExactSum),
    Min(Option<f64>),
    Max(Option<f64>),
    /// Mean, variance and standard deviation: count, Σx and Σx² (each
    /// square added exactly, as its rounded value and rounding error).
    Moments {
        n: u64,
        sum: ExactSum,
        squares: ExactSum,
    },
    First(Option<Stamped>),
    Last(Option<Stamped>),
    /// The `k` latest, latest first.
    LastK {
        k: usize,
        latest: Vec<Stamped>,
    },
    Distinct(Box<Distinct>),
    Quantiles(Box<Quantiles>),
}

impl State {
    /// The empty state of `function`.
    pub fn new(function: Function) -> Self {
        match function {
            Function::Count => State::Count(0),
            Function::Sum => State::Sum(ExactSum::new()),
            Function::Min => State::Min(None),
            Function::Max => State::Max(None),
            Function::Mean | Function::Variance | Function::Stddev => State::Moments {
                n: 0,
                sum: ExactSum::new(),
                squares: ExactSum::new(),
            },
            Function::First => State::First(None),
            Function::Last => State::Last(None),
            Function::LastK(k) => State::LastK {
                k,
                latest: Vec::new(),
            },
            Function::ApproxDistinct => State::Distinct(Box::default()),
            Function::Percentile(_) => State::Quantiles(Box::default()),
        }
    }

    pub fn fold(&mut self, event: &Event) {
        if let State::Count(n) = self {
            *n += 1;
            return;
        }
        let x = match (event.value, &mut *self) {
            (None, _) => return,
            (Some(Input::Item(item)), State::Distinct(d)) => return d.insert(item),
            (Some(Input::Number(x)), _) => x,
            // A value of the wrong kind for the function: no input.
            (Some(Input::Item(_)), _) => return,
        };
        let stamped = (event.time, event.seq, x);
        match self {
            State::Count(_) => {}
            State::Sum(sum) => sum.add(x),
            State::Min(m) => *m = Some(m.map_or(x, |m| m.min(x))),
            State::Max(m) => *m = Some(m.map_or(x, |m| m.max(x))),
            State::Moments { n, sum, squares } => {
                *n += 1;
                sum.add(x);
                let square = x * x;
                squares.add(square);
                squares.add(x.mul_add(x, -square));
            }
            State::First(first) => keep(first, stamped, |new, old| new < old),
            State::Last(last) => keep(last, stamped, |new, old| new > old),
            State::LastK { k, latest } => insert_latest(latest, *k, stamped),
            State::Distinct(_) => {}
            State::Quantiles(q) => q.insert(x),
        }
    }

    /// Merges `other`, a state of the same function.
    pub fn merge(&mut self, other: &State) {
        match (self, other) {
            (State::Count(a), State::Count(b)) => *a += b,
            (State::Sum(a), State::Sum(b)) => a.merge(b),
            (State::Min(a), State::Min(Some(b))) => *a = Some(a.map_or(*b, |a| a.min(*b))),
            (State::Max(a), State::Max(Some(b))) => *a = Some(a.map_or(*b, |a| a.max(*b))),
            (
                State::Moments { n, sum, squares },
                State::Moments {
                    n: n2,
                    sum: sum2,
                    squares: squares2,
                },
            ) => {
                *n += n2;
                sum.merge(sum2);
                squares.merge(squares2);
            }
            (State::First(a), State::First(Some(b))) => keep(a, *b, |new, old| new < old),
            (State::Last(a), State::Last(Some(b))) => keep(a, *b, |new, old| new > old),
            (State::LastK { k, latest }, State::LastK { latest: other, .. }) => {
                for s in other {
                    insert_latest(latest, *k, *s);
                }
            }
            (State::Distinct(a), State::Distinct(b)) => a.merge(b),
            (State::Quantiles(a), State::Quantiles(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The result of `function` (this state's function, read as `function`:
    /// moments answer mean, variance or standard deviation).
    pub fn output(&self, function: Function) -> Output {
        match (self, function) {
            (State::Count(n), _) => Output::Int(*n as i64),
            (State::Sum(sum), _) => Output::Float(sum.value()),
            (State::Min(m) | State::Max(m), _) => m.map_or(Output::Null, Output::Float),
            (State::Moments { n: 0, .. }, _) => Output::Null,
            (State::Moments { n, sum, squares }, f) => Output::Float(match f {
                Function::Variance => variance(*n, sum, squares),
                Function::Stddev => variance(*n, sum, squares).sqrt(),
                _ => sum.value() / *n as f64,
            }),
            (State::First(s) | State::Last(s), _) => s.map_or(Output::Null, |s| Output::Float(s.2)),
            (State::LastK { latest, .. }, _) if latest.is_empty() => Output::Null,
            (State::LastK { latest, .. }, _) => {
                Output::Floats(latest.iter().map(|s| s.2).collect())
            }
            (State::Distinct(d), _) => Output::Int(d.estimate()),
            (State::Quantiles(q), Function::Percentile(p)) => {
                q.quantile(p).map_or(Output::Null, Output::Float)
            }
            (State::Quantiles(q), _) => q.quantile(0.5).map_or(Output::Null, Output::Float),
        }
    }
}

/// Keeps `new` in `slot` when the slot is empty or `wins(new, old)` on
/// `(time, seq)`.
/// The population variance of `n` values (`n > 0`) whose exact sum is
/// `sum` and exact sum of squares `squares`: `(n·Q − S²) / n²`, with
/// `n·Q − S²` summed exactly (every product split into its rounded value
/// and its rounding error) and rounded once. Equal values give exactly 0 —
/// never the cancellation noise of `Q/n − (S/n)²`, which the square root of
/// a standard deviation turns into ~1e-6 — and the result does not depend
/// on the order of the values.
pub fn variance(n: u64, sum: &ExactSum, squares: &ExactSum) -> f64 {
    let count = n as f64;
    let (Some(s), Some(q)) = (sum.partials(), squares.partials()) else {
        // A term was not finite: so is the result (IEEE rules).
        let mean = sum.value() / count;
        return squares.value() / count - mean * mean;
    };
    let mut d = ExactSum::new();
    let mut add_product = |a: f64, b: f64| {
        let p = a * b;
        d.add(p);
        d.add(a.mul_add(b, -p));
    };
    for &x in q {
        add_product(count, x);
    }
    for &x in s {
        for &y in s {
            add_product(-x, y);
        }
    }
    (d.value() / (count * count)).max(0.0)
}

fn keep(slot: &mut Option<Stamped>, new: Stamped, wins: impl Fn((i64, Seq), (i64, Seq)) -> bool) {
    match slot {
        Some(old) if !wins((new.0, new.1), (old.0, old.1)) => {}
        _ => *slot = Some(new),
    }
}

fn insert_latest(latest: &mut Vec<Stamped>, k: usize, new: Stamped) {
    let key = |s: &Stamped| std::cmp::Reverse((s.0, s.1));
    match latest.binary_search_by_key(&key(&new), key) {
        // The same event (a replay merged twice) is kept once.
        Ok(_) => {}
        Err(at) if at < k => {
            latest.insert(at, new);
            latest.truncate(k);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::{Grains, Tile};

    const FUNCTIONS: [Function; 12] = [
        Function::Count,
        Function::Sum,
        Function::Min,
        Function::Max,
        Function::Mean,
        Function::Variance,
        Function::Stddev,
        Function::First,
        Function::Last,
        Function::LastK(3),
        Function::ApproxDistinct,
        Function::Percentile(0.9),
    ];

    /// An event as `function` reads it: distinct counts items (here the
    /// number's integer part).
    fn as_read(function: Function, e: &Event) -> Event {
        let value = match (function, e.value) {
            (Function::ApproxDistinct, Some(Input::Number(x))) => {
                Some(Input::Item(crate::sketch::item_of_int(x as i64 / 1000)))
            }
            (_, v) => v,
        };
        Event { value, ..*e }
    }

    /// The result computed from raw events in one pass, in time order.
    fn naive(function: Function, events: &[Event]) -> Output {
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by_key(|e| (e.time, e.seq));
        let values: Vec<(i64, Seq, f64)> = sorted
            .iter()
            .filter_map(|e| match e.value {
                Some(Input::Number(v)) => Some((e.time, e.seq, v)),
                _ => None,
            })
            .collect();
        let sum = |xs: &mut dyn Iterator<Item = f64>| {
            let mut s = ExactSum::new();
            xs.for_each(|x| s.add(x));
            s
        };
        match function {
            Function::Count => Output::Int(events.len() as i64),
            // The sketches: one pass, in time order, into one sketch.
            Function::ApproxDistinct | Function::Percentile(_) => {
                let mut state = State::new(function);
                sorted
                    .iter()
                    .for_each(|e| state.fold(&as_read(function, e)));
                state.output(function)
            }
            Function::Sum => Output::Float(sum(&mut values.iter().map(|v| v.2)).value()),
            _ if values.is_empty() => Output::Null,
            Function::Min => {
                Output::Float(values.iter().map(|v| v.2).fold(f64::INFINITY, f64::min))
            }
            Function::Max => {
                Output::Float(values.iter().map(|v| v.2).fold(f64::NEG_INFINITY, f64::max))
            }
            Function::First => Output::Float(values[0].2),
            Function::Last => Output::Float(values[values.len() - 1].2),
            Function::LastK(k) => {
                Output::Floats(values.iter().rev().take(k).map(|v| v.2).collect())
            }
            Function::Mean | Function::Variance | Function::Stddev => {
                let total = sum(&mut values.iter().map(|v| v.2));
                let mut squares = ExactSum::new();
                for v in &values {
                    let sq = v.2 * v.2;
                    squares.add(sq);
                    squares.add(v.2.mul_add(v.2, -sq));
                }
                let n = values.len() as u64;
                Output::Float(match function {
                    Function::Variance => variance(n, &total, &squares),
                    Function::Stddev => variance(n, &total, &squares).sqrt(),
                    _ => total.value() / n as f64,
                })
            }
        }
    }

    /// The variance of equal values is exactly 0 (the E[x²] − E[x]²
    /// formula left ~1e-12, a standard deviation of ~1e-6), and of values
    /// far from 0 as exact as a two-pass computation.
    #[test]
    fn variance_has_no_cancellation_noise() {
        let moments = |xs: &[f64]| {
            let mut state = State::new(Function::Stddev);
            for (i, &x) in xs.iter().enumerate() {
                state.fold(&Event {
                    time: i as i64,
                    seq: (0, i as i64),
                    value: Some(Input::Number(x)),
                });
            }
            state
        };
        for x in [0.1, 12.3, 99.9, 1e9 + 0.7, -3.3e-7] {
            for n in [1, 2, 3, 7, 10, 1000] {
                let state = moments(&vec![x; n]);
                assert_eq!(
                    state.output(Function::Variance),
                    Output::Float(0.0),
                    "{x} × {n}"
                );
                assert_eq!(
                    state.output(Function::Stddev),
                    Output::Float(0.0),
                    "{x} × {n}"
                );
            }
        }
        // 1e9 + {0.1, 0.2, 0.3, 0.4}: variance 0.0125 (of the doubles
        // nearest those values, computed in two passes in exact arithmetic
        // to within 1e-12 here).
        let xs = [1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3, 1e9 + 0.4];
        let mean = xs.iter().map(|x| x - 1e9).sum::<f64>() / 4.0;
        let two_pass = xs.iter().map(|x| (x - 1e9 - mean).powi(2)).sum::<f64>() / 4.0;
        let Output::Float(got) = moments(&xs).output(Function::Variance) else {
            panic!("a variance");
        };
        assert!((got - two_pass).abs() <= 1e-12, "{got} vs {two_pass}");
    }

    #[test]
    fn empty_windows_and_nulls() {
        for f in FUNCTIONS {
            let want = match f {
                Function::Count | Function::ApproxDistinct => Output::Int(0),
                Function::Sum => Output::Float(0.0),
                _ => Output::Null,
            };
            assert_eq!(State::new(f).output(f), want, "{f:?}");
        }
        let mut count = State::new(Function::Count);
        let mut sum = State::new(Function::Sum);
        let null = Event {
            time: 1,
            seq: (0, 0),
            value: None,
        };
        count.fold(&null);
        sum.fold(&null);
        assert_eq!(count.output(Function::Count), Output::Int(1));
        assert_eq!(sum.output(Function::Sum), Output::Float(0.0));
    }

    #[test]
    fn moments() {
        let mut s = State::new(Function::Mean);
        for (i, x) in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].iter().enumerate() {
            s.fold(&Event {
                time: i as i64,
                seq: (0, i as i64),
                value: Some(Input::Number(*x)),
            });
        }
        assert_eq!(s.output(Function::Mean), Output::Float(5.0));
        assert_eq!(s.output(Function::Variance), Output::Float(4.0));
        assert_eq!(s.output(Function::Stddev), Output::Float(2.0));
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        proptest::collection::vec(
            (
                0i64..2_000,
                0i32..3,
                proptest::option::weighted(0.9, -1e6f64..1e6),
            ),
            0..120,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (time, partition, value))| Event {
                    // Duplicate times are common at this range.
                    time: time / 7 * 7,
                    seq: (partition, i as i64),
                    value: value.map(Input::Number),
                })
                .collect()
        })
    }

    proptest! {
        /// Events folded into tiles in arrival order (late ones included),
        /// the window read from the fewest tiles, equals one pass over the
        /// window's raw events — bit for bit, for every function (the
        /// sketches: the same sketch as one pass over the window's events).
        #[test]
        fn windows_from_tiles_equal_the_raw_events(
            events in events(),
            at in 0i64..2_200,
            fines in 1i64..60,
        ) {
            let grains = Grains::new(vec![10, 50, 200]).unwrap();
            let window = fines * 10;
            let (start, end) = grains.span(at, window).unwrap();
            let inside: Vec<Event> = events
                .iter()
                .filter(|e| e.time >= start && e.time < end)
                .copied()
                .collect();
            for f in FUNCTIONS {
                let mut tiles: BTreeMap<Tile, State> = BTreeMap::new();
                for e in &events {
                    for tile in grains.tiles_of(e.time) {
                        tiles
                            .entry(tile)
                            .or_insert_with(|| State::new(f))
                            .fold(&as_read(f, e));
                    }
                }
                let mut read = State::new(f);
                for tile in grains.window(at, window).unwrap() {
                    if let Some(s) = tiles.get(&tile) {
                        read.merge(s);
                    }
                }
                let got = read.output(f);
                let want = naive(f, &inside);
                match (&got, &want) {
                    (Output::Float(a), Output::Float(b)) => {
                        prop_assert_eq!(a.to_bits(), b.to_bits(), "{:?}: {} vs {}", f, a, b)
                    }
                    _ => prop_assert_eq!(&got, &want, "{:?}", f),
                }
            }
        }
    }
}
