//! Time tiles at nested grains, and the tiles that cover a window.
//!
//! Times are µs since the epoch. A tile of grain `g` starts at a multiple
//! of `g` and holds the events with `start <= time < start + g`. Grains are
//! nested (each a multiple of the one before, e.g. 5 min, 1 h, 1 d): an
//! event is folded into one tile per grain, so any run of tiles can be read
//! at the coarsest grain that fits it.
//!
//! **The window rule** (the one place it is defined): a window of length
//! `W` (a multiple of the finest grain `f`) read at time `T` covers the
//! fine tile holding `T` and the `W / f − 1` fine tiles before it, i.e. the
//! events with time in `[E − W, E)` where `E` is the end of the fine tile
//! holding `T`. Both edges are exact to the finest grain, whatever the
//! window (a 90-day window starts within one fine tile of `T − W`). Events
//! after `T` inside its own fine tile are included by a tile read; the
//! offline computation, which sees raw events, clips at `T` instead — the
//! two agree whenever no event is dated after the time it is read at.
//!
//! [`Grains::window`] returns the fewest tiles covering `[E − W, E)`: fine
//! tiles up to the first boundary of the next grain, coarser ones in the
//! middle, finer ones again at the end — at most `2 (r − 1)` tiles per
//! grain step of ratio `r` plus `W / coarsest` (5 min / 1 h / 1 d: at most
//! 66 + 90 = 156 tiles for 90 days).

use serde::{Deserialize, Serialize};

/// A tile: its grain and start, both in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tile {
    pub grain: i64,
    pub start: i64,
}

impl Tile {
    pub fn end(&self) -> i64 {
        self.start + self.grain
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilesError {
    #[error("grains: {0}")]
    Grains(String),
    #[error("window of {window} µs: not a positive multiple of the finest grain ({fine} µs)")]
    Window { window: i64, fine: i64 },
}

/// Nested grains, finest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grains(Vec<i64>);

impl Grains {
    /// At least one grain, each positive and a multiple (> 1×) of the one
    /// before.
    pub fn new(grains: Vec<i64>) -> Result<Self, TilesError> {
        let Some(first) = grains.first() else {
            return Err(TilesError::Grains("at least one is needed".into()));
        };
        if *first <= 0 {
            return Err(TilesError::Grains(format!("{first} µs is not positive")));
        }
        for pair in grains.windows(2) {
            if pair[1] <= pair[0] || pair[1] % pair[0] != 0 {
                return Err(TilesError::Grains(format!(
                    "{} µs is not a multiple of the grain before it ({} µs)",
                    pair[1], pair[0]
                )));
            }
        }
        Ok(Self(grains))
    }

    pub fn finest(&self) -> i64 {
        self.0[0]
    }

    pub fn all(&self) -> &[i64] {
        &self.0
    }

    /// The tiles an event at `time` is folded into, finest first.
    pub fn tiles_of(&self, time: i64) -> impl Iterator<Item = Tile> + '_ {
        self.0.iter().map(move |&grain| Tile {
            grain,
            start: time.div_euclid(grain) * grain,
        })
    }

    /// `[start, end)`: the span a window of `window` µs read at `at` covers
    /// (the window rule above).
    pub fn span(&self, at: i64, window: i64) -> Result<(i64, i64), TilesError> {
        let fine = self.finest();
        if window <= 0 || window % fine != 0 {
            return Err(TilesError::Window { window, fine });
        }
        let end = at.div_euclid(fine) * fine + fine;
        Ok((end - window, end))
    }

    /// The fewest tiles covering the window's span, in time order.
    pub fn window(&self, at: i64, window: i64) -> Result<Vec<Tile>, TilesError> {
        let (start, end) = self.span(at, window)?;
        let mut tiles = Vec::new();
        let mut at = start;
        while at < end {
            let grain = self
                .0
                .iter()
                .rev()
                .copied()
                .find(|g| at.rem_euclid(*g) == 0 && at + g <= end)
                .unwrap_or(self.finest());
            tiles.push(Tile { grain, start: at });
            at += grain;
        }
        Ok(tiles)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIN: i64 = 60_000_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn grains_must_nest() {
        assert!(Grains::new(vec![5 * MIN, HOUR, DAY]).is_ok());
        assert!(Grains::new(vec![]).is_err());
        assert!(Grains::new(vec![0]).is_err());
        let err = Grains::new(vec![7 * MIN, HOUR]).unwrap_err();
        assert!(err.to_string().contains("not a multiple"), "{err}");
        assert!(Grains::new(vec![HOUR, HOUR]).is_err());
    }

    #[test]
    fn a_90_day_window_reads_few_tiles_and_ends_in_the_current_fine_tile() {
        let grains = Grains::new(vec![5 * MIN, HOUR, DAY]).unwrap();
        let at = 1_790_000_123_456_789;
        let tiles = grains.window(at, 90 * DAY).unwrap();
        assert!(tiles.len() <= 156, "{} tiles", tiles.len());
        let (start, end) = grains.span(at, 90 * DAY).unwrap();
        assert_eq!(tiles.first().unwrap().start, start);
        assert_eq!(tiles.last().unwrap().end(), end);
        assert!(end - 5 * MIN <= at && at < end);
        let err = grains.window(at, 7 * MIN).unwrap_err();
        assert!(err.to_string().contains("multiple of the finest grain"));
    }

    proptest! {
        #[test]
        fn window_tiles_cover_the_span_exactly_once_within_the_bound(
            fine in 1i64..100,
            ratios in proptest::collection::vec(2i64..30, 0..3),
            fines in 1i64..5_000,
            at in -1_000_000i64..1_000_000,
        ) {
            let mut grains = vec![fine];
            for r in &ratios {
                grains.push(grains.last().unwrap() * r);
            }
            let grains = Grains::new(grains).unwrap();
            let window = fines * fine;
            let (start, end) = grains.span(at, window).unwrap();
            let tiles = grains.window(at, window).unwrap();
            let mut next = start;
            for t in &tiles {
                prop_assert_eq!(t.start, next, "contiguous");
                prop_assert_eq!(t.start.rem_euclid(t.grain), 0, "aligned");
                next = t.end();
            }
            prop_assert_eq!(next, end);
            let coarsest = *grains.all().last().unwrap();
            let bound: i64 = ratios.iter().map(|r| 2 * (r - 1)).sum::<i64>()
                + window / coarsest;
            prop_assert!(tiles.len() as i64 <= bound.max(1), "{} > {}", tiles.len(), bound);
        }
    }
}
